// Splits a template into text and tag tokens exactly as Jinja's lexer does with transformers'
// settings: newlines normalised to "\n" and one trailing newline dropped, `{%- -%}`/`{{- -}}`/
// `{#- -#}` whitespace control, trim_blocks (one "\n" after `%}` and `#}`), lstrip_blocks
// (indentation before `{%` and `{#`), `{%+`/`+%}` overrides, raw blocks, and comments.

enum Operator: String {
    case add = "+", sub = "-", div = "/", floorDiv = "//", mul = "*", mod = "%", pow = "**", tilde = "~"
    case lbracket = "[", rbracket = "]", lparen = "(", rparen = ")", lbrace = "{", rbrace = "}"
    case eq = "==", ne = "!=", gt = ">", gteq = ">=", lt = "<", lteq = "<="
    case assign = "=", dot = ".", colon = ":", pipe = "|", comma = ",", semicolon = ";"
}

enum TokenKind: Equatable {
    case data(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(Operator)
    case end

    /// Jinja's `describe_token` wording, used in syntax errors.
    var description: String {
        switch self {
        case .data: return "template data / text"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let n): return n
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .op(let o): return o.rawValue
        case .end: return "end of template"
        }
    }
}

struct Token {
    let kind: TokenKind
    /// Scalar offset in the normalised source.
    let offset: Int
}

/// The template source after Jinja's newline handling, as scalars.
func normalizedTemplateScalars(_ source: String) -> [Unicode.Scalar] {
    var scalars: [Unicode.Scalar] = []
    scalars.reserveCapacity(source.unicodeScalars.count)
    var previousWasCR = false
    for scalar in source.unicodeScalars {
        if scalar == "\r" {
            scalars.append("\n")
            previousWasCR = true
            continue
        }
        if scalar == "\n" && previousWasCR {
            previousWasCR = false
            continue
        }
        previousWasCR = false
        scalars.append(scalar)
    }
    // keep_trailing_newline=False: one final newline is not part of the template.
    if scalars.last == "\n" { scalars.removeLast() }
    return scalars
}

struct Lexer {
    private let s: [Unicode.Scalar]
    private let locator: SourceLocator
    private let trimBlocks = true
    private let lstripBlocks = true
    private var pos = 0
    private var tokens: [Token] = []
    /// Whether the last match ended with a newline (Jinja's `line_starting`).
    private var lineStarting = true
    /// Closers expected for the brackets opened inside the current tag.
    private var balance: [Operator] = []

    init(scalars: [Unicode.Scalar], locator: SourceLocator) {
        self.s = scalars
        self.locator = locator
    }

    private enum TagKind { case variable, block, comment }

    mutating func tokenize() throws -> [Token] {
        while pos < s.count {
            guard let (tagStart, kind) = nextTagStart(from: pos) else {
                emitData(pos, s.count)
                pos = s.count
                break
            }
            let signIndex = tagStart + 2
            let sign: Unicode.Scalar? = signIndex < s.count && (s[signIndex] == "-" || s[signIndex] == "+") ? s[signIndex] : nil
            let rawBodyStart = kind == .block ? matchRawBegin(at: tagStart) : nil
            emitData(pos, stripText(from: pos, to: tagStart, sign: sign, isVariable: kind == .variable))
            if let rawBodyStart {
                pos = rawBodyStart
                lineStarting = s[rawBodyStart - 1] == "\n"
                try lexRawBody()
                continue
            }
            pos = tagStart + 2 + (sign == nil ? 0 : 1)
            lineStarting = false
            switch kind {
            case .comment:
                try skipComment(openedAt: tagStart)
            case .variable:
                tokens.append(Token(kind: .variableBegin, offset: tagStart))
                try lexTag(isBlock: false)
            case .block:
                tokens.append(Token(kind: .blockBegin, offset: tagStart))
                try lexTag(isBlock: true)
            }
        }
        tokens.append(Token(kind: .end, offset: s.count))
        return tokens
    }

    // MARK: text

    private func nextTagStart(from start: Int) -> (Int, TagKind)? {
        var i = start
        while i + 1 < s.count {
            if s[i] == "{" {
                switch s[i + 1] {
                case "{": return (i, .variable)
                case "%": return (i, .block)
                case "#": return (i, .comment)
                default: break
                }
            }
            i += 1
        }
        return nil
    }

    /// The end of the text before a tag after whitespace control: `-` strips all whitespace,
    /// lstrip_blocks strips the indentation of a block or comment tag that starts its line.
    private func stripText(from start: Int, to end: Int, sign: Unicode.Scalar?, isVariable: Bool) -> Int {
        if sign == "-" {
            var e = end
            while e > start, isPythonWhitespace(s[e - 1]) { e -= 1 }
            return e
        }
        guard sign != "+", lstripBlocks, !isVariable else { return end }
        var lineStart = end
        while lineStart > start, s[lineStart - 1] != "\n" { lineStart -= 1 }
        guard lineStart > start || lineStarting, lineStart < end else { return end }
        for i in lineStart..<end where !isPythonWhitespace(s[i]) { return end }
        return lineStart
    }

    private mutating func emitData(_ start: Int, _ end: Int) {
        guard end > start else { return }
        tokens.append(Token(kind: .data(String(scalars: s[start..<end])), offset: start))
    }

    // MARK: raw and comments

    /// If `{% raw %}` (with optional `-`/`+` and `-%}`) starts at `i`, the offset after it.
    private func matchRawBegin(at i: Int) -> Int? {
        var p = i + 2
        if p < s.count, s[p] == "-" || s[p] == "+" { p += 1 }
        while p < s.count, isPythonWhitespace(s[p]) { p += 1 }
        guard matches("raw", at: p) else { return nil }
        p += 3
        while p < s.count, isPythonWhitespace(s[p]) { p += 1 }
        if matches("-%}", at: p) {
            p += 3
            while p < s.count, isPythonWhitespace(s[p]) { p += 1 }
            return p
        }
        return matches("%}", at: p) ? p + 2 : nil
    }

    private mutating func lexRawBody() throws {
        var i = pos
        while i + 1 < s.count {
            if s[i] == "{" && s[i + 1] == "%" {
                var p = i + 2
                var sign: Unicode.Scalar? = nil
                if p < s.count, s[p] == "-" || s[p] == "+" { sign = s[p]; p += 1 }
                while p < s.count, isPythonWhitespace(s[p]) { p += 1 }
                if matches("endraw", at: p) {
                    p += 6
                    while p < s.count, isPythonWhitespace(s[p]) { p += 1 }
                    if let end = matchBlockEnd(at: p) {
                        emitData(pos, stripText(from: pos, to: i, sign: sign, isVariable: false))
                        pos = end
                        lineStarting = s[end - 1] == "\n"
                        return
                    }
                }
            }
            i += 1
        }
        throw locator.error(.syntax, "Missing end of raw directive", at: pos)
    }

    private mutating func skipComment(openedAt start: Int) throws {
        var i = pos
        while i + 1 < s.count {
            if (s[i] == "+" || s[i] == "-"), i + 2 < s.count, s[i + 1] == "#", s[i + 2] == "}" {
                var end = i + 3
                if s[i] == "-" { while end < s.count, isPythonWhitespace(s[end]) { end += 1 } }
                finishComment(at: end)
                return
            }
            if s[i] == "#" && s[i + 1] == "}" {
                var end = i + 2
                if trimBlocks, end < s.count, s[end] == "\n" { end += 1 }
                finishComment(at: end)
                return
            }
            i += 1
        }
        throw locator.error(.syntax, "Missing end of comment tag", at: start)
    }

    private mutating func finishComment(at end: Int) {
        pos = end
        lineStarting = s[end - 1] == "\n"
    }

    // MARK: tags

    /// `+%}`, `-%}` plus whitespace, or `%}` plus one newline (trim_blocks): the offset after it.
    private func matchBlockEnd(at p: Int) -> Int? {
        if matches("+%}", at: p) { return p + 3 }
        if matches("-%}", at: p) {
            var end = p + 3
            while end < s.count, isPythonWhitespace(s[end]) { end += 1 }
            return end
        }
        if matches("%}", at: p) {
            return trimBlocks && p + 2 < s.count && s[p + 2] == "\n" ? p + 3 : p + 2
        }
        return nil
    }

    private func matchVariableEnd(at p: Int) -> Int? {
        if matches("-}}", at: p) {
            var end = p + 3
            while end < s.count, isPythonWhitespace(s[end]) { end += 1 }
            return end
        }
        return matches("}}", at: p) ? p + 2 : nil
    }

    private mutating func lexTag(isBlock: Bool) throws {
        balance.removeAll()
        while pos < s.count {
            if balance.isEmpty, let end = isBlock ? matchBlockEnd(at: pos) : matchVariableEnd(at: pos) {
                tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, offset: pos))
                pos = end
                lineStarting = s[end - 1] == "\n"
                return
            }
            let c = s[pos]
            if isPythonWhitespace(c) {
                pos += 1
                continue
            }
            let start = pos
            if let (value, end) = matchFloat(at: pos) {
                tokens.append(Token(kind: .float(value), offset: start))
                pos = end
            } else if let (value, end) = try matchInteger(at: pos) {
                tokens.append(Token(kind: .integer(value), offset: start))
                pos = end
            } else if isNameStart(c) {
                var end = pos + 1
                while end < s.count, isNameContinue(s[end]) { end += 1 }
                tokens.append(Token(kind: .name(String(scalars: s[pos..<end])), offset: start))
                pos = end
            } else if c == "'" || c == "\"", let end = matchString(at: pos) {
                let value: String
                do {
                    value = try decodeStringLiteral(s[(pos + 1)..<(end - 1)])
                } catch let failure as RuntimeFailure {
                    throw locator.error(.syntax, failure.message, at: start)
                }
                tokens.append(Token(kind: .string(value), offset: start))
                pos = end
            } else if let op = matchOperator(at: pos) {
                try trackBalance(op, at: start)
                tokens.append(Token(kind: .op(op), offset: start))
                pos += op.rawValue.unicodeScalars.count
            } else {
                throw locator.error(.syntax, "unexpected char \(pythonRepr(String(c))) at \(pos)", at: start)
            }
        }
        // End of input inside a tag: the parser reports what it was expecting.
    }

    private mutating func trackBalance(_ op: Operator, at offset: Int) throws {
        switch op {
        case .lbrace: balance.append(.rbrace)
        case .lparen: balance.append(.rparen)
        case .lbracket: balance.append(.rbracket)
        case .rbrace, .rparen, .rbracket:
            guard let expected = balance.popLast() else {
                throw locator.error(.syntax, "unexpected '\(op.rawValue)'", at: offset)
            }
            if expected != op {
                throw locator.error(.syntax, "unexpected '\(op.rawValue)', expected '\(expected.rawValue)'", at: offset)
            }
        default: break
        }
    }

    // MARK: token patterns

    private func matches(_ literal: String, at p: Int) -> Bool {
        var i = p
        for scalar in literal.unicodeScalars {
            guard i < s.count, s[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    private func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }

    /// `\d+(_\d+)*` starting at `p`: the end offset.
    private func matchDigits(at p: Int) -> Int? {
        guard p < s.count, isDigit(s[p]) else { return nil }
        var i = p + 1
        while i < s.count {
            if isDigit(s[i]) { i += 1 } else if s[i] == "_", i + 1 < s.count, isDigit(s[i + 1]) { i += 2 } else { break }
        }
        return i
    }

    /// Jinja's float pattern: digits with a fraction, an exponent, or both (not after a `.`).
    private func matchFloat(at p: Int) -> (Double, Int)? {
        if p > 0, s[p - 1] == "." { return nil }
        guard let integerEnd = matchDigits(at: p) else { return nil }
        var end = integerEnd
        var hasFraction = false, hasExponent = false
        if end < s.count, s[end] == ".", let fractionEnd = matchDigits(at: end + 1) {
            end = fractionEnd
            hasFraction = true
        }
        if end < s.count, s[end] == "e" || s[end] == "E" {
            var q = end + 1
            if q < s.count, s[q] == "+" || s[q] == "-" { q += 1 }
            if let exponentEnd = matchDigits(at: q) {
                end = exponentEnd
                hasExponent = true
            }
        }
        guard hasFraction || hasExponent else { return nil }
        let text = String(scalars: s[p..<end].filter { $0 != "_" })
        guard let value = Double(text) else { return nil }
        return (value, end)
    }

    /// Jinja's integer pattern: `0b…`, `0o…`, `0x…` (with `_` separators), decimal, or zeros.
    private func matchInteger(at p: Int) throws -> (Int, Int)? {
        guard p < s.count, isDigit(s[p]) else { return nil }
        func prefixed(_ radix: Int, _ isValid: (Unicode.Scalar) -> Bool) -> Int? {
            var i = p + 2
            var any = false
            while i < s.count {
                if isValid(s[i]) { i += 1; any = true } else if s[i] == "_", i + 1 < s.count, isValid(s[i + 1]) { i += 2; any = true } else { break }
            }
            return any ? i : nil
        }
        var end: Int?
        var radix = 10
        var digitsStart = p
        if s[p] == "0", p + 1 < s.count {
            switch s[p + 1] {
            case "b", "B": radix = 2; end = prefixed(2) { $0 == "0" || $0 == "1" }
            case "o", "O": radix = 8; end = prefixed(8) { $0.value >= 48 && $0.value <= 55 }
            case "x", "X": radix = 16; end = prefixed(16) { $0.properties.isASCIIHexDigit }
            default: break
            }
            if end != nil { digitsStart = p + 2 } else { radix = 10 }
        }
        if end == nil {
            if s[p] == "0" {
                var i = p + 1
                while i < s.count {
                    if s[i] == "0" { i += 1 } else if s[i] == "_", i + 1 < s.count, s[i + 1] == "0" { i += 2 } else { break }
                }
                end = i
            } else {
                end = matchDigits(at: p)
            }
        }
        guard let end else { return nil }
        let digits = String(scalars: s[digitsStart..<end].filter { $0 != "_" })
        guard let value = Int(digits, radix: radix) else {
            throw locator.error(.syntax, "integer literal too large: \(String(scalars: s[p..<end]))", at: p)
        }
        return (value, end)
    }

    private func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value < 0x80 ? c.properties.isAlphabetic : c.properties.isXIDStart)
    }

    private func isNameContinue(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value < 0x80 ? (c.properties.isAlphabetic || isDigit(c)) : c.properties.isXIDContinue)
    }

    /// A quoted string starting at `p` (backslash escapes any character): the offset after it.
    private func matchString(at p: Int) -> Int? {
        let quote = s[p]
        var i = p + 1
        while i < s.count {
            if s[i] == "\\" { i += 2; continue }
            if s[i] == quote { return i + 1 }
            i += 1
        }
        return nil
    }

    private static let twoCharacterOperators: [String: Operator] = [
        "//": .floorDiv, "**": .pow, "==": .eq, "!=": .ne, ">=": .gteq, "<=": .lteq,
    ]

    private func matchOperator(at p: Int) -> Operator? {
        if p + 1 < s.count, let op = Self.twoCharacterOperators[String(scalars: s[p...(p + 1)])] { return op }
        return Operator(rawValue: String(s[p]))
    }
}

/// The value of a string literal's body, decoded as Jinja does: the text is made ASCII with
/// Python's `backslashreplace`, then decoded with the `unicode-escape` codec.
func decodeStringLiteral(_ body: ArraySlice<Unicode.Scalar>) throws -> String {
    // backslashreplace: every non-ASCII scalar becomes its \x / \u / \U escape text.
    var ascii: [UInt8] = []
    ascii.reserveCapacity(body.count)
    var hasBackslash = false
    for scalar in body {
        if scalar.value < 0x80 {
            if scalar == "\\" { hasBackslash = true }
            ascii.append(UInt8(scalar.value))
        } else {
            let v = scalar.value
            let escape = v <= 0xFF ? "\\x" + paddedHex(v, width: 2) : v <= 0xFFFF ? "\\u" + paddedHex(v, width: 4) : "\\U" + paddedHex(v, width: 8)
            ascii.append(contentsOf: escape.utf8)
        }
    }
    if !hasBackslash { return String(scalars: body) }
    var out = String.UnicodeScalarView()
    var i = 0
    func hexValue(_ count: Int, _ label: String) throws -> UInt32 {
        guard i + count <= ascii.count,
              let v = UInt32(String(decoding: ascii[i..<(i + count)], as: UTF8.self), radix: 16),
              ascii[i..<(i + count)].allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 102) })
        else { throw RuntimeFailure(.syntax, "truncated \(label) escape") }
        i += count
        return v
    }
    func append(_ v: UInt32) throws {
        guard let scalar = Unicode.Scalar(v) else {
            throw RuntimeFailure(.syntax, "string literal with a lone surrogate or invalid code point \\u\(paddedHex(v, width: 4))")
        }
        out.append(scalar)
    }
    while i < ascii.count {
        let c = ascii[i]
        i += 1
        if c != UInt8(ascii: "\\") {
            out.append(Unicode.Scalar(c))
            continue
        }
        guard i < ascii.count else { throw RuntimeFailure(.syntax, "\\ at end of string") }
        let e = ascii[i]
        i += 1
        switch e {
        case UInt8(ascii: "\n"): break
        case UInt8(ascii: "\\"): out.append("\\")
        case UInt8(ascii: "'"): out.append("'")
        case UInt8(ascii: "\""): out.append("\"")
        case UInt8(ascii: "a"): out.append("\u{07}")
        case UInt8(ascii: "b"): out.append("\u{08}")
        case UInt8(ascii: "f"): out.append("\u{0C}")
        case UInt8(ascii: "n"): out.append("\n")
        case UInt8(ascii: "r"): out.append("\r")
        case UInt8(ascii: "t"): out.append("\t")
        case UInt8(ascii: "v"): out.append("\u{0B}")
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var v = UInt32(e - 48)
            var n = 1
            while n < 3, i < ascii.count, ascii[i] >= 48, ascii[i] <= 55 {
                v = v * 8 + UInt32(ascii[i] - 48)
                i += 1
                n += 1
            }
            try append(v)
        case UInt8(ascii: "x"): try append(try hexValue(2, "\\xXX"))
        case UInt8(ascii: "u"): try append(try hexValue(4, "\\uXXXX"))
        case UInt8(ascii: "U"):
            let v = try hexValue(8, "\\UXXXXXXXX")
            guard v <= 0x10FFFF else { throw RuntimeFailure(.syntax, "illegal Unicode character") }
            try append(v)
        case UInt8(ascii: "N"):
            throw RuntimeFailure(.syntax, "\\N{…} escapes are not supported")
        default:
            out.append("\\")
            out.append(Unicode.Scalar(e))
        }
    }
    return String(out)
}
