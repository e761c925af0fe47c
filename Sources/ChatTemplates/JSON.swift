// JSON in and out. Out: transformers' `tojson` filter, which is Python's
// `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)` (not Jinja's
// HTML-escaping tojson). In: an order-preserving parser, so tools and messages read from JSON keep
// their key order (it shows in `tojson` output); it refuses arrays and objects nested deeper than
// `maximumDepth` levels, so hostile JSON is an error, not a stack overflow.

import Support

/// Options of Python's `json.dumps` that templates pass to `tojson`.
struct JSONDumpOptions {
    var ensureASCII = false
    /// nil: compact on one line; else the string repeated per nesting level.
    var indent: String? = nil
    var itemSeparator = ", "
    var keySeparator = ": "
    var sortKeys = false

    /// Reads `tojson(ensure_ascii, indent, separators, sort_keys)` arguments (positional or keyword).
    init(_ arguments: TemplateArguments) throws {
        let args = MethodArguments("tojson", arguments)
        try args.expect(0...4)
        ensureASCII = try args.bool(0, "ensure_ascii", default: false)
        if let value = args.optional(1, "indent") {
            switch value {
            case .none: break
            case .string(let s): indent = s
            default:
                guard let n = value.integerIndex else {
                    throw RuntimeFailure(.type, "indent must be an int or a string, not \(value.pythonTypeName)")
                }
                try checkPaddingWidth(n)
                indent = String(repeating: " ", count: max(0, n))
            }
        }
        if indent != nil { itemSeparator = "," }
        if let value = args.optional(2, "separators"), value.isDefined, !value.isNone {
            guard let pair = value.sequenceElements, pair.count == 2,
                  case .string(let item) = pair[0], case .string(let key) = pair[1]
            else { throw RuntimeFailure(.type, "separators must be a pair of strings") }
            itemSeparator = item
            keySeparator = key
        }
        sortKeys = try args.bool(3, "sort_keys", default: false)
    }

    init() {}
}

/// Python `json.dumps` of a template value. During a render, fails with a `.limit` failure as soon as
/// the text passes the render's size limit (nested lists that share items can be huge in JSON).
func jsonDumps(_ value: TemplateValue, _ options: JSONDumpOptions) throws -> String {
    var out = ""
    try writeJSON(value, options, level: 0, sizeLimit: RenderMeter.current?.sizeLimit ?? Int.max, into: &out)
    return out
}

private func writeJSON(_ value: TemplateValue, _ options: JSONDumpOptions, level: Int, sizeLimit: Int, into out: inout String) throws {
    if out.utf8.count > sizeLimit { throw RuntimeFailure(.limit, "string longer than \(sizeLimit) bytes") }
    switch value {
    case .string(let s): writeJSONString(s, ensureASCII: options.ensureASCII, into: &out)
    case .int(let i): out += String(i)
    case .double(let d):
        if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += pythonFloatRepr(d) }
    case .bool(let b): out += b ? "true" : "false"
    case .none: out += "null"
    case .array(let items), .tuple(let items):
        if items.isEmpty { out += "[]"; return }
        out += "["
        let (separator, closing) = try layout(options, level: level, sizeLimit: sizeLimit, into: &out)
        for (i, item) in items.enumerated() {
            if i > 0 { out += separator }
            try writeJSON(item, options, level: level + 1, sizeLimit: sizeLimit, into: &out)
        }
        out += closing + "]"
    case .dictionary(let d):
        if d.isEmpty { out += "{}"; return }
        out += "{"
        let (separator, closing) = try layout(options, level: level, sizeLimit: sizeLimit, into: &out)
        var entries = Array(d)
        if options.sortKeys { entries.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } }
        for (i, (key, item)) in entries.enumerated() {
            if i > 0 { out += separator }
            writeJSONString(key, ensureASCII: options.ensureASCII, into: &out)
            out += options.keySeparator
            try writeJSON(item, options, level: level + 1, sizeLimit: sizeLimit, into: &out)
        }
        out += closing + "}"
    case .undefined:
        throw RuntimeFailure(.type, "Object of type Undefined is not JSON serializable")
    default:
        throw RuntimeFailure(.type, "Object of type \(value.pythonTypeName) is not JSON serializable")
    }
}

/// Writes the newline and indentation after an opening bracket; returns the item separator and
/// the text before the closing bracket.
private func layout(_ options: JSONDumpOptions, level: Int, sizeLimit: Int, into out: inout String) throws -> (String, String) {
    guard let indent = options.indent else { return (options.itemSeparator, "") }
    if indent.utf8.count.multipliedReportingOverflow(by: level + 1).partialValue > sizeLimit - out.utf8.count
        || indent.utf8.count.multipliedReportingOverflow(by: level + 1).overflow {
        throw RuntimeFailure(.limit, "string longer than \(sizeLimit) bytes")
    }
    let inner = "\n" + String(repeating: indent, count: level + 1)
    out += inner
    return (options.itemSeparator + inner, "\n" + String(repeating: indent, count: level))
}

// MARK: - Parsing

extension TemplateValue {
    /// Parses JSON text into a value, keeping object key order. Numbers without a fraction or
    /// exponent become `.int` (as Python's `json.loads` makes ints), others `.double`.
    ///
    /// - Parameter name: the name errors give the text (a file name, say); they are `.syntax`
    ///   `TemplateError`s with its line:column. Arrays and objects may nest 512 levels deep.
    public static func parseJSON(_ text: String, name: String = "json") throws -> TemplateValue {
        var parser = JSONParser(bytes: Array(text.utf8), name: name)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.failure("trailing characters") }
        return value
    }

    /// `json.dumps(value, ensure_ascii=False)` (with `indent`, when given, as a number of spaces).
    public func jsonString(indent: Int? = nil, sortKeys: Bool = false) throws -> String {
        var options = JSONDumpOptions()
        if let indent {
            options.indent = String(repeating: " ", count: max(0, indent))
            options.itemSeparator = ","
        }
        options.sortKeys = sortKeys
        do {
            return try jsonDumps(self, options)
        } catch let failure as RuntimeFailure {
            throw TemplateError(kind: failure.kind, message: failure.message, templateName: "json", line: 0, column: 0)
        }
    }
}

/// Recursive-descent JSON parser; `depth` counts the arrays and objects around a value.
private struct JSONParser {
    let bytes: [UInt8]
    let name: String
    var position = 0
    /// Arrays and objects nest at most this many levels.
    static let maximumDepth = 512

    init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    /// A syntax error at the current position, with its line and column (in scalars, 1-based).
    func failure(_ message: String) -> TemplateError {
        var line = 1, column = 1
        for byte in bytes[..<min(position, bytes.count)] {
            if byte == 0x0A { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return TemplateError(kind: .syntax, message: "invalid JSON at byte \(position): \(message)", templateName: name,
                             line: line, column: column)
    }

    /// Refuses an array or object inside `depth` others when that is more than `maximumDepth` levels.
    func checkNesting(_ depth: Int) throws {
        if depth >= Self.maximumDepth { throw failure("nesting deeper than \(Self.maximumDepth) levels") }
    }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func parseValue(depth: Int) throws -> TemplateValue {
        guard position < bytes.count else { throw failure("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            try checkNesting(depth)
            position += 1
            var dictionary = TemplateDictionary()
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .dictionary(dictionary) }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                let key = try parseString()
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                position += 1
                skipWhitespace()
                dictionary[key] = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard position < bytes.count else { throw failure("unexpected end") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .dictionary(dictionary) }
                throw failure("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            try checkNesting(depth)
            position += 1
            var items: [TemplateValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard position < bytes.count else { throw failure("unexpected end") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                throw failure("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        case UInt8(ascii: "N"): return try literal("NaN", .double(.nan))
        case UInt8(ascii: "I"): return try literal("Infinity", .double(.infinity))
        default:
            return try parseNumber()
        }
    }

    mutating func literal(_ word: String, _ value: TemplateValue) throws -> TemplateValue {
        let w = Array(word.utf8)
        guard position + w.count <= bytes.count, Array(bytes[position..<(position + w.count)]) == w else {
            throw failure("unexpected character")
        }
        position += w.count
        return value
    }

    mutating func parseNumber() throws -> TemplateValue {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "I") {
                _ = try literal("Infinity", .none)
                return .double(-.infinity)
            }
        }
        var isInteger = true
        while position < bytes.count {
            let c = bytes[position]
            if (c >= 48 && c <= 57) { position += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                isInteger = false
                position += 1
                continue
            }
            break
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard !text.isEmpty, text != "-", let d = Double(text) else { throw failure("invalid number") }
        return .double(d)
    }

    mutating func parseString() throws -> String {
        position += 1  // opening quote
        var out = String.UnicodeScalarView()
        var runStart = position
        func flushRun() {
            if runStart < position {
                out.append(contentsOf: String(decoding: bytes[runStart..<position], as: UTF8.self).unicodeScalars)
            }
        }
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                flushRun()
                position += 1
                return String(out)
            }
            if c != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            flushRun()
            position += 1
            guard position < bytes.count else { break }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\""): out.append("\"")
            case UInt8(ascii: "\\"): out.append("\\")
            case UInt8(ascii: "/"): out.append("/")
            case UInt8(ascii: "b"): out.append("\u{08}")
            case UInt8(ascii: "f"): out.append("\u{0C}")
            case UInt8(ascii: "n"): out.append("\n")
            case UInt8(ascii: "r"): out.append("\r")
            case UInt8(ascii: "t"): out.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code), position + 1 < bytes.count,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    let save = position
                    position += 2
                    let low = try hex4()
                    if (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position = save
                    }
                }
                guard let scalar = Unicode.Scalar(code) else { throw failure("lone surrogate \\u\(paddedHex(code, width: 4))") }
                out.append(scalar)
            default:
                throw failure("invalid escape")
            }
            runStart = position
        }
        throw failure("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count,
              let v = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16)
        else { throw failure("invalid \\u escape") }
        position += 4
        return v
    }
}
