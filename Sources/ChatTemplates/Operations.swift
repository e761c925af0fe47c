// Python semantics of the operators and accesses templates use: arithmetic with int/float/bool
// promotion, ==/< across types, `in`, len(), iteration, attribute and item access through
// Jinja's sandbox (dict keys vs. methods, out-of-range → undefined), and slicing.

import Foundation

enum Number {
    case int(Int)
    case double(Double)

    var doubleValue: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }
}

extension TemplateValue {
    /// The value as a Python number (bools are ints), or nil.
    var number: Number? {
        switch self {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .int(b ? 1 : 0)
        default: return nil
        }
    }

    /// An integer index (ints and bools), or nil.
    var integerIndex: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}

/// Throws the undefined value's error when it is used as an operand.
@inline(__always)
func requireDefined(_ value: TemplateValue) throws {
    if case .undefined(let u) = value { throw u.failure }
}

private func unsupportedOperands(_ symbol: String, _ a: TemplateValue, _ b: TemplateValue) -> RuntimeFailure {
    let shown = symbol == "**" ? "** or pow()" : symbol
    return RuntimeFailure(.type, "unsupported operand type(s) for \(shown): '\(a.pythonTypeName)' and '\(b.pythonTypeName)'")
}

private func overflow() -> RuntimeFailure { RuntimeFailure(.arithmetic, "integer overflow") }

/// Python's float floor division and modulo (`float_floor_div`, `float_rem`).
private func floatDivMod(_ x: Double, _ y: Double) -> (Double, Double) {
    var mod = x.truncatingRemainder(dividingBy: y)
    var div = (x - mod) / y
    if mod != 0 {
        if (y < 0) != (mod < 0) {
            mod += y
            div -= 1
        }
    } else {
        mod = Double(signOf: y, magnitudeOf: 0)
    }
    var floorDiv: Double
    if div != 0 {
        floorDiv = div.rounded(.down)
        if div - floorDiv > 0.5 { floorDiv += 1 }
    } else {
        floorDiv = Double(signOf: x / y, magnitudeOf: 0)
    }
    return (floorDiv, mod)
}

/// Python integer floor division and modulo.
private func intDivMod(_ x: Int, _ y: Int, modulo: Bool = false) throws -> (Int, Int) {
    if y == 0 { throw RuntimeFailure(.arithmetic, modulo ? "integer modulo by zero" : "integer division or modulo by zero") }
    if x == Int.min && y == -1 { throw overflow() }
    var q = x / y, r = x % y
    if r != 0 && ((r < 0) != (y < 0)) {
        q -= 1
        r += y
    }
    return (q, r)
}

/// `items * times` for a list or tuple, refused when it would have more than `limit` items
/// (checked before anything is built).
func repeatSequence<T>(_ items: [T], _ times: Int, limit: Int) throws -> [T] {
    guard times > 0, !items.isEmpty else { return [] }
    guard items.count.multipliedReportingOverflow(by: times).partialValue <= limit,
          !items.count.multipliedReportingOverflow(by: times).overflow
    else { throw RuntimeFailure(.limit, "list repetition longer than \(limit) items") }
    var result: [T] = []
    result.reserveCapacity(items.count * times)
    for _ in 0..<times { result.append(contentsOf: items) }
    return result
}

/// `s * times` for a string, refused when it would be longer than `limit` UTF-8 bytes (checked
/// before anything is built, so a huge count costs nothing).
func repeatString(_ s: String, _ times: Int, limit: Int) throws -> String {
    guard times > 0, !s.isEmpty else { return "" }
    let (bytes, overflow) = s.utf8.count.multipliedReportingOverflow(by: times)
    guard !overflow, bytes <= limit else {
        throw RuntimeFailure(.limit, "string repetition longer than \(limit) bytes")
    }
    // Doubling copies: linear in the result, however short `s` is.
    var result: [UInt8] = []
    result.reserveCapacity(bytes)
    result.append(contentsOf: s.utf8)
    while result.count <= bytes / 2 { result.append(contentsOf: result) }
    result.append(contentsOf: result[0..<(bytes - result.count)])
    return String(decoding: result, as: UTF8.self)
}

extension TemplateValue {
    fileprivate var isRepeatableSequence: Bool {
        switch self {
        case .string, .array, .tuple: return true
        default: return false
        }
    }
}

/// `a op b` for the arithmetic operators.
func applyBinary(_ op: BinaryOperator, _ a: TemplateValue, _ b: TemplateValue, sizeLimit: Int) throws -> TemplateValue {
    try requireDefined(a)
    try requireDefined(b)
    if let x = a.number, let y = b.number {
        return try arithmetic(op, x, y)
    }
    switch op {
    case .add:
        switch (a, b) {
        case (.string(let x), .string(let y)): return .string(x + y)
        case (.array(let x), .array(let y)): return .array(x + y)
        case (.tuple(let x), .tuple(let y)): return .tuple(x + y)
        case (.string, _), (.array, _), (.tuple, _):
            let kind = a.pythonTypeName
            throw RuntimeFailure(.type, "can only concatenate \(kind) (not \"\(b.pythonTypeName)\") to \(kind)")
        default: throw unsupportedOperands("+", a, b)
        }
    case .multiply:
        // A sequence times an int repeats it; the int may come first.
        let (sequence, count) = a.isRepeatableSequence ? (a, b) : (b, a)
        guard sequence.isRepeatableSequence else { throw unsupportedOperands("*", a, b) }
        guard let n = count.integerIndex else {
            throw RuntimeFailure(.type, "can't multiply sequence by non-int of type '\(count.pythonTypeName)'")
        }
        switch sequence {
        case .string(let s): return .string(try repeatString(s, n, limit: sizeLimit))
        // Lists are measured at 8 bytes an item, as the renderer's size checks do.
        case .array(let items): return .array(try repeatSequence(items, n, limit: sizeLimit / 8))
        case .tuple(let items): return .tuple(try repeatSequence(items, n, limit: sizeLimit / 8))
        default: throw unsupportedOperands("*", a, b)
        }
    case .modulo:
        if case .string(let format) = a { return .string(try pythonPercentFormat(format, b)) }
        throw unsupportedOperands("%", a, b)
    default:
        throw unsupportedOperands(op.symbol, a, b)
    }
}

private func arithmetic(_ op: BinaryOperator, _ x: Number, _ y: Number) throws -> TemplateValue {
    if case .int(let i) = x, case .int(let j) = y {
        switch op {
        case .add:
            let (r, o) = i.addingReportingOverflow(j)
            if o { throw overflow() }
            return .int(r)
        case .subtract:
            let (r, o) = i.subtractingReportingOverflow(j)
            if o { throw overflow() }
            return .int(r)
        case .multiply:
            let (r, o) = i.multipliedReportingOverflow(by: j)
            if o { throw overflow() }
            return .int(r)
        case .divide:
            if j == 0 { throw RuntimeFailure(.arithmetic, "division by zero") }
            return .double(Double(i) / Double(j))
        case .floorDivide: return .int(try intDivMod(i, j).0)
        case .modulo: return .int(try intDivMod(i, j, modulo: true).1)
        case .power:
            if j < 0 {
                if i == 0 { throw RuntimeFailure(.arithmetic, "0.0 cannot be raised to a negative power") }
                return .double(pow(Double(i), Double(j)))
            }
            var result = 1, base = i, exponent = j
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base)
                    if o { throw overflow() }
                    result = r
                }
                exponent >>= 1
                if exponent > 0 {
                    let (b, o) = base.multipliedReportingOverflow(by: base)
                    if o { throw overflow() }
                    base = b
                }
            }
            return .int(result)
        }
    }
    let a = x.doubleValue, b = y.doubleValue
    switch op {
    case .add: return .double(a + b)
    case .subtract: return .double(a - b)
    case .multiply: return .double(a * b)
    case .divide:
        if b == 0 { throw RuntimeFailure(.arithmetic, "float division by zero") }
        return .double(a / b)
    case .floorDivide:
        if b == 0 { throw RuntimeFailure(.arithmetic, "float floor division by zero") }
        return .double(floatDivMod(a, b).0)
    case .modulo:
        if b == 0 { throw RuntimeFailure(.arithmetic, "float modulo") }
        return .double(floatDivMod(a, b).1)
    case .power:
        if a == 0 && b < 0 { throw RuntimeFailure(.arithmetic, "0.0 cannot be raised to a negative power") }
        if a < 0 && b != b.rounded() { throw RuntimeFailure(.type, "complex results are not supported") }
        let result = pow(a, b)
        if result.isInfinite && a.isFinite && b.isFinite { throw RuntimeFailure(.arithmetic, "(34, 'Numerical result out of range')") }
        return .double(result)
    }
}

/// Unary minus / plus.
func applyUnary(negate: Bool, _ value: TemplateValue) throws -> TemplateValue {
    try requireDefined(value)
    switch value.number {
    case .int(let i)?:
        if negate {
            if i == Int.min { throw overflow() }
            return .int(-i)
        }
        return .int(i)
    case .double(let d)?: return .double(negate ? -d : d)
    case nil: throw RuntimeFailure(.type, "bad operand type for unary \(negate ? "-" : "+"): '\(value.pythonTypeName)'")
    }
}

/// Python `==`. Comparing lists and dictionaries charges the render's meter per item (nested
/// lists that share items can take exponential time), and gives up once it is exhausted.
func pythonEquals(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
    if let x = a.number, let y = b.number {
        if case .int(let i) = x, case .int(let j) = y { return i == j }
        return x.doubleValue == y.doubleValue
    }
    switch (a, b) {
    case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
    case (.none, .none), (.undefined, .undefined): return true
    case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
        guard x.count == y.count else { return false }
        if chargeWalk(items: x.count) { return false }
        return zip(x, y).allSatisfy { pythonEquals($0, $1) }
    case (.dictionary(let x), .dictionary(let y)):
        guard x.count == y.count else { return false }
        if chargeWalk(items: x.count) { return false }
        for (key, value) in x {
            guard let other = y[key], pythonEquals(value, other) else { return false }
        }
        return true
    case (.namespace(let x), .namespace(let y)): return x === y
    case (.object(let x), .object(let y)): return x === y
    case (.callable(let x), .callable(let y)): return x === y
    default: return false
    }
}

/// Python `a < b`: numbers, strings by code point, lists and tuples lexicographically; anything
/// else is a TypeError naming `symbol` and the operand types in source order (`swapped` when the
/// caller evaluates `b < a` for `a > b`).
func pythonLess(_ a: TemplateValue, _ b: TemplateValue, symbol: String = "<", swapped: Bool = false) throws -> Bool {
    try requireDefined(a)
    try requireDefined(b)
    if let x = a.number, let y = b.number {
        if case .int(let i) = x, case .int(let j) = y { return i < j }
        return x.doubleValue < y.doubleValue
    }
    switch (a, b) {
    case (.string(let x), .string(let y)): return x.utf8.lexicographicallyPrecedes(y.utf8)
    case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
        if chargeWalk(items: Swift.min(x.count, y.count)) { return false }
        for (p, q) in zip(x, y) where !pythonEquals(p, q) { return try pythonLess(p, q, symbol: symbol, swapped: swapped) }
        return x.count < y.count
    default:
        let (left, right) = swapped ? (b, a) : (a, b)
        throw RuntimeFailure(.type, "'\(symbol)' not supported between instances of '\(left.pythonTypeName)' and '\(right.pythonTypeName)'")
    }
}

func pythonCompare(_ op: ComparisonOperator, _ a: TemplateValue, _ b: TemplateValue) throws -> Bool {
    switch op {
    case .equal: return pythonEquals(a, b)
    case .notEqual: return !pythonEquals(a, b)
    case .less: return try pythonLess(a, b, symbol: "<")
    case .greater: return try pythonLess(b, a, symbol: ">", swapped: true)
    case .lessOrEqual: return try !pythonLess(b, a, symbol: "<=", swapped: true)
    case .greaterOrEqual: return try !pythonLess(a, b, symbol: ">=")
    case .contains: return try pythonIn(a, b)
    case .notContains: return try !pythonIn(a, b)
    }
}

/// Python `needle in container`.
func pythonIn(_ needle: TemplateValue, _ container: TemplateValue) throws -> Bool {
    switch container {
    case .string(let text):
        guard case .string(let sub) = needle else {
            throw RuntimeFailure(.type, "'in <string>' requires string as left operand, not \(needle.pythonTypeName)")
        }
        return pythonContains(text, sub)
    case .array(let items), .tuple(let items):
        return items.contains { pythonEquals($0, needle) }
    case .dictionary(let d):
        switch needle {
        case .string(let key): return d[key] != nil
        case .array, .dictionary: throw RuntimeFailure(.type, "unhashable type: '\(needle.pythonTypeName)'")
        default: return false
        }
    case .undefined:
        return false
    default:
        throw RuntimeFailure(.type, "argument of type '\(container.pythonTypeName)' is not iterable")
    }
}

/// Python `len()`.
func pythonLength(_ value: TemplateValue) throws -> Int {
    switch value {
    case .string(let s): return s.unicodeScalars.count
    case .array(let a), .tuple(let a): return a.count
    case .dictionary(let d): return d.count
    case .undefined: return 0
    case .object(let o as LoopContext): return o.items.count
    default: throw RuntimeFailure(.type, "object of type '\(value.pythonTypeName)' has no len()")
    }
}

/// Python iteration: characters of a string, elements, dictionary keys; undefined is empty.
func pythonIterate(_ value: TemplateValue) throws -> [TemplateValue] {
    switch value {
    case .array(let a), .tuple(let a): return a
    case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
    case .dictionary(let d): return d.keys.map { .string($0) }
    case .undefined: return []
    case .object(let o as LoopContext): return o.items
    default: throw RuntimeFailure(.type, "'\(value.pythonTypeName)' object is not iterable")
    }
}

// MARK: - Attribute and item access (Jinja's sandboxed getattr / getitem)

/// `value.name`: a method if the type has one, else a dictionary key, else undefined.
func getAttribute(_ value: TemplateValue, _ name: String) throws -> TemplateValue {
    switch value {
    case .undefined(let u):
        throw u.failure
    case .dictionary(let d):
        if let method = boundMethod(value, name) { return method }
        return d[name] ?? .undefined(attribute: name, of: value)
    case .namespace(let ns):
        return ns.attributes[name] ?? .undefined(attribute: name, of: value)
    case .object(let o):
        return o.attribute(name) ?? .undefined(attribute: name, of: value)
    default:
        return boundMethod(value, name) ?? .undefined(attribute: name, of: value)
    }
}

/// `value[key]`: Python subscription, falling back to attributes for string keys as Jinja does.
func getItem(_ value: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
    switch value {
    case .undefined(let u):
        throw u.failure
    case .dictionary(let d):
        if case .string(let k) = key {
            if let found = d[k] { return found }
            return boundMethod(value, k) ?? .undefined(attribute: k, of: value)
        }
        return .undefined(element: key, of: value)
    case .array(let items), .tuple(let items):
        if let i = key.integerIndex {
            let index = i < 0 ? i + items.count : i
            return index >= 0 && index < items.count ? items[index] : .undefined(element: key, of: value)
        }
    case .string(let s):
        if let i = key.integerIndex {
            let scalars = s.unicodeScalars
            let count = scalars.count
            let index = i < 0 ? i + count : i
            guard index >= 0 && index < count else { return .undefined(element: key, of: value) }
            return .string(String(scalars[scalars.index(scalars.startIndex, offsetBy: index)]))
        }
    case .namespace, .object:
        if case .string(let k) = key { return try getAttribute(value, k) }
    default:
        break
    }
    if case .string(let k) = key { return boundMethod(value, k) ?? .undefined(attribute: k, of: value) }
    return .undefined(element: key, of: value)
}

/// Python slice indices for a sequence of `count` items.
func sliceIndices(count: Int, start: Int?, stop: Int?, step: Int?) throws -> [Int] {
    let step = step ?? 1
    if step == 0 { throw RuntimeFailure(.type, "slice step cannot be zero") }
    func adjust(_ value: Int?, _ defaultValue: Int) -> Int {
        guard var v = value else { return defaultValue }
        if v < 0 {
            v += count
            if v < 0 { v = step < 0 ? -1 : 0 }
        } else if v >= count {
            v = step < 0 ? count - 1 : count
        }
        return v
    }
    let lower = adjust(start, step < 0 ? count - 1 : 0)
    let upper = adjust(stop, step < 0 ? -1 : count)
    var indices: [Int] = []
    var i = lower
    while step > 0 ? i < upper : i > upper {
        indices.append(i)
        let (next, overflow) = i.addingReportingOverflow(step)
        if overflow { break }
        i = next
    }
    return indices
}

/// `value[start:stop:step]` for lists, tuples and strings; other values give undefined.
func sliceValue(_ value: TemplateValue, _ start: TemplateValue?, _ stop: TemplateValue?, _ step: TemplateValue?) throws -> TemplateValue {
    try requireDefined(value)
    func bound(_ v: TemplateValue?) -> Int?? {
        guard let v else { return .some(nil) }
        if case .none = v { return .some(nil) }
        if let i = v.integerIndex { return .some(i) }
        return nil  // not a valid index: Python raises TypeError, which Jinja turns into undefined
    }
    guard let a = bound(start), let b = bound(stop), let c = bound(step) else {
        return .undefined(TemplateUndefined(.message("slice indices must be integers or None")))
    }
    switch value {
    case .array(let items):
        return .array(try sliceIndices(count: items.count, start: a, stop: b, step: c).map { items[$0] })
    case .tuple(let items):
        return .tuple(try sliceIndices(count: items.count, start: a, stop: b, step: c).map { items[$0] })
    case .string(let s):
        let scalars = Array(s.unicodeScalars)
        return .string(String(scalars: try sliceIndices(count: scalars.count, start: a, stop: b, step: c).map { scalars[$0] }))
    default:
        return .undefined(TemplateUndefined(.message("\(pythonRepr(value.objectTypeDescription)) is not sliceable")))
    }
}

/// Calls a value: callables run, undefined raises its error, anything else is a TypeError.
func callValue(_ value: TemplateValue, _ arguments: TemplateArguments) throws -> TemplateValue {
    switch value {
    case .callable(let c): return try c.call(arguments)
    case .undefined(let u): throw u.failure
    default: throw RuntimeFailure(.type, "'\(value.pythonTypeName)' object is not callable")
    }
}

