// The parsed form of a template: statements (nodes) and expressions, each carrying the source
// offset used to locate errors.

/// An expression with the offset of the token that starts (or, for operators, names) it.
struct Expression: @unchecked Sendable {
    let kind: ExpressionKind
    let offset: Int
    init(_ kind: ExpressionKind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }
}

enum BinaryOperator {
    case add, subtract, multiply, divide, floorDivide, modulo, power

    var symbol: String {
        switch self {
        case .add: return "+"
        case .subtract: return "-"
        case .multiply: return "*"
        case .divide: return "/"
        case .floorDivide: return "//"
        case .modulo: return "%"
        case .power: return "**"
        }
    }
}

enum ComparisonOperator {
    case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual, contains, notContains
}

/// Call arguments as written: positional, `name=value`, `*args`, `**kwargs`.
struct CallArguments {
    var positional: [Expression] = []
    var keywords: [(name: String, value: Expression)] = []
    var starArguments: Expression? = nil
    var starKeywords: Expression? = nil
}

indirect enum ExpressionKind {
    case literal(TemplateValue)
    case name(String)
    case list([Expression])
    case tuple([Expression])
    case dictionary([(key: Expression, value: Expression)])
    case attribute(Expression, String)
    case item(Expression, Expression)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
    case call(Expression, CallArguments)
    case filter(Expression, Filter, CallArguments)
    case test(Expression, Test, CallArguments, negated: Bool)
    case negate(Expression)
    case plus(Expression)
    case not(Expression)
    case binary(BinaryOperator, Expression, Expression)
    case concat([Expression])
    case and(Expression, Expression)
    case or(Expression, Expression)
    case compare(Expression, [(ComparisonOperator, Expression)])
    /// `then if condition else otherwise` (otherwise missing → undefined).
    case conditional(condition: Expression, then: Expression, otherwise: Expression?)
}

extension ExpressionKind {
    /// Whether evaluating makes a new value (whose size the renderer charges as work), rather than
    /// looking one up or passing an operand through.
    var makesValue: Bool {
        switch self {
        case .binary, .concat, .filter, .call, .slice, .list, .tuple, .dictionary: return true
        case .literal, .name, .attribute, .item, .test, .negate, .plus, .not, .and, .or, .compare, .conditional: return false
        }
    }
}

/// What `set`, `for` and `with` assign to.
indirect enum AssignTarget {
    case name(String)
    /// `ns.attribute` where `ns` must be a namespace.
    case namespaceAttribute(String, String, offset: Int)
    case tuple([AssignTarget])
}

/// A filter applied in a `{% filter %}` block or a block `set`.
struct FilterApplication {
    let filter: Filter
    let arguments: CallArguments
    let offset: Int
}

/// The statements of a Jinja frame (template, loop body, macro, with/filter/set block): a level
/// with its own variables.
final class FrameBody: @unchecked Sendable {
    let nodes: [Node]
    /// Names Jinja's compiler initialises as undefined when the frame is entered: those first
    /// assigned unconditionally at this level with no enclosing frame using them. Until the
    /// assignment runs, they hide same-named context variables (also from nested loops and macros).
    var undefinedAtEntry: [String] = []
    init(_ nodes: [Node]) { self.nodes = nodes }
}

final class ForLoop: @unchecked Sendable {
    let target: AssignTarget
    let iterable: Expression
    let condition: Expression?
    let body: FrameBody
    let elseBody: FrameBody
    init(target: AssignTarget, iterable: Expression, condition: Expression?, body: FrameBody, elseBody: FrameBody) {
        self.target = target
        self.iterable = iterable
        self.condition = condition
        self.body = body
        self.elseBody = elseBody
    }
}

final class MacroDefinition: @unchecked Sendable {
    let name: String
    let parameters: [(name: String, defaultValue: Expression?)]
    let body: FrameBody
    init(name: String, parameters: [(name: String, defaultValue: Expression?)], body: FrameBody) {
        self.name = name
        self.parameters = parameters
        self.body = body
    }
}

indirect enum Node {
    case text(String)
    case output(Expression)
    case conditional(branches: [(condition: Expression, body: [Node])], otherwise: [Node])
    case forLoop(ForLoop, offset: Int)
    case assign(AssignTarget, Expression, offset: Int)
    case assignBlock(AssignTarget, [FilterApplication], FrameBody, offset: Int)
    case macro(MacroDefinition)
    case filterBlock([FilterApplication], FrameBody)
    case with([(AssignTarget, Expression)], FrameBody, offset: Int)
    /// `{% generation %}` (transformers' assistant-mask extension): renders its body.
    case scope(FrameBody)
    case breakLoop
    case continueLoop
}
