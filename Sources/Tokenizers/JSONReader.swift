// A small, strict JSON reader for tokenizer files: parses a whole document into `JSONValue`, keeping
// object key order, and reports errors with the file, line and column. Faster than JSONSerialization
// on multi-megabyte vocabularies because it builds no Foundation objects. Arrays and objects nest at
// most `maximumDepth` levels, so a hostile file is an error, not a stack overflow.

import Foundation

/// A parsed JSON value. Objects keep their keys in document order.
enum JSONValue {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A short name of the value's kind, for error messages ("a string", "an object", …).
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    var isNull: Bool { if case .null = self { return true } else { return false } }
    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    /// The value as an integer when it is an integral number.
    var integerValue: Int64? {
        switch self {
        case .integer(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
        default: return nil
        }
    }
    var doubleValue: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// A JSON object: keys and values in document order. Lookups are linear, and the last duplicate wins
/// (as in serde_json); large objects such as vocabularies are iterated, not searched.
struct JSONObject {
    var keys: [String] = []
    var values: [JSONValue] = []

    var count: Int { keys.count }

    subscript(key: String) -> JSONValue? {
        var i = keys.count - 1
        while i >= 0 {
            if keys[i] == key { return values[i] }
            i -= 1
        }
        return nil
    }
}

/// Recursive-descent parser over UTF-8 bytes.
struct JSONReader {
    /// Arrays and objects nest at most this many levels: real tokenizer files use five or six, and
    /// 256 levels parse within 200 KiB of stack (a secondary thread may have only 512 KiB).
    static let maximumDepth = 256

    /// Parses `data` (the contents of `file`, named in errors).
    static func parse(_ data: Data, file: String) throws -> JSONValue {
        try data.withUnsafeBytes { raw -> JSONValue in
            let bytes = raw.bindMemory(to: UInt8.self)
            var reader = JSONReader(bytes: bytes, file: file)
            reader.skipWhitespace()
            let value = try reader.parseValue(depth: 0)
            reader.skipWhitespace()
            if reader.position != bytes.count { throw reader.error("unexpected characters after the JSON value") }
            return value
        }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let file: String
    private var position = 0
    private var scratch: [UInt8] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
    }

    @inline(never) private func error(_ message: String, at offset: Int? = nil) -> TokenizerError {
        let end = min(offset ?? position, bytes.count)
        var line = 1, column = 1
        for i in 0..<end {
            if bytes[i] == UInt8(ascii: "\n") { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
        }
        return .invalidJSON(file: file, line: line, column: column, message: message)
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// Parses the value at `position`; `depth` is the number of arrays and objects around it.
    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of file") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            try checkNesting(depth)
            return .object(try parseObject(depth: depth))
        case UInt8(ascii: "["):
            try checkNesting(depth)
            return .array(try parseArray(depth: depth))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw unexpectedCharacter()
        }
    }

    @inline(never) private func unexpectedCharacter() -> TokenizerError {
        error("unexpected character '\(printable(bytes[position]))'")
    }

    /// Refuses an array or object inside `depth` others when that is more than `maximumDepth` levels.
    @inline(never) private func checkNesting(_ depth: Int) throws {
        if depth >= JSONReader.maximumDepth { throw error("nesting deeper than \(JSONReader.maximumDepth) levels") }
    }

    private func printable(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : String(format: "\\x%02X", b)
    }

    @inline(never) private mutating func expectLiteral(_ literal: StaticString) throws {
        let start = position
        let n = literal.utf8CodeUnitCount
        let p = literal.utf8Start
        guard position + n <= bytes.count else { throw error("invalid literal", at: start) }
        for i in 0..<n where bytes[position + i] != p[i] { throw error("invalid literal", at: start) }
        position += n
    }

    // The containers are kept out of line so that each nesting level takes little stack.
    @inline(never) private mutating func parseObject(depth: Int) throws -> JSONObject {
        position += 1  // {
        var object = JSONObject()
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") { position += 1; return object }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key in an object")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            object.keys.append(key)
            object.values.append(value)
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of file inside an object") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return object }
            throw error("expected ',' or '}' in an object")
        }
    }

    @inline(never) private mutating func parseArray(depth: Int) throws -> [JSONValue] {
        position += 1  // [
        var array: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") { position += 1; return array }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of file inside an array") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return array }
            throw error("expected ',' or ']' in an array")
        }
    }

    @inline(never) private mutating func parseNumber() throws -> JSONValue {
        let start = position
        var isInteger = true
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 else { throw error("invalid number", at: start) }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            let digits = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
            if position == digits { throw error("invalid number", at: start) }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            let digits = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
            if position == digits { throw error("invalid number", at: start) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let i = Int64(text) { return .integer(i) }
        guard let d = Double(text) else { throw error("invalid number", at: start) }
        return .double(d)
    }

    /// Parses a string starting at the opening quote; validates UTF-8 and rejects raw control characters.
    @inline(never) private mutating func parseString() throws -> String {
        let start = position
        position += 1  // opening quote
        let contentStart = position
        // Fast path: no escapes and ASCII or valid multi-byte sequences.
        var hasEscape = false
        while true {
            guard position < bytes.count else { throw error("unterminated string", at: start) }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") { break }
            if b == UInt8(ascii: "\\") { hasEscape = true; break }
            if b < 0x20 { throw error("control character U+\(String(format: "%04X", b)) inside a string") }
            if b < 0x80 { position += 1; continue }
            position += try utf8SequenceLength(at: position)
        }
        if !hasEscape {
            let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[contentStart..<position]), as: UTF8.self)
            position += 1
            return s
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[contentStart..<position]))
        while true {
            guard position < bytes.count else { throw error("unterminated string", at: start) }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") { position += 1; break }
            if b < 0x20 { throw error("control character U+\(String(format: "%04X", b)) inside a string") }
            if b == UInt8(ascii: "\\") {
                position += 1
                guard position < bytes.count else { throw error("unterminated string", at: start) }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if code >= 0xD800 && code < 0xDC00 {
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error("lone surrogate \\u\(String(format: "%04X", code)) in a string")
                        }
                        position += 2
                        let low = try parseHex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw error("invalid surrogate pair in a string") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if code >= 0xDC00 && code < 0xE000 {
                        throw error("lone surrogate \\u\(String(format: "%04X", code)) in a string")
                    }
                    appendUTF8(code)
                default:
                    throw error("invalid escape '\\\(printable(e))' in a string", at: position - 2)
                }
                continue
            }
            if b < 0x80 { scratch.append(b); position += 1; continue }
            let n = try utf8SequenceLength(at: position)
            scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[position..<position + n]))
            position += n
        }
        return String(decoding: scratch, as: UTF8.self)
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            position += 1
        }
        return v
    }

    private mutating func appendUTF8(_ v: UInt32) {
        if v < 0x80 {
            scratch.append(UInt8(v))
        } else if v < 0x800 {
            scratch.append(UInt8(0xC0 | (v >> 6))); scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            scratch.append(UInt8(0xE0 | (v >> 12))); scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (v >> 18))); scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F))); scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Length of the well-formed UTF-8 sequence at `i`, or an error naming the offset.
    private func utf8SequenceLength(at i: Int) throws -> Int {
        let n = UTF8Validation.sequenceLength(bytes, at: i)
        if n == 0 { throw error("invalid UTF-8 byte 0x\(String(format: "%02X", bytes[i]))", at: i) }
        return n
    }
}

/// UTF-8 well-formedness (Unicode Table 3-7), shared by the JSON reader and the streaming decoder.
enum UTF8Validation {
    /// Number of bytes the lead byte `b` announces (0 for a byte that cannot start a sequence).
    @inline(__always) static func expectedLength(lead b: UInt8) -> Int {
        switch b {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 0
        }
    }

    /// The allowed range of the byte following `lead` (the second byte of the sequence).
    @inline(__always) static func secondByteRange(lead: UInt8) -> ClosedRange<UInt8> {
        switch lead {
        case 0xE0: return 0xA0...0xBF
        case 0xED: return 0x80...0x9F
        case 0xF0: return 0x90...0xBF
        case 0xF4: return 0x80...0x8F
        default: return 0x80...0xBF
        }
    }

    /// Length of the complete, well-formed sequence at `i` in `bytes`, or 0.
    static func sequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let lead = bytes[i]
        let n = expectedLength(lead: lead)
        if n <= 1 { return n }
        guard i + n <= bytes.count else { return 0 }
        if !secondByteRange(lead: lead).contains(bytes[i + 1]) { return 0 }
        var k = 2
        while k < n {
            if bytes[i + k] & 0xC0 != 0x80 { return 0 }
            k += 1
        }
        return n
    }
}
