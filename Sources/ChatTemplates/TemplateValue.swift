// The values a chat template computes with: a small dynamic type that mirrors the Python objects
// Jinja sees (str, int, float, bool, None, list, tuple, dict, Undefined, namespace, callables).

/// A value inside a template: what a variable, a literal or an expression evaluates to.
///
/// The cases follow the Python types Jinja works with, so that operators, filters and rendering
/// behave as in transformers: `.double` renders like a Python float (`1.0`, `1e-05`), `.none`
/// renders as `None`, `.undefined` renders as the empty string and is falsy, and `.dictionary`
/// keeps insertion order (it matters for `tojson` and `items`).
///
/// Values are plain data except `.namespace`, `.object` and `.callable`, which are references
/// created while rendering (`namespace()`, `loop`, macros, bound methods).
public enum TemplateValue: @unchecked Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case none
    /// A Python list.
    case array([TemplateValue])
    /// A Python tuple: behaves like a list but renders as `(a, b)` and never equals a list.
    case tuple([TemplateValue])
    case dictionary(TemplateDictionary)
    /// Jinja's default `Undefined`: renders as "", is falsy, iterates as empty; most other uses
    /// (attribute access, arithmetic, calls) throw with the reason it carries.
    case undefined(TemplateUndefined)
    /// The mutable object made by `namespace(...)`, the only thing `{% set ns.x = … %}` can assign to.
    case namespace(TemplateNamespace)
    /// A read-only object with attributes, such as the `loop` variable of a for loop.
    case object(TemplateObject)
    case callable(TemplateCallable)
}

// MARK: - Ordered dictionary

/// A string-keyed dictionary that keeps insertion order, like a Python `dict` built from JSON.
///
/// Keys compare by Unicode scalars (as Python compares strings), not by Swift's canonical
/// equivalence.
public struct TemplateDictionary: Sendable, Sequence {
    public private(set) var keys: [String] = []
    public private(set) var values: [TemplateValue] = []
    /// Built once the dictionary grows past `indexThreshold` entries; small ones are searched linearly.
    private var index: [ExactKey: Int]? = nil
    private static let indexThreshold = 12

    public init() {}

    public init(_ pairs: [(String, TemplateValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    func position(of key: String) -> Int? {
        if let index { return index[ExactKey(key)] }
        for i in keys.indices where keys[i].utf8.elementsEqual(key.utf8) { return i }
        return nil
    }

    /// The value stored under `key`, or nil; assigning nil removes the key.
    public subscript(key: String) -> TemplateValue? {
        get { position(of: key).map { values[$0] } }
        set {
            if let i = position(of: key) {
                if let newValue { values[i] = newValue } else { remove(at: i) }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
                if index != nil {
                    index![ExactKey(key)] = keys.count - 1
                } else if keys.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    private mutating func remove(at i: Int) {
        keys.remove(at: i)
        values.remove(at: i)
        if index != nil { rebuildIndex() }
    }

    private mutating func rebuildIndex() {
        var built: [ExactKey: Int] = [:]
        built.reserveCapacity(keys.count)
        for (i, key) in keys.enumerated() { built[ExactKey(key)] = i }
        index = built
    }

    public func makeIterator() -> Zip2Sequence<[String], [TemplateValue]>.Iterator {
        zip(keys, values).makeIterator()
    }
}

/// A dictionary key that compares by UTF-8 bytes (Python string equality).
struct ExactKey: Hashable {
    let string: String
    init(_ string: String) { self.string = string }
    static func == (a: ExactKey, b: ExactKey) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }
    func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
    }
}

// MARK: - Reference values

/// Why a value is undefined; the message is what Jinja's `UndefinedError` says when it is misused.
public final class TemplateUndefined: @unchecked Sendable {
    enum Reason {
        case name(String)
        case attribute(owner: String, name: String)
        case element(owner: String, key: TemplateValue)
        case message(String)
        /// An attribute the sandbox forbids (e.g. `list.append`): using it is a security error.
        case unsafe(String)
    }
    let reason: Reason
    init(_ reason: Reason) { self.reason = reason }

    /// Jinja's wording, e.g. `'foo' is undefined` or `'dict object' has no attribute 'x'`.
    public var message: String {
        switch reason {
        case .name(let name): return "\(pythonRepr(name)) is undefined"
        case .attribute(let owner, let name): return "\(pythonRepr(owner)) has no attribute \(pythonRepr(name))"
        case .element(let owner, let key): return "\(owner) has no element \(key.pythonRepr)"
        case .message(let text), .unsafe(let text): return text
        }
    }

    /// The error raised when the undefined value is used.
    var failure: RuntimeFailure {
        if case .unsafe = reason { return RuntimeFailure(.security, message) }
        return RuntimeFailure(.undefined, message)
    }
}

/// The object made by `namespace(...)`: attributes that `{% set ns.name = value %}` can change
/// from inside loops (where plain `set` only creates a loop-local variable).
public final class TemplateNamespace: @unchecked Sendable {
    public var attributes: TemplateDictionary
    public init(_ attributes: TemplateDictionary = TemplateDictionary()) { self.attributes = attributes }
}

/// A read-only object whose attributes are computed on access (the `loop` variable, or any host
/// object a caller wants to expose).
public protocol TemplateObject: AnyObject {
    /// The Python-style type name used in error messages, e.g. `LoopContext`.
    var typeName: String { get }
    /// The attribute's value, or nil when the object has no such attribute.
    func attribute(_ name: String) -> TemplateValue?
}

/// Arguments of a call: positional values, then keyword values in source order.
public struct TemplateArguments: Sendable {
    public var positional: [TemplateValue]
    public var keywords: [(name: String, value: TemplateValue)]

    public init(_ positional: [TemplateValue] = [], keywords: [(name: String, value: TemplateValue)] = []) {
        self.positional = positional
        self.keywords = keywords
    }

    /// The argument for parameter `name` at `position`, given either way, or nil.
    public func value(_ name: String, at position: Int) -> TemplateValue? {
        if position < positional.count { return positional[position] }
        for keyword in keywords where keyword.name == name { return keyword.value }
        return nil
    }
}

/// A function a template can call: a global (`range`, `namespace`, `raise_exception`,
/// `strftime_now`), a macro, or a bound method such as `text.strip`.
public final class TemplateCallable: @unchecked Sendable {
    public let name: String
    /// Macros render as `<Macro 'name'>`, other callables as `<function name>`.
    let isMacro: Bool
    let body: (TemplateArguments) throws -> TemplateValue

    /// Wraps a Swift function. Throw `TemplateError.raised(message)` (or any `RuntimeFailure`) to
    /// fail the render.
    public convenience init(name: String, _ body: @escaping (TemplateArguments) throws -> TemplateValue) {
        self.init(name: name, isMacro: false, body)
    }

    init(name: String, isMacro: Bool, _ body: @escaping (TemplateArguments) throws -> TemplateValue) {
        self.name = name
        self.isMacro = isMacro
        self.body = body
    }

    public func call(_ arguments: TemplateArguments) throws -> TemplateValue { try body(arguments) }
}

// MARK: - Literals and conversions

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    /// A dictionary literal keeps the order of its entries.
    public init(dictionaryLiteral elements: (String, TemplateValue)...) { self = .dictionary(TemplateDictionary(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

extension TemplateValue {
    /// An undefined value reporting `'name' is undefined` when misused.
    public static func undefined(named name: String) -> TemplateValue { .undefined(TemplateUndefined(.name(name))) }

    static func undefined(attribute name: String, of owner: TemplateValue) -> TemplateValue {
        .undefined(TemplateUndefined(.attribute(owner: owner.objectTypeDescription, name: name)))
    }

    static func undefined(element key: TemplateValue, of owner: TemplateValue) -> TemplateValue {
        .undefined(TemplateUndefined(.element(owner: owner.objectTypeDescription, key: key)))
    }

    /// The string payload, if this is a string.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }

    /// The elements, if this is a list or a tuple.
    public var arrayValue: [TemplateValue]? { sequenceElements }

    /// The dictionary, if this is one.
    public var dictionaryValue: TemplateDictionary? { if case .dictionary(let d) = self { return d } else { return nil } }

    /// `value[key]` for a dictionary (nil when absent or not a dictionary), e.g. to read a parsed
    /// tokenizer_config.json.
    public subscript(key: String) -> TemplateValue? { dictionaryValue?[key] }

    /// True for `.none` (Python `None`).
    public var isNone: Bool { if case .none = self { return true } else { return false } }

    /// True unless the value is undefined (Jinja's `is defined` test).
    public var isDefined: Bool { if case .undefined = self { return false } else { return true } }

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .string(let s): return !s.isEmpty
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .bool(let b): return b
        case .none, .undefined: return false
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .dictionary(let d): return !d.isEmpty
        case .namespace, .object, .callable: return true
        }
    }

    /// The Python type name (`str`, `int`, `dict`, …) used in error messages.
    var pythonTypeName: String {
        switch self {
        case .string: return "str"
        case .int: return "int"
        case .double: return "float"
        case .bool: return "bool"
        case .none: return "NoneType"
        case .array: return "list"
        case .tuple: return "tuple"
        case .dictionary: return "dict"
        case .undefined: return "Undefined"
        case .namespace: return "Namespace"
        case .object(let o): return o.typeName
        case .callable: return "function"
        }
    }

    /// Jinja's `object_type_repr`: `dict object`, `None`, … (used in undefined messages).
    var objectTypeDescription: String {
        if case .none = self { return "None" }
        return "\(pythonTypeName) object"
    }

    /// The elements of a list or tuple.
    var sequenceElements: [TemplateValue]? {
        switch self {
        case .array(let a), .tuple(let a): return a
        default: return nil
        }
    }
}

extension TemplateValue: Equatable {
    /// Structural equality (the Swift notion): same case and same payload; references by identity.
    /// Template code uses Python equality instead, where `1 == 1.0 == True`.
    public static func == (a: TemplateValue, b: TemplateValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.bool(let x), .bool(let y)): return x == y
        case (.none, .none): return true
        case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)): return x == y
        case (.dictionary(let x), .dictionary(let y)):
            return x.keys.elementsEqual(y.keys) { $0.utf8.elementsEqual($1.utf8) } && x.values == y.values
        case (.undefined, .undefined): return true
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.object(let x), .object(let y)): return x === y
        case (.callable(let x), .callable(let y)): return x === y
        default: return false
        }
    }
}

extension TemplateValue: CustomStringConvertible {
    /// What `{{ value }}` renders (Python `str()`).
    public var description: String { pythonString }
}
