// An Encoder whose output is a `JSONValue` tree (Foundation's JSONEncoder writes 1.0 as "1" and
// cannot be told otherwise): Codable records are written by `JSONFormat` with one configuration.
// Optionals that are nil are left out (synthesised `encodeIfPresent`), as JSONEncoder does.

import Foundation

public struct JSONValueEncoder {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Node()
        try value.encode(to: TreeEncoder(node: root, codingPath: []))
        return root.finished ?? .object([:])
    }
}

/// A place in the tree being built: a finished value, or an object / array filled by containers.
final class Node {
    var value: JSONValue?
    var object: [String: Node]?
    var array: [Node]?

    var finished: JSONValue? {
        if let object { return .object(object.compactMapValues(\.finished)) }
        if let array { return .array(array.map { $0.finished ?? .null }) }
        return value
    }
}

struct TreeEncoder: Encoder {
    let node: Node
    var codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.object == nil { node.object = [:] }
        return KeyedEncodingContainer(Keyed<Key>(node: node, codingPath: codingPath))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if node.array == nil { node.array = [] }
        return Unkeyed(node: node, codingPath: codingPath)
    }
    func singleValueContainer() -> SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }
}

/// Encodes one value into `node` (scalars directly; others through their own `encode(to:)`).
func encodeValue<T: Encodable>(_ value: T, into node: Node, codingPath: [CodingKey]) throws {
    switch value {
    case let v as Bool: node.value = .bool(v)
    case let v as Int: node.value = .int(v)
    case let v as Int32: node.value = .int(Int(v))
    case let v as Int64: node.value = .int(Int(v))
    case let v as UInt64: node.value = .int(Int(v))
    case let v as UInt32: node.value = .int(Int(v))
    case let v as Double: node.value = .double(v)
    case let v as Float: node.value = .double(Double(v))
    case let v as String: node.value = .string(v)
    case let v as JSONValue: node.value = v
    default:
        try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
        if node.value == nil && node.object == nil && node.array == nil { node.value = .object([:]) }
    }
}

private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    var codingPath: [CodingKey]

    func child(_ key: Key) -> Node { let n = Node(); node.object![key.stringValue] = n; return n }
    mutating func encodeNil(forKey key: Key) throws { child(key).value = .null }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: child(key), codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let n = child(key); n.object = [:]
        return KeyedEncodingContainer(Keyed<NestedKey>(node: n, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let n = child(key); n.array = []
        return Unkeyed(node: n, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> Encoder { TreeEncoder(node: node, codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder { TreeEncoder(node: child(key), codingPath: codingPath + [key]) }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue!)" }
    init(_ i: Int) { intValue = i }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct Unkeyed: UnkeyedEncodingContainer {
    let node: Node
    var codingPath: [CodingKey]
    var count: Int { node.array!.count }

    func next() -> Node { let n = Node(); node.array!.append(n); return n }
    mutating func encodeNil() throws { next().value = .null }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = IndexKey(count)
        try encodeValue(value, into: next(), codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let n = next(); n.object = [:]
        return KeyedEncodingContainer(Keyed<NestedKey>(node: n, codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let n = next(); n.array = []
        return Unkeyed(node: n, codingPath: codingPath)
    }
    mutating func superEncoder() -> Encoder { TreeEncoder(node: next(), codingPath: codingPath) }
}

private struct Single: SingleValueEncodingContainer {
    let node: Node
    var codingPath: [CodingKey]
    mutating func encodeNil() throws { node.value = .null }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: node, codingPath: codingPath) }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
