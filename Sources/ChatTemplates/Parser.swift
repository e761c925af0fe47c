// Builds the syntax tree from tokens, following Jinja's grammar and precedence:
// conditional < or < and < not < comparisons / in < + - < ~ < * / // % < ** < unary minus <
// filters, tests and postfix (attribute, subscript, call). Unknown filters and tests are syntax
// errors at parse time, as they are when Jinja compiles a template.

struct Parser {
    private let tokens: [Token]
    private let locator: SourceLocator
    private var i = 0
    /// Tags whose end is still expected (Jinja's `_tag_stack`), for error messages.
    private var tagStack: [String] = []
    /// End tags each open `subparse` stops at (Jinja's `_end_token_stack`).
    private var endTagStack: [[String]] = []
    private var loopDepth = 0
    /// Current nesting of expressions and blocks; bounded so deep nesting is an error, not a
    /// stack overflow. Real templates nest a dozen levels; 256 parse and render within 400 KiB of
    /// stack (a secondary thread may have only 512 KiB).
    private var nesting = 0
    static let maximumNesting = 256

    init(tokens: [Token], locator: SourceLocator) {
        self.tokens = tokens
        self.locator = locator
    }

    /// The template's top-level frame, with Jinja's name-resolution annotations.
    mutating func parseTemplate() throws -> FrameBody {
        let root = FrameBody(try subparse(endTags: nil))
        SymbolAnalysis.annotate(root)
        return root
    }

    /// Counts one more level of the tree being built (each operator of a left-associative chain
    /// nests the tree one level deeper); the caller undoes its levels with `nesting -= levels`.
    private mutating func deepen(_ levels: inout Int) throws {
        try enterNested()
        levels += 1
    }

    private mutating func enterNested() throws {
        nesting += 1
        if nesting > Self.maximumNesting {
            throw fail("template nested deeper than \(Self.maximumNesting) levels")
        }
    }

    // MARK: token stream

    private var current: Token { tokens[i] }
    private var next: Token { tokens[min(i + 1, tokens.count - 1)] }

    private mutating func advance() -> Token {
        let token = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return token
    }

    private func isName(_ token: Token, _ name: String) -> Bool {
        if case .name(let n) = token.kind { return n == name }
        return false
    }

    private func isOp(_ token: Token, _ op: Operator) -> Bool { token.kind == .op(op) }

    private mutating func skipIfName(_ name: String) -> Bool {
        if isName(current, name) { _ = advance(); return true }
        return false
    }

    private mutating func skipIfOp(_ op: Operator) -> Bool {
        if isOp(current, op) { _ = advance(); return true }
        return false
    }

    private func fail(_ message: String, at token: Token? = nil) -> TemplateError {
        locator.error(.syntax, message, at: (token ?? current).offset)
    }

    /// Jinja's `TokenStream.expect` failure messages.
    private func expectationFailure(_ expected: String) -> TemplateError {
        if current.kind == .end { return fail("unexpected end of template, expected \(pythonRepr(expected)).") }
        return fail("expected token \(pythonRepr(expected)), got \(pythonRepr(current.kind.description))")
    }

    @discardableResult
    private mutating func expectOp(_ op: Operator) throws -> Token {
        guard isOp(current, op) else { throw expectationFailure(op.rawValue) }
        return advance()
    }

    @discardableResult
    private mutating func expectName(_ name: String) throws -> Token {
        guard isName(current, name) else { throw expectationFailure(name) }
        return advance()
    }

    private mutating func expectAnyName() throws -> (String, Token) {
        guard case .name(let n) = current.kind else { throw expectationFailure("name") }
        return (n, advance())
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw expectationFailure("end of statement block") }
        _ = advance()
    }

    // MARK: statements

    /// Parses until a block whose tag name is in `endTags` (the block's `{%` consumed, its name
    /// not), or to the end of the template.
    private mutating func subparse(endTags: [String]?) throws -> [Node] {
        try enterNested()
        defer { nesting -= 1 }
        var body: [Node] = []
        if let endTags { endTagStack.append(endTags) }
        defer { if endTags != nil { endTagStack.removeLast() } }
        func appendText(_ text: String) {
            if case .text(let previous)? = body.last {
                body[body.count - 1] = .text(previous + text)
            } else {
                body.append(.text(text))
            }
        }
        while true {
            let token = current
            switch token.kind {
            case .data(let text):
                _ = advance()
                appendText(text)
            case .variableBegin:
                _ = advance()
                let expression = try parseTuple()
                guard current.kind == .variableEnd else { throw expectationFailure("end of print statement") }
                _ = advance()
                if case .literal(.string(let constant)) = expression.kind {
                    appendText(constant)
                } else {
                    body.append(.output(expression))
                }
            case .blockBegin:
                _ = advance()
                if let endTags, case .name(let name) = current.kind, endTags.contains(name) { return body }
                body.append(contentsOf: try parseStatement())
                try expectBlockEnd()
            case .end:
                return body
            default:
                throw fail("internal parsing error at \(token.kind.description)")
            }
        }
    }

    /// `{% … %}` body up to `end`: checks the block end, parses to one of `endTags`, fails at EOF.
    private mutating func parseStatements(until endTags: [String], dropNeedle: Bool) throws -> [Node] {
        _ = skipIfOp(.colon)
        try expectBlockEnd()
        let body = try subparse(endTags: endTags)
        if current.kind == .end { throw unknownTagFailure(name: nil, at: current, lookingFor: endTagStack + [endTags]) }
        if dropNeedle { _ = advance() }
        return body
    }

    /// Jinja's `_fail_ut_eof` messages for unknown tags and a premature end of template.
    private func unknownTagFailure(name: String?, at token: Token, lookingFor stack: [[String]]? = nil) -> TemplateError {
        let stack = stack ?? endTagStack
        var message = name.map { "Encountered unknown tag \(pythonRepr($0))." } ?? "Unexpected end of template."
        if let looking = stack.last {
            let expected = Set(stack.flatMap { $0 })
            let list = looking.map { pythonRepr($0) }.joined(separator: " or ")
            if let name, expected.contains(name) {
                message += " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for \(list)."
            } else {
                message += " Jinja was looking for the following tags: \(list)."
            }
        }
        if let innermost = tagStack.last {
            message += " The innermost block that needs to be closed is \(pythonRepr(innermost))."
        }
        return locator.error(.syntax, message, at: token.offset)
    }

    private mutating func parseStatement() throws -> [Node] {
        let token = current
        guard case .name(let tag) = token.kind else { throw fail("tag name expected") }
        tagStack.append(tag)
        defer { tagStack.removeLast() }
        switch tag {
        case "if": return [try parseIf()]
        case "for": return [try parseFor()]
        case "set": return [try parseSet()]
        case "macro": return [try parseMacro()]
        case "filter": return [try parseFilterBlock()]
        case "with": return [try parseWith()]
        case "print":
            _ = advance()
            return [.output(try parseTuple())]
        case "generation":
            _ = advance()
            return [.scope(FrameBody(try parseStatements(until: ["endgeneration"], dropNeedle: true)))]
        case "break", "continue":
            _ = advance()
            guard loopDepth > 0 else { throw locator.error(.syntax, "'\(tag)' outside loop", at: token.offset) }
            return [tag == "break" ? .breakLoop : .continueLoop]
        case "block", "extends", "include", "import", "from", "autoescape", "call":
            throw locator.error(.unsupported, "the '\(tag)' tag is not supported in chat templates", at: token.offset)
        default:
            tagStack.removeLast()
            defer { tagStack.append(tag) }
            throw unknownTagFailure(name: tag, at: token)
        }
    }

    private mutating func parseIf() throws -> Node {
        try expectName("if")
        var branches: [(condition: Expression, body: [Node])] = []
        var otherwise: [Node] = []
        while true {
            let condition = try parseTuple(withConditional: false)
            let body = try parseStatements(until: ["elif", "else", "endif"], dropNeedle: false)
            branches.append((condition, body))
            let token = advance()
            if isName(token, "elif") { continue }
            if isName(token, "else") { otherwise = try parseStatements(until: ["endif"], dropNeedle: true) }
            break
        }
        return .conditional(branches: branches, otherwise: otherwise)
    }

    private mutating func parseFor() throws -> Node {
        let start = try expectName("for")
        let target = try parseAssignTarget(extraEndNames: ["in"])
        try expectName("in")
        let iterable = try parseTuple(withConditional: false, extraEndNames: ["recursive"])
        var condition: Expression? = nil
        if skipIfName("if") { condition = try parseExpression() }
        if isName(current, "recursive") {
            throw locator.error(.unsupported, "recursive loops are not supported", at: current.offset)
        }
        loopDepth += 1
        let body = try parseStatements(until: ["endfor", "else"], dropNeedle: false)
        loopDepth -= 1
        var elseBody: [Node] = []
        if isName(advance(), "else") { elseBody = try parseStatements(until: ["endfor"], dropNeedle: true) }
        return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: FrameBody(body),
                                elseBody: FrameBody(elseBody)),
                        offset: start.offset)
    }

    private mutating func parseSet() throws -> Node {
        let start = try expectName("set")
        let target = try parseAssignTarget(withNamespace: true)
        if skipIfOp(.assign) {
            return .assign(target, try parseTuple(), offset: start.offset)
        }
        let filters = try parseFilterChain(startInline: false)
        let body = try parseStatements(until: ["endset"], dropNeedle: true)
        return .assignBlock(target, filters, FrameBody(body), offset: start.offset)
    }

    private mutating func parseMacro() throws -> Node {
        try expectName("macro")
        let (name, _) = try expectAnyName()
        try expectOp(.lparen)
        var parameters: [(name: String, defaultValue: Expression?)] = []
        while !isOp(current, .rparen) {
            if !parameters.isEmpty { try expectOp(.comma) }
            let (parameter, token) = try expectAnyName()
            guard assignableName(parameter) else { throw fail("can't assign to 'name'", at: token) }
            if skipIfOp(.assign) {
                parameters.append((parameter, try parseExpression()))
            } else {
                if parameters.contains(where: { $0.defaultValue != nil }) {
                    throw fail("non-default argument follows default argument", at: token)
                }
                parameters.append((parameter, nil))
            }
        }
        try expectOp(.rparen)
        let savedLoopDepth = loopDepth
        loopDepth = 0
        defer { loopDepth = savedLoopDepth }
        let body = try parseStatements(until: ["endmacro"], dropNeedle: true)
        return .macro(MacroDefinition(name: name, parameters: parameters, body: FrameBody(body)))
    }

    private mutating func parseFilterBlock() throws -> Node {
        try expectName("filter")
        let filters = try parseFilterChain(startInline: true)
        return .filterBlock(filters, FrameBody(try parseStatements(until: ["endfilter"], dropNeedle: true)))
    }

    private mutating func parseWith() throws -> Node {
        let start = try expectName("with")
        var assignments: [(AssignTarget, Expression)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expectOp(.comma) }
            let target = try parseAssignTarget()
            try expectOp(.assign)
            assignments.append((target, try parseExpression()))
        }
        return .with(assignments, FrameBody(try parseStatements(until: ["endwith"], dropNeedle: true)), offset: start.offset)
    }

    private func assignableName(_ name: String) -> Bool {
        !["true", "false", "none", "True", "False", "None"].contains(name)
    }

    private mutating func parseAssignTarget(extraEndNames: [String] = [], withNamespace: Bool = false) throws -> AssignTarget {
        if withNamespace, case .name(let owner) = current.kind, isOp(next, .dot) {
            let token = advance()
            _ = advance()
            let (attribute, _) = try expectAnyName()
            return .namespaceAttribute(owner, attribute, offset: token.offset)
        }
        let expression = try parseTuple(simplified: true, extraEndNames: extraEndNames)
        return try assignTarget(from: expression)
    }

    private func assignTarget(from expression: Expression) throws -> AssignTarget {
        switch expression.kind {
        case .name(let name):
            guard assignableName(name) else { throw locator.error(.syntax, "can't assign to 'name'", at: expression.offset) }
            return .name(name)
        case .tuple(let items):
            return .tuple(try items.map(assignTarget(from:)))
        case .literal:
            throw locator.error(.syntax, "can't assign to 'const'", at: expression.offset)
        default:
            throw locator.error(.syntax, "can't assign to this expression", at: expression.offset)
        }
    }

    // MARK: expressions

    private func isTupleEnd(_ extraEndNames: [String]) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .op(.rparen): return true
        case .name(let n): return extraEndNames.contains(n)
        default: return false
        }
    }

    /// Comma-separated expressions: one expression, or a tuple when a comma appears.
    private mutating func parseTuple(simplified: Bool = false, withConditional: Bool = true,
                                     extraEndNames: [String] = [], explicitParentheses: Bool = false) throws -> Expression {
        let start = current.offset
        var items: [Expression] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(.comma) }
            if isTupleEnd(extraEndNames) { break }
            if simplified {
                items.append(try parsePrimary())
            } else {
                items.append(try parseExpression(withConditional: withConditional))
            }
            if isOp(current, .comma) { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("Expected an expression, got \(pythonRepr(current.kind.description))") }
        }
        return Expression(.tuple(items), at: start)
    }

    private mutating func parseExpression(withConditional: Bool = true) throws -> Expression {
        try enterNested()
        defer { nesting -= 1 }
        return withConditional ? try parseConditional() : try parseOr()
    }

    private mutating func parseConditional() throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var start = current.offset
        var expression = try parseOr()
        while skipIfName("if") {
            try deepen(&levels)
            let condition = try parseOr()
            let otherwise = skipIfName("else") ? try parseConditional() : nil
            expression = Expression(.conditional(condition: condition, then: expression, otherwise: otherwise), at: start)
            start = current.offset
        }
        return expression
    }

    private mutating func parseOr() throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var left = try parseAnd()
        while isName(current, "or") {
            try deepen(&levels)
            let token = advance()
            left = Expression(.or(left, try parseAnd()), at: token.offset)
        }
        return left
    }

    private mutating func parseAnd() throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var left = try parseNot()
        while isName(current, "and") {
            try deepen(&levels)
            let token = advance()
            left = Expression(.and(left, try parseNot()), at: token.offset)
        }
        return left
    }

    private mutating func parseNot() throws -> Expression {
        try enterNested()
        defer { nesting -= 1 }
        if isName(current, "not") {
            let token = advance()
            return Expression(.not(try parseNot()), at: token.offset)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expression {
        let start = current.offset
        let left = try parseMath1()
        var operations: [(ComparisonOperator, Expression)] = []
        while true {
            let op: ComparisonOperator
            switch current.kind {
            case .op(.eq): op = .equal
            case .op(.ne): op = .notEqual
            case .op(.lt): op = .less
            case .op(.lteq): op = .lessOrEqual
            case .op(.gt): op = .greater
            case .op(.gteq): op = .greaterOrEqual
            case .name("in"): op = .contains
            case .name("not") where isName(next, "in"):
                _ = advance()
                op = .notContains
            default:
                return operations.isEmpty ? left : Expression(.compare(left, operations), at: start)
            }
            _ = advance()
            operations.append((op, try parseMath1()))
        }
    }

    private mutating func parseMath1() throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var left = try parseConcat()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .op(.add): op = .add
            case .op(.sub): op = .subtract
            default: return left
            }
            try deepen(&levels)
            let token = advance()
            left = Expression(.binary(op, left, try parseConcat()), at: token.offset)
        }
    }

    private mutating func parseConcat() throws -> Expression {
        let first = try parseMath2()
        guard isOp(current, .tilde) else { return first }
        var parts = [first]
        let start = current.offset
        while skipIfOp(.tilde) { parts.append(try parseMath2()) }
        return Expression(.concat(parts), at: start)
    }

    private mutating func parseMath2() throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var left = try parsePower()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .op(.mul): op = .multiply
            case .op(.div): op = .divide
            case .op(.floorDiv): op = .floorDivide
            case .op(.mod): op = .modulo
            default: return left
            }
            try deepen(&levels)
            let token = advance()
            left = Expression(.binary(op, left, try parsePower()), at: token.offset)
        }
    }

    private mutating func parsePower() throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var left = try parseUnary()
        while isOp(current, .pow) {
            try deepen(&levels)
            let token = advance()
            left = Expression(.binary(.power, left, try parseUnary()), at: token.offset)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expression {
        try enterNested()
        defer { nesting -= 1 }
        var expression: Expression
        if isOp(current, .sub) {
            let token = advance()
            expression = Expression(.negate(try parseUnary(withFilter: false)), at: token.offset)
        } else if isOp(current, .add) {
            let token = advance()
            expression = Expression(.plus(try parseUnary(withFilter: false)), at: token.offset)
        } else {
            expression = try parsePrimary()
        }
        expression = try parsePostfix(expression)
        if withFilter { expression = try parseFilterExpression(expression) }
        return expression
    }

    private mutating func parsePrimary() throws -> Expression {
        let token = current
        switch token.kind {
        case .name(let name):
            _ = advance()
            switch name {
            case "true", "True": return Expression(.literal(.bool(true)), at: token.offset)
            case "false", "False": return Expression(.literal(.bool(false)), at: token.offset)
            case "none", "None": return Expression(.literal(.none), at: token.offset)
            default: return Expression(.name(name), at: token.offset)
            }
        case .string(var text):
            _ = advance()
            while case .string(let more) = current.kind {
                text += more
                _ = advance()
            }
            return Expression(.literal(.string(text)), at: token.offset)
        case .integer(let value):
            _ = advance()
            return Expression(.literal(.int(value)), at: token.offset)
        case .float(let value):
            _ = advance()
            return Expression(.literal(.double(value)), at: token.offset)
        case .op(.lparen):
            _ = advance()
            let inner = try parseTuple(explicitParentheses: true)
            try expectOp(.rparen)
            return inner
        case .op(.lbracket):
            _ = advance()
            var items: [Expression] = []
            while !isOp(current, .rbracket) {
                if !items.isEmpty { try expectOp(.comma) }
                if isOp(current, .rbracket) { break }
                items.append(try parseExpression())
            }
            try expectOp(.rbracket)
            return Expression(.list(items), at: token.offset)
        case .op(.lbrace):
            _ = advance()
            var entries: [(key: Expression, value: Expression)] = []
            while !isOp(current, .rbrace) {
                if !entries.isEmpty { try expectOp(.comma) }
                if isOp(current, .rbrace) { break }
                let key = try parseExpression()
                try expectOp(.colon)
                entries.append((key, try parseExpression()))
            }
            try expectOp(.rbrace)
            return Expression(.dictionary(entries), at: token.offset)
        default:
            throw fail("unexpected \(pythonRepr(token.kind.description))")
        }
    }

    private mutating func parsePostfix(_ base: Expression) throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var expression = base
        while true {
            if isOp(current, .dot) || isOp(current, .lbracket) {
                try deepen(&levels)
                expression = try parseSubscript(expression)
            } else if isOp(current, .lparen) {
                try deepen(&levels)
                expression = Expression(.call(expression, try parseCallArguments()), at: expression.offset)
            } else {
                return expression
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression) throws -> Expression {
        let token = advance()
        if isOp(token, .dot) {
            let attribute = advance()
            switch attribute.kind {
            case .name(let name): return Expression(.attribute(base, name), at: attribute.offset)
            case .integer(let index): return Expression(.item(base, Expression(.literal(.int(index)), at: attribute.offset)), at: attribute.offset)
            default: throw fail("expected name or number", at: attribute)
            }
        }
        var arguments: [Expression] = []
        while !isOp(current, .rbracket) {
            if !arguments.isEmpty { try expectOp(.comma) }
            arguments.append(try parseSubscribed(base))
        }
        try expectOp(.rbracket)
        if arguments.count == 1 {
            if case .slice = arguments[0].kind { return arguments[0] }
            return Expression(.item(base, arguments[0]), at: token.offset)
        }
        return Expression(.item(base, Expression(.tuple(arguments), at: token.offset)), at: token.offset)
    }

    /// One subscript argument: an expression or a `start:stop:step` slice of `base`.
    private mutating func parseSubscribed(_ base: Expression) throws -> Expression {
        let start = current.offset
        var lower: Expression? = nil
        if isOp(current, .colon) {
            _ = advance()
        } else {
            let expression = try parseExpression()
            guard isOp(current, .colon) else { return expression }
            _ = advance()
            lower = expression
        }
        var upper: Expression? = nil
        var step: Expression? = nil
        if !isOp(current, .colon) && !isOp(current, .rbracket) && !isOp(current, .comma) {
            upper = try parseExpression()
        }
        if skipIfOp(.colon) {
            if !isOp(current, .rbracket) && !isOp(current, .comma) { step = try parseExpression() }
        }
        return Expression(.slice(base, start: lower, stop: upper, step: step), at: start)
    }

    private mutating func parseCallArguments() throws -> CallArguments {
        try expectOp(.lparen)
        var arguments = CallArguments()
        var requireComma = false
        while !isOp(current, .rparen) {
            if requireComma {
                try expectOp(.comma)
                if isOp(current, .rparen) { break }
            }
            if isOp(current, .mul) {
                _ = advance()
                guard arguments.starArguments == nil, arguments.starKeywords == nil else { throw fail("invalid syntax for function call expression") }
                arguments.starArguments = try parseExpression()
            } else if isOp(current, .pow) {
                _ = advance()
                guard arguments.starKeywords == nil else { throw fail("invalid syntax for function call expression") }
                arguments.starKeywords = try parseExpression()
            } else if case .name(let key) = current.kind, isOp(next, .assign) {
                guard arguments.starKeywords == nil else { throw fail("invalid syntax for function call expression") }
                _ = advance()
                _ = advance()
                arguments.keywords.append((key, try parseExpression()))
            } else {
                guard arguments.starArguments == nil, arguments.starKeywords == nil, arguments.keywords.isEmpty else {
                    throw fail("invalid syntax for function call expression")
                }
                arguments.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOp(.rparen)
        return arguments
    }

    private mutating func parseFilterExpression(_ base: Expression) throws -> Expression {
        var levels = 0
        defer { nesting -= levels }
        var expression = base
        while true {
            if isOp(current, .pipe) {
                for application in try parseFilterChain(startInline: false) {
                    try deepen(&levels)
                    expression = Expression(.filter(expression, application.filter, application.arguments), at: application.offset)
                }
            } else if isName(current, "is") {
                try deepen(&levels)
                expression = try parseTest(expression)
            } else if isOp(current, .lparen) {
                try deepen(&levels)
                expression = Expression(.call(expression, try parseCallArguments()), at: expression.offset)
            } else {
                return expression
            }
        }
    }

    /// `| name(args) | name …` (or, with `startInline`, the first filter without its `|`).
    private mutating func parseFilterChain(startInline: Bool) throws -> [FilterApplication] {
        var applications: [FilterApplication] = []
        var inline = startInline
        while isOp(current, .pipe) || inline {
            if !inline { _ = advance() }
            inline = false
            var (name, token) = try expectAnyName()
            while skipIfOp(.dot) { name += "." + (try expectAnyName()).0 }
            guard let filter = Filter(name: name) else {
                if Filter.jinjaOnlyNames.contains(name) {
                    throw locator.error(.unsupported, "the '\(name)' filter is not supported", at: token.offset)
                }
                throw locator.error(.syntax, "No filter named \(pythonRepr(name)).", at: token.offset)
            }
            let arguments = isOp(current, .lparen) ? try parseCallArguments() : CallArguments()
            applications.append(FilterApplication(filter: filter, arguments: arguments, offset: token.offset))
        }
        return applications
    }

    private mutating func parseTest(_ base: Expression) throws -> Expression {
        let isToken = advance()
        let negated = skipIfName("not")
        var (name, nameToken) = try expectAnyName()
        while skipIfOp(.dot) { name += "." + (try expectAnyName()).0 }
        var arguments = CallArguments()
        switch current.kind {
        case .op(.lparen):
            arguments = try parseCallArguments()
        case .name("else"), .name("or"), .name("and"):
            break
        case .name("is"):
            throw fail("You cannot chain multiple tests with is")
        case .name, .string, .integer, .float, .op(.lbracket), .op(.lbrace):
            arguments.positional = [try parsePostfix(try parsePrimary())]
        default:
            break
        }
        guard let test = Test(name: name) else {
            throw locator.error(.syntax, "No test named \(pythonRepr(name)).", at: nameToken.offset)
        }
        return Expression(.test(base, test, arguments, negated: negated), at: isToken.offset)
    }
}
