// Errors of parsing and rendering: every failure is a thrown TemplateError that names the
// template and the line:column where it happened (never a trap).

/// A failure to parse or render a template, located at `line:column` (1-based, counted in
/// Unicode scalars of the template after newline normalisation).
public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// Malformed template: unclosed tags, bad expressions, unknown tags, filters or tests.
        case syntax
        /// An undefined value was used where Jinja raises `UndefinedError` (attribute of an
        /// undefined value, arithmetic on it, calling it).
        case undefined
        /// The template called `raise_exception(message)`; `message` is exactly its argument.
        case raised
        /// An operation on values of the wrong type (Python `TypeError`, `ValueError`).
        case type
        /// Division or modulo by zero, integer overflow.
        case arithmetic
        /// Something the sandbox forbids (mutating methods such as `list.append`).
        case security
        /// A guard against runaway templates: too many loop iterations, too deep recursion,
        /// too much output, a range over the sandbox's 100,000 items.
        case limit
        /// A Jinja feature this interpreter does not implement (`include`, `extends`, …).
        case unsupported
    }

    public let kind: Kind
    public let message: String
    public let templateName: String
    public let line: Int
    public let column: Int

    public init(kind: Kind, message: String, templateName: String, line: Int, column: Int) {
        self.kind = kind
        self.message = message
        self.templateName = templateName
        self.line = line
        self.column = column
    }

    /// `name:line:column: message`.
    public var description: String { "\(templateName):\(line):\(column): \(message)" }

    /// The error a host function throws to fail the render the way `raise_exception` does.
    public static func raised(_ message: String) -> RuntimeFailure { RuntimeFailure(.raised, message) }
}

/// An error raised while evaluating, before its position is known; the renderer turns it into a
/// `TemplateError` at the innermost expression that failed. Host callables may throw it.
public struct RuntimeFailure: Error, Sendable {
    public let kind: TemplateError.Kind
    public let message: String
    public init(_ kind: TemplateError.Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Maps source offsets (scalar indices) to 1-based line:column.
struct SourceLocator: Sendable {
    let name: String
    private let lineStarts: [Int]

    init(name: String, scalars: [Unicode.Scalar]) {
        self.name = name
        var starts = [0]
        for (i, s) in scalars.enumerated() where s == "\n" { starts.append(i + 1) }
        lineStarts = starts
    }

    func lineAndColumn(_ offset: Int) -> (Int, Int) {
        var low = 0, high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return (low + 1, offset - lineStarts[low] + 1)
    }

    func error(_ kind: TemplateError.Kind, _ message: String, at offset: Int) -> TemplateError {
        let (line, column) = lineAndColumn(offset)
        return TemplateError(kind: kind, message: message, templateName: name, line: line, column: column)
    }
}
