// Executes a parsed template: Jinja scoping (a fresh scope per loop iteration, macro and with
// blocks; `if` shares its scope), loops with `loop.*`, break/continue, macros, set/filter blocks,
// the globals transformers provides, and the runaway guards: loop iterations, macro recursion,
// output size (counting the output that macro calls and captured blocks hold back), and the work
// done on strings and lists (see `RenderMeter`).

/// Guards against runaway templates; exceeding one fails the render with a `.limit` error.
public struct TemplateLimits: Sendable {
    /// Loop iterations in one render, all loops together.
    public var maxLoopIterations: Int
    /// Nesting of macro calls (recursion depth).
    public var maxCallDepth: Int
    /// Size of the rendered text, in UTF-8 bytes, and of any one string (or list, at 8 bytes an
    /// item) the template builds. Output that macro calls and `set`/`filter` blocks are still
    /// building counts toward the rendered text.
    public var maxOutputBytes: Int
    /// Work in one render: the bytes of the strings and lists that operations take and make (32
    /// bytes per list item), and of the items that comparisons walk. Bounds the time and memory of
    /// templates that build or scan large values over and over (a few seconds at most); real chat
    /// templates use a few times their output.
    public var maxWorkBytes: Int

    public init(maxLoopIterations: Int = 1_000_000, maxCallDepth: Int = 100, maxOutputBytes: Int = 64 << 20,
                maxWorkBytes: Int = 1 << 30) {
        self.maxLoopIterations = maxLoopIterations
        self.maxCallDepth = maxCallDepth
        self.maxOutputBytes = maxOutputBytes
        self.maxWorkBytes = maxWorkBytes
    }
}

/// Jinja's sandbox refuses `range()` over more items than this.
let sandboxMaxRange = 100_000

/// The widest padding or indentation a filter or method may produce in one step (`center`,
/// `zfill`, `indent`, `tojson(indent=…)`), so a huge width fails instead of exhausting memory.
let maximumPaddingWidth = 1 << 20

func checkPaddingWidth(_ width: Int) throws {
    if width > maximumPaddingWidth {
        throw RuntimeFailure(.limit, "width \(width) is larger than \(maximumPaddingWidth)")
    }
}

/// Variables visible at one level; small, so searched linearly.
final class Scope {
    private var names: [String] = []
    private var values: [TemplateValue] = []
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> TemplateValue? {
        var scope: Scope? = self
        while let s = scope {
            if let i = s.names.firstIndex(of: name) { return s.values[i] }
            scope = s.parent
        }
        return nil
    }

    func contains(_ name: String) -> Bool { names.contains(name) }

    func assign(_ name: String, _ value: TemplateValue) {
        if let i = names.firstIndex(of: name) {
            values[i] = value
        } else {
            names.append(name)
            values.append(value)
        }
    }
}

/// The `loop` variable of a for loop.
final class LoopContext: TemplateObject {
    let items: [TemplateValue]
    var index0 = 0

    init(items: [TemplateValue]) { self.items = items }

    var typeName: String { "LoopContext" }

    func attribute(_ name: String) -> TemplateValue? {
        let count = items.count
        switch name {
        case "index0": return .int(index0)
        case "index": return .int(index0 + 1)
        case "revindex": return .int(count - index0)
        case "revindex0": return .int(count - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == count - 1)
        case "length": return .int(count)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem":
            return index0 > 0 ? items[index0 - 1] : .undefined(TemplateUndefined(.message("there is no previous item")))
        case "nextitem":
            return index0 + 1 < count ? items[index0 + 1] : .undefined(TemplateUndefined(.message("there is no next item")))
        case "cycle":
            let position = index0
            return .callable(TemplateCallable(name: "cycle") { arguments in
                guard !arguments.positional.isEmpty else { throw RuntimeFailure(.type, "no items for cycling given") }
                return arguments.positional[position % arguments.positional.count]
            })
        default: return nil
        }
    }
}

/// The globals Jinja and transformers provide (besides `strftime_now`, which needs the clock).
enum Builtins {
    static let range = TemplateCallable(name: "range") { arguments in
        let args = MethodArguments("range", arguments)
        try args.expect(1...3)
        var bounds: [Int] = []
        for value in arguments.positional {
            try requireDefined(value)
            guard let i = value.integerIndex else {
                throw RuntimeFailure(.type, "'\(value.pythonTypeName)' object cannot be interpreted as an integer")
            }
            bounds.append(i)
        }
        let (start, stop, step) = bounds.count == 1 ? (0, bounds[0], 1) : (bounds[0], bounds[1], bounds.count == 3 ? bounds[2] : 1)
        if step == 0 { throw RuntimeFailure(.type, "range() arg 3 must not be zero") }
        // Python's len(range(start, stop, step)), computed without overflow.
        let span = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
        let magnitude = step.magnitude
        let count: UInt
        if span.overflow {
            count = UInt.max
        } else if span.partialValue <= 0 {
            count = 0
        } else {
            count = (UInt(span.partialValue) - 1) / magnitude + 1
        }
        if count > UInt(sandboxMaxRange) {
            throw RuntimeFailure(.limit, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(sandboxMaxRange)).")
        }
        return .array((0..<Int(count)).map { .int(start + $0 * step) })
    }

    /// `dict(mapping_or_pairs, **keywords)` (also the basis of `namespace(...)`).
    static func makeDictionary(_ arguments: TemplateArguments, name: String) throws -> TemplateDictionary {
        guard arguments.positional.count <= 1 else {
            throw RuntimeFailure(.type, "\(name) expected at most 1 argument, got \(arguments.positional.count)")
        }
        var result = TemplateDictionary()
        if let source = arguments.positional.first {
            switch source {
            case .dictionary(let d): result = d
            case .namespace(let ns): result = ns.attributes
            default:
                for pair in try pythonIterate(source) {
                    guard let kv = pair.sequenceElements, kv.count == 2, case .string(let key) = kv[0] else {
                        throw RuntimeFailure(.type, "\(name) needs key/value pairs with string keys")
                    }
                    result[key] = kv[1]
                }
            }
        }
        for keyword in arguments.keywords { result[keyword.name] = keyword.value }
        return result
    }

    static let dict = TemplateCallable(name: "dict") { .dictionary(try makeDictionary($0, name: "dict")) }

    static let namespace = TemplateCallable(name: "namespace") { arguments in
        let attributes = try makeDictionary(arguments, name: "namespace")
        for key in attributes.keys { try checkNamespaceAttribute(key) }
        return .namespace(TemplateNamespace(attributes))
    }

    static let raiseException = TemplateCallable(name: "raise_exception") { arguments in
        let args = MethodArguments("raise_exception", arguments)
        try args.expect(1)
        throw RuntimeFailure(.raised, try args.required(0, "message").pythonString)
    }

    /// transformers refuses underscore-prefixed namespace attributes.
    static func checkNamespaceAttribute(_ name: String) throws {
        if name.hasPrefix("_") {
            throw RuntimeFailure(.security, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got \(pythonRepr(name)). Please rename the attribute.")
        }
    }
}

final class Renderer {
    enum Flow { case normal, breakLoop, continueLoop }

    private let locator: SourceLocator
    private let limits: TemplateLimits
    private let clock: TemplateClock
    private var output = ""
    /// UTF-8 bytes of the output that enclosing macro calls and captured blocks have set aside
    /// while an inner one renders (they count toward the output limit).
    private var setAsideOutputBytes = 0
    private let meter: RenderMeter
    private var scope: Scope
    private var iterations = 0
    private var callDepth = 0
    /// Scopes that macros were defined in; macros refer to them weakly, so nothing leaks.
    private var macroScopes: [Scope] = []
    private lazy var strftimeNow = TemplateCallable(name: "strftime_now") { [clock] arguments in
        let args = MethodArguments("strftime_now", arguments)
        try args.expect(1)
        return .string(strftime(try args.string(0, "format"), clock: clock))
    }
    private static let noArguments = TemplateArguments()

    init(locator: SourceLocator, limits: TemplateLimits, clock: TemplateClock, context: [String: TemplateValue]) {
        self.locator = locator
        self.limits = limits
        self.clock = clock
        meter = RenderMeter(workLimit: limits.maxWorkBytes, sizeLimit: limits.maxOutputBytes)
        let contextScope = Scope(parent: nil)
        for (name, value) in context { contextScope.assign(name, value) }
        scope = contextScope
    }

    func render(_ root: FrameBody) throws -> String {
        try RenderMeter.$current.withValue(meter) {
            do {
                scope = enterFrame(root, parent: scope)
                _ = try execute(root.nodes)
            } catch let failure as RuntimeFailure {
                throw locator.error(failure.kind, failure.message, at: 0)
            }
        }
        return output
    }

    // MARK: statements

    /// A new scope for a frame, with the names Jinja starts out undefined in it.
    private func enterFrame(_ frame: FrameBody, parent: Scope, scope existing: Scope? = nil) -> Scope {
        let frameScope = existing ?? Scope(parent: parent)
        for name in frame.undefinedAtEntry where !frameScope.contains(name) {
            frameScope.assign(name, .undefined(named: name))
        }
        return frameScope
    }

    private func execute(_ nodes: [Node]) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .output(let expression):
                let value = try evaluate(expression)
                switch value {
                case .string(let s): output += s
                default:
                    let text = value.pythonString
                    try checkMeter(at: expression.offset)   // printing may have run out of budget
                    output += text
                }
                try checkOutputSize(at: expression.offset)
            case .conditional(let branches, let otherwise):
                var chosen = otherwise
                for branch in branches {
                    if try evaluate(branch.condition).isTruthy {
                        chosen = branch.body
                        break
                    }
                }
                let flow = try execute(chosen)
                if flow != .normal { return flow }
            case .forLoop(let loop, let offset):
                let flow = try runLoop(loop, offset: offset)
                if flow != .normal { return flow }
            case .assign(let target, let expression, let offset):
                try bind(target, try evaluate(expression), in: scope, offset: offset)
            case .assignBlock(let target, let filters, let body, let offset):
                let (text, flow) = try capture(body)
                if flow != .normal { return flow }
                try bind(target, try applyFilters(filters, to: .string(text)), in: scope, offset: offset)
            case .macro(let definition):
                scope.assign(definition.name, makeMacro(definition))
            case .filterBlock(let filters, let body):
                let (text, flow) = try capture(body)
                if flow != .normal { return flow }
                output += try applyFilters(filters, to: .string(text)).pythonString
                try checkOutputSize(at: filters.first?.offset ?? 0)
            case .with(let assignments, let body, let offset):
                let values = try assignments.map { try evaluate($0.1) }
                let outer = scope
                let inner = Scope(parent: outer)
                for ((target, _), value) in zip(assignments, values) { try bind(target, value, in: inner, offset: offset) }
                scope = enterFrame(body, parent: outer, scope: inner)
                defer { scope = outer }
                let flow = try execute(body.nodes)
                if flow != .normal { return flow }
            case .scope(let body):
                let outer = scope
                scope = enterFrame(body, parent: outer)
                defer { scope = outer }
                let flow = try execute(body.nodes)
                if flow != .normal { return flow }
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private func countIteration(at offset: Int) throws {
        iterations += 1
        if iterations > limits.maxLoopIterations {
            throw locator.error(.limit, "more than \(limits.maxLoopIterations) loop iterations in one render", at: offset)
        }
        try checkOutputSize(at: offset)
        try checkMeter(at: offset)
    }

    /// Fails when the output so far (with what enclosing macro calls and blocks set aside) is over
    /// the output limit.
    private func checkOutputSize(at offset: Int) throws {
        if output.utf8.count + setAsideOutputBytes > limits.maxOutputBytes {
            throw locator.error(.limit, "rendered text longer than \(limits.maxOutputBytes) bytes", at: offset)
        }
    }

    /// Fails when the work meter ran out (or a helper refused to build a value).
    @inline(__always) private func checkMeter(at offset: Int) throws {
        if let reason = meter.exhaustion { throw locator.error(.limit, reason, at: offset) }
    }

    /// Sets the output aside for a macro call or a captured block; `restoreOutput` puts it back.
    private func setOutputAside() -> String {
        let saved = output
        setAsideOutputBytes += saved.utf8.count
        output = ""
        return saved
    }

    /// Puts back output set aside by `setOutputAside`.
    private func restoreOutput(_ saved: String) {
        setAsideOutputBytes -= saved.utf8.count
        output = saved
    }

    private func runLoop(_ loop: ForLoop, offset: Int) throws -> Flow {
        let iterable = try evaluate(loop.iterable)
        // Iterating makes a list of the items (an item per character of a string): charge it first.
        if case .string(let s) = iterable { meter.charge(s.utf8.count &* RenderMeter.itemCost) } else { meter.charge(RenderMeter.size(of: iterable)) }
        try checkMeter(at: loop.iterable.offset)
        var items: [TemplateValue]
        do {
            items = try pythonIterate(iterable)
        } catch let failure as RuntimeFailure {
            throw locator.error(failure.kind, failure.message, at: loop.iterable.offset)
        }
        let outer = scope
        defer { scope = outer }
        if let condition = loop.condition {
            var kept: [TemplateValue] = []
            for item in items {
                try countIteration(at: offset)
                let iterationScope = Scope(parent: outer)
                try bind(loop.target, item, in: iterationScope, offset: offset)
                scope = iterationScope
                if try evaluate(condition).isTruthy { kept.append(item) }
            }
            items = kept
            scope = outer
        }
        if items.isEmpty {
            scope = enterFrame(loop.elseBody, parent: outer)
            return try execute(loop.elseBody.nodes)
        }
        let context = LoopContext(items: items)
        let loopValue = TemplateValue.object(context)
        // Jinja runs the else block unless some iteration reached the end of the body (an
        // iteration left by break or continue does not count).
        var completedAnIteration = false
        for (index, item) in items.enumerated() {
            try countIteration(at: offset)
            let iterationScope = Scope(parent: outer)
            try bind(loop.target, item, in: iterationScope, offset: offset)
            iterationScope.assign("loop", loopValue)
            context.index0 = index
            scope = enterFrame(loop.body, parent: outer, scope: iterationScope)
            let flow = try execute(loop.body.nodes)
            if flow == .normal { completedAnIteration = true }
            if flow == .breakLoop { break }
        }
        if !completedAnIteration && !loop.elseBody.nodes.isEmpty {
            scope = enterFrame(loop.elseBody, parent: outer)
            return try execute(loop.elseBody.nodes)
        }
        return .normal
    }

    /// Assigns to a name, unpacks into a tuple of targets, or sets a namespace attribute.
    private func bind(_ target: AssignTarget, _ value: TemplateValue, in scope: Scope, offset: Int) throws {
        switch target {
        case .name(let name):
            scope.assign(name, value)
        case .tuple(let targets):
            let items: [TemplateValue]
            do {
                items = try pythonIterate(value)
            } catch {
                throw locator.error(.type, "cannot unpack non-iterable \(value.pythonTypeName) object", at: offset)
            }
            if items.count < targets.count {
                throw locator.error(.type, "not enough values to unpack (expected \(targets.count), got \(items.count))", at: offset)
            }
            if items.count > targets.count {
                throw locator.error(.type, "too many values to unpack (expected \(targets.count))", at: offset)
            }
            for (t, item) in zip(targets, items) { try bind(t, item, in: scope, offset: offset) }
        case .namespaceAttribute(let owner, let attribute, let position):
            guard case .namespace(let namespace)? = self.scope.lookup(owner) else {
                throw locator.error(.type, "cannot assign attribute on non-namespace object", at: position)
            }
            do {
                try Builtins.checkNamespaceAttribute(attribute)
            } catch let failure as RuntimeFailure {
                throw locator.error(failure.kind, failure.message, at: position)
            }
            // Namespaces are the only way to grow a value across iterations: bound the nesting so
            // printing, comparing or freeing it cannot exhaust the stack.
            if exceedsNesting(value, limit: Self.maximumValueNesting) {
                throw locator.error(.limit, "value nested deeper than \(Self.maximumValueNesting) levels", at: position)
            }
            namespace.attributes[attribute] = value
        }
    }

    static let maximumValueNesting = 256

    private func exceedsNesting(_ value: TemplateValue, limit: Int) -> Bool {
        if limit < 0 { return true }
        switch value {
        case .array(let items), .tuple(let items): return items.contains { exceedsNesting($0, limit: limit - 1) }
        case .dictionary(let d): return d.values.contains { exceedsNesting($0, limit: limit - 1) }
        default: return false
        }
    }

    /// Renders `body` in a child scope and returns the text instead of emitting it. A `break` or
    /// `continue` inside abandons the block and reaches the enclosing loop, as in Jinja.
    private func capture(_ body: FrameBody) throws -> (String, Flow) {
        let savedOutput = setOutputAside()
        let outer = scope
        scope = enterFrame(body, parent: outer)
        defer {
            scope = outer
        }
        let flow: Flow
        do {
            flow = try execute(body.nodes)
        } catch {
            restoreOutput(savedOutput)
            throw error
        }
        let captured = output
        restoreOutput(savedOutput)
        return (captured, flow)
    }

    private func applyFilters(_ filters: [FilterApplication], to value: TemplateValue) throws -> TemplateValue {
        var result = value
        for application in filters {
            let arguments = try evaluateArguments(application.arguments)
            do {
                result = try applyFilter(application.filter, result, arguments)
            } catch let failure as RuntimeFailure {
                throw locator.error(failure.kind, failure.message, at: application.offset)
            }
        }
        return result
    }

    // MARK: macros

    private func makeMacro(_ definition: MacroDefinition) -> TemplateValue {
        let definingScope = scope
        macroScopes.append(definingScope)
        return .callable(TemplateCallable(name: definition.name, isMacro: true) { [weak self, weak definingScope] arguments in
            guard let self, let definingScope else {
                throw RuntimeFailure(.type, "macro '\(definition.name)' called after its template finished rendering")
            }
            return try self.callMacro(definition, in: definingScope, arguments)
        })
    }

    private func callMacro(_ definition: MacroDefinition, in definingScope: Scope, _ arguments: TemplateArguments) throws -> TemplateValue {
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > limits.maxCallDepth {
            throw RuntimeFailure(.limit, "macro calls nested deeper than \(limits.maxCallDepth)")
        }
        let macroScope = Scope(parent: definingScope)
        var extraPositional: [TemplateValue] = []
        for (i, value) in arguments.positional.enumerated() {
            if i < definition.parameters.count { macroScope.assign(definition.parameters[i].name, value) } else { extraPositional.append(value) }
        }
        var extraKeywords = TemplateDictionary()
        for keyword in arguments.keywords {
            if definition.parameters.contains(where: { $0.name == keyword.name }) {
                macroScope.assign(keyword.name, keyword.value)
            } else {
                extraKeywords[keyword.name] = keyword.value
            }
        }
        let callerScope = scope
        let callerOutput = setOutputAside()
        scope = macroScope
        defer {
            scope = callerScope
            restoreOutput(callerOutput)
        }
        for parameter in definition.parameters where !macroScope.contains(parameter.name) {
            if let defaultValue = parameter.defaultValue {
                macroScope.assign(parameter.name, try evaluate(defaultValue))
            } else {
                macroScope.assign(parameter.name, .undefined(TemplateUndefined(.message("parameter \(pythonRepr(parameter.name)) was not provided"))))
            }
        }
        macroScope.assign("varargs", .tuple(extraPositional))
        macroScope.assign("kwargs", .dictionary(extraKeywords))
        _ = enterFrame(definition.body, parent: definingScope, scope: macroScope)
        _ = try execute(definition.body.nodes)
        return .string(output)
    }

    // MARK: expressions

    private func lookup(_ name: String) -> TemplateValue {
        if let value = scope.lookup(name) { return value }
        switch name {
        case "range": return .callable(Builtins.range)
        case "dict": return .callable(Builtins.dict)
        case "namespace": return .callable(Builtins.namespace)
        case "raise_exception": return .callable(Builtins.raiseException)
        case "strftime_now": return .callable(strftimeNow)
        default: return .undefined(named: name)
        }
    }

    /// Evaluates an expression; failures are located at the innermost expression that failed.
    /// Strings and lists larger than the output limit are refused (a template doubling a value in
    /// a loop would otherwise exhaust memory), and the values operations make are charged to the
    /// work meter (their operands are charged in `evaluateUnlocated`).
    private func evaluate(_ expression: Expression) throws -> TemplateValue {
        let value: TemplateValue
        do {
            value = try evaluateUnlocated(expression)
        } catch let failure as RuntimeFailure {
            throw locator.error(failure.kind, failure.message, at: expression.offset)
        }
        if expression.kind.makesValue { meter.charge(RenderMeter.size(of: value)) }
        try checkMeter(at: expression.offset)
        switch value {
        case .string(let s) where s.utf8.count > limits.maxOutputBytes:
            throw locator.error(.limit, "string longer than \(limits.maxOutputBytes) bytes", at: expression.offset)
        case .array(let items) where items.count > limits.maxOutputBytes / 8,
             .tuple(let items) where items.count > limits.maxOutputBytes / 8:
            throw locator.error(.limit, "list longer than \(limits.maxOutputBytes / 8) items", at: expression.offset)
        default:
            return value
        }
    }

    private func evaluateArguments(_ arguments: CallArguments) throws -> TemplateArguments {
        if arguments.positional.isEmpty && arguments.keywords.isEmpty && arguments.starArguments == nil && arguments.starKeywords == nil {
            return Self.noArguments
        }
        var positional = try arguments.positional.map(evaluate)
        if let star = arguments.starArguments {
            let value = try evaluate(star)
            if case .string(let s) = value { meter.charge(s.utf8.count &* RenderMeter.itemCost) } else { meter.charge(RenderMeter.size(of: value)) }
            positional += try pythonIterate(value)
        }
        var keywords: [(name: String, value: TemplateValue)] = try arguments.keywords.map { ($0.name, try evaluate($0.value)) }
        if let starStar = arguments.starKeywords {
            let value = try evaluate(starStar)
            guard case .dictionary(let d) = value else {
                throw RuntimeFailure(.type, "argument after ** must be a mapping, not \(value.pythonTypeName)")
            }
            keywords += d.map { ($0.0, $0.1) }
        }
        return TemplateArguments(positional, keywords: keywords)
    }

    private func evaluateUnlocated(_ expression: Expression) throws -> TemplateValue {
        switch expression.kind {
        case .literal(let value):
            return value
        case .name(let name):
            return lookup(name)
        case .attribute(let base, let name):
            return try getAttribute(try evaluate(base), name)
        case .item(let base, let key):
            return try getItem(try evaluate(base), try evaluate(key))
        case .filter(let base, let filter, let arguments):
            let value = try evaluate(base)
            meter.charge(RenderMeter.size(of: value))
            return try applyFilter(filter, value, try evaluateArguments(arguments))
        case .test(let base, let test, let arguments, let negated):
            let value = try evaluate(base)
            meter.charge(RenderMeter.size(of: value))
            return .bool(try applyTest(test, value, try evaluateArguments(arguments)) != negated)
        case .binary(let op, let left, let right):
            let a = try evaluate(left)
            let b = try evaluate(right)
            meter.charge(RenderMeter.size(of: a) &+ RenderMeter.size(of: b))
            return try applyBinary(op, a, b, sizeLimit: limits.maxOutputBytes)
        case .concat(let parts):
            var text = ""
            for part in parts {
                switch try evaluate(part) {
                case .string(let s): text += s
                case let other: text += other.pythonString
                }
                if text.utf8.count > limits.maxOutputBytes {
                    throw RuntimeFailure(.limit, "string longer than \(limits.maxOutputBytes) bytes")
                }
            }
            return .string(text)
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for (op, operand) in operations {
                let right = try evaluate(operand)
                meter.charge(RenderMeter.size(of: left) &+ RenderMeter.size(of: right))
                if !(try pythonCompare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let left, let right):
            let a = try evaluate(left)
            return a.isTruthy ? try evaluate(right) : a
        case .or(let left, let right):
            let a = try evaluate(left)
            return a.isTruthy ? a : try evaluate(right)
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .negate(let operand):
            return try applyUnary(negate: true, try evaluate(operand))
        case .plus(let operand):
            return try applyUnary(negate: false, try evaluate(operand))
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            if let otherwise { return try evaluate(otherwise) }
            return .undefined(TemplateUndefined(.message("the inline if-expression evaluated to false and no else section was defined.")))
        case .call(let callee, let arguments):
            if case .attribute(let ownerExpression, let name) = callee.kind {
                let owner = try evaluate(ownerExpression)
                meter.charge(RenderMeter.size(of: owner))
                switch owner {
                case .string, .dictionary, .array, .tuple:
                    let evaluated = try evaluateArguments(arguments)
                    if let result = try callMethod(owner, name, evaluated) { return result }
                    return try callValue(try getAttribute(owner, name), evaluated)
                default:
                    let function = try getAttribute(owner, name)
                    return try callValue(function, try evaluateArguments(arguments))
                }
            }
            let function = try evaluate(callee)
            return try callValue(function, try evaluateArguments(arguments))
        case .slice(let base, let start, let stop, let step):
            let value = try evaluate(base)
            meter.charge(RenderMeter.size(of: value))
            return try sliceValue(value, try start.map(evaluate), try stop.map(evaluate), try step.map(evaluate))
        case .list(let items):
            return .array(try items.map(evaluate))
        case .tuple(let items):
            return .tuple(try items.map(evaluate))
        case .dictionary(let entries):
            var dictionary = TemplateDictionary()
            for entry in entries {
                let key = try evaluate(entry.key)
                guard case .string(let name) = key else {
                    throw RuntimeFailure(.unsupported, "dictionary keys must be strings, not \(key.pythonTypeName)")
                }
                dictionary[name] = try evaluate(entry.value)
            }
            return .dictionary(dictionary)
        }
    }
}
