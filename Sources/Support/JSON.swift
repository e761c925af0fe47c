// One JSON configuration for every file idpo writes: Encodable values become a `JSONValue` tree
// (`JSONValueEncoder`), written with sorted keys, unescaped non-ASCII and slashes, strings as
// Python's json.dumps(ensure_ascii=False) writes them, and floating-point numbers always as floats
// ("1.0", not "1") in their shortest exact form — so readers that infer column types (`datasets`)
// see floats, and Doubles round-trip bit for bit. Reading goes through `JSONFormat.decoder`
// (Foundation's JSONDecoder parses numbers from their exact text).

import Foundation

/// A JSON value as it is written: integers and floating-point numbers kept apart.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Compact JSON on one line (keys sorted).
    public var compactText: String { var out = ""; write(to: &out, indent: nil, level: 0); return out }

    /// Indented JSON, two spaces per level, `"key": value` (Python's json.dumps(indent=2, sort_keys=True)).
    public var prettyText: String { var out = ""; write(to: &out, indent: "  ", level: 0); return out }

    func write(to out: inout String, indent: String?, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): writeJSONString(s, ensureASCII: false, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                Self.newline(&out, indent, level + 1)
                item.write(to: &out, indent: indent, level: level + 1)
            }
            Self.newline(&out, indent, level)
            out += "]"
        case .object(let d):
            if d.isEmpty { out += "{}"; return }
            out += "{"
            for (i, key) in d.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                Self.newline(&out, indent, level + 1)
                writeJSONString(key, ensureASCII: false, into: &out)
                out += indent == nil ? ":" : ": "
                d[key]!.write(to: &out, indent: indent, level: level + 1)
            }
            Self.newline(&out, indent, level)
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ indent: String?, _ level: Int) {
        guard let indent else { return }
        out += "\n" + String(repeating: indent, count: level)
    }
}

/// The JSON configuration of every run file, report input and summary.
public enum JSONFormat {
    /// `value` as a JSON tree (see `JSONValueEncoder`).
    public static func tree<T: Encodable>(_ value: T) throws -> JSONValue { try JSONValueEncoder().encode(value) }

    /// One compact line (no newline).
    public static func line<T: Encodable>(_ value: T) throws -> String { try tree(value).compactText }

    /// JSON Lines: one compact record per line.
    public static func lines<T: Encodable>(_ values: [T]) throws -> Data {
        var out = ""
        for v in values { out += try line(v); out += "\n" }
        return Data(out.utf8)
    }

    /// An indented document ending with a newline (summary.json, manifest.json, evaluation.json).
    public static func pretty<T: Encodable>(_ value: T) throws -> Data { Data((try tree(value).prettyText + "\n").utf8) }

    /// The decoder every reader uses.
    public static var decoder: JSONDecoder { JSONDecoder() }

    /// A decoding error in words, naming the field by its path (`'prompt[0].role'`).
    public static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ keys: [CodingKey]) -> String {
            var out = ""
            for k in keys {
                if let i = k.intValue, k.stringValue.hasPrefix("Index") || Int(k.stringValue) == i { out += "[\(i)]" }
                else { out += out.isEmpty ? k.stringValue : "." + k.stringValue }
            }
            return out
        }
        func what(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type, is Int32.Type, is Int64.Type, is UInt64.Type: return "an integer"
            case is Double.Type, is Float.Type: return "a number"
            case is String.Type: return "a string"
            case is Bool.Type: return "true or false"
            default:
                let name = "\(type)"
                return name.hasPrefix("Array") || name.hasPrefix("[") ? "a list" : "an object"
            }
        }
        switch error {
        case .keyNotFound(let key, let c): return "missing '\(path(c.codingPath + [key]))'"
        case .typeMismatch(let type, let c):
            return c.codingPath.isEmpty ? "each line must be a JSON object" : "'\(path(c.codingPath))' must be \(what(type))"
        case .valueNotFound(let type, let c): return "'\(path(c.codingPath))' must be \(what(type)), not null"
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty { return "not valid JSON" }
            return "'\(path(c.codingPath))': \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// A problem a record's own decoding finds (beyond a field's type): the reader adds file and line.
public struct RecordError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Decoder {
    /// The field being decoded, as a path (`prompt`, `chosen[1]`), for record errors.
    public var fieldPath: String {
        codingPath.map { k in k.intValue.map { "[\($0)]" } ?? k.stringValue }.reduce("") { $0.isEmpty || $1.hasPrefix("[") ? $0 + $1 : $0 + "." + $1 }
    }
}

/// A JSON string literal as Python writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other
/// control characters as `\u00XX`; with `ensureASCII` also every non-ASCII scalar (and DEL) as
/// `\uXXXX`, using surrogate pairs above U+FFFF.
public func writeJSONString(_ s: String, ensureASCII: Bool, into out: inout String) {
    // Built as UTF-8 bytes: a printable scalar (most text) is one comparison and an append.
    var bytes: [UInt8] = []
    bytes.reserveCapacity(s.utf8.count + 2)
    bytes.append(0x22)
    func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
    for scalar in s.unicodeScalars {
        let v = scalar.value
        if v >= 0x20 && v != 0x22 && v != 0x5C && (v < 0x7F || !ensureASCII) {
            if v < 0x80 { bytes.append(UInt8(v)) } else { UTF8.encode(scalar) { bytes.append($0) } }
            continue
        }
        let escape: String
        switch v {
        case 0x22: escape = "\\\""
        case 0x5C: escape = "\\\\"
        case 0x0A: escape = "\\n"
        case 0x0D: escape = "\\r"
        case 0x09: escape = "\\t"
        case 0x08: escape = "\\b"
        case 0x0C: escape = "\\f"
        default:
            if v > 0xFFFF {
                let u = v - 0x10000
                escape = "\\u" + hex4(0xD800 + (u >> 10)) + "\\u" + hex4(0xDC00 + (u & 0x3FF))
            } else {
                escape = "\\u" + hex4(v)
            }
        }
        bytes.append(contentsOf: escape.utf8)
    }
    bytes.append(0x22)
    out += String(decoding: bytes, as: UTF8.self)
}
