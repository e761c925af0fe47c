// Python's text semantics that chat templates depend on: which characters are whitespace
// (str.strip, str.split, the lexer's `-` stripping), str() and repr() of values, and float repr.

/// Python's `str.isspace()` for one scalar (the set `str.strip()` and regex `\s` use):
/// ASCII whitespace, U+001C–U+001F, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
/// U+202F, U+205F and U+3000.
@inline(__always)
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    let v = scalar.value
    if v < 0x80 { return (v >= 0x09 && v <= 0x0D) || (v >= 0x1C && v <= 0x20) }
    switch v {
    case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
    default: return false
    }
}

/// Python's line boundaries for `str.splitlines()`.
@inline(__always)
func isPythonLineBreak(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
    default: return false
    }
}

extension String {
    /// `String` from a slice of scalars.
    init<S: Sequence>(scalars: S) where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self.init(view)
    }
}

/// Python `str.strip()` / `lstrip()` / `rstrip()`: without `characters`, strips Python whitespace.
func pythonStrip(_ text: String, characters: String? = nil, leading: Bool = true, trailing: Bool = true) -> String {
    let scalars = text.unicodeScalars
    let set = characters.map { Set($0.unicodeScalars) }
    let strip: (Unicode.Scalar) -> Bool = set.map { s in { s.contains($0) } } ?? isPythonWhitespace
    var start = scalars.startIndex
    var end = scalars.endIndex
    if leading { while start < end, strip(scalars[start]) { start = scalars.index(after: start) } }
    if trailing {
        while end > start {
            let before = scalars.index(before: end)
            if !strip(scalars[before]) { break }
            end = before
        }
    }
    if start == scalars.startIndex && end == scalars.endIndex { return text }
    return String(scalars[start..<end])
}

/// Python `str.split(sep, maxsplit)`; `separator == nil` splits on runs of whitespace.
func pythonSplit(_ text: String, separator: String?, maxSplit: Int = -1) throws -> [String] {
    let scalars = Array(text.unicodeScalars)
    var parts: [String] = []
    if let separator {
        let sep = Array(separator.unicodeScalars)
        if sep.isEmpty { throw RuntimeFailure(.type, "empty separator") }
        var start = 0, i = 0
        while i + sep.count <= scalars.count {
            if maxSplit >= 0 && parts.count >= maxSplit { break }
            if scalars[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(String(scalars: scalars[start..<i]))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(String(scalars: scalars[start...]))
        return parts
    }
    var i = 0
    while i < scalars.count {
        while i < scalars.count, isPythonWhitespace(scalars[i]) { i += 1 }
        if i == scalars.count { break }
        if maxSplit >= 0 && parts.count >= maxSplit {
            var end = scalars.count
            while end > i, isPythonWhitespace(scalars[end - 1]) { end -= 1 }
            parts.append(String(scalars: scalars[i..<end]))
            return parts
        }
        let start = i
        while i < scalars.count, !isPythonWhitespace(scalars[i]) { i += 1 }
        parts.append(String(scalars: scalars[start..<i]))
    }
    return parts
}

/// Python `str.rsplit(sep, maxsplit)`.
func pythonRSplit(_ text: String, separator: String?, maxSplit: Int = -1) throws -> [String] {
    if maxSplit < 0 { return try pythonSplit(text, separator: separator) }
    // Splitting the reversed text from the left is splitting from the right.
    let reversedText = String(scalars: text.unicodeScalars.reversed())
    let reversedSeparator = separator.map { String(scalars: $0.unicodeScalars.reversed()) }
    return try pythonSplit(reversedText, separator: reversedSeparator, maxSplit: maxSplit)
        .reversed().map { String(scalars: $0.unicodeScalars.reversed()) }
}

/// Python `str.splitlines(keepends=False)`.
func pythonSplitLines(_ text: String) -> [String] {
    let scalars = Array(text.unicodeScalars)
    var lines: [String] = []
    var start = 0, i = 0
    while i < scalars.count {
        if isPythonLineBreak(scalars[i]) {
            lines.append(String(scalars: scalars[start..<i]))
            if scalars[i] == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
            i += 1
            start = i
        } else {
            i += 1
        }
    }
    if start < scalars.count { lines.append(String(scalars: scalars[start...])) }
    return lines
}

/// Byte offsets of every occurrence of `needle` in `haystack` (UTF-8 search equals scalar search).
func occurrences(of needle: [UInt8], in haystack: [UInt8], limit: Int = Int.max) -> [Int] {
    guard !needle.isEmpty, needle.count <= haystack.count else { return [] }
    var found: [Int] = []
    var i = 0
    let first = needle[0]
    while i + needle.count <= haystack.count && found.count < limit {
        if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) {
            found.append(i)
            i += needle.count
        } else {
            i += 1
        }
    }
    return found
}

/// Python `str.replace(old, new, count)`.
///
/// Throws a `.limit` failure, before building anything, when the result would be longer than the
/// render's size limit (`checkBuiltSize`).
func pythonReplace(_ text: String, _ old: String, _ new: String, count: Int = -1) throws -> String {
    let limit = count < 0 ? Int.max : count
    if old.isEmpty {
        let insertions = Swift.min(limit, text.unicodeScalars.count + 1)
        try checkBuiltSize(text.utf8.count + insertions &* new.utf8.count)
        // Python inserts `new` before every character and at the end.
        var result = ""
        var inserted = 0
        for scalar in text.unicodeScalars {
            if inserted < limit { result += new; inserted += 1 }
            result.unicodeScalars.append(scalar)
        }
        if inserted < limit { result += new }
        return result
    }
    let haystack = Array(text.utf8)
    let hits = occurrences(of: Array(old.utf8), in: haystack, limit: limit)
    if hits.isEmpty { return text }
    try checkBuiltSize(haystack.count + hits.count &* (new.utf8.count - old.utf8.count))
    var bytes: [UInt8] = []
    bytes.reserveCapacity(haystack.count)
    var last = 0
    let oldLength = old.utf8.count
    for hit in hits {
        bytes.append(contentsOf: haystack[last..<hit])
        bytes.append(contentsOf: new.utf8)
        last = hit + oldLength
    }
    bytes.append(contentsOf: haystack[last...])
    return String(decoding: bytes, as: UTF8.self)
}

/// Python `needle in text` for strings.
func pythonContains(_ text: String, _ needle: String) -> Bool {
    if needle.isEmpty { return true }
    return !occurrences(of: Array(needle.utf8), in: Array(text.utf8), limit: 1).isEmpty
}

/// Python `str.find`, in scalar offsets (or -1); `fromEnd` gives `rfind`.
func pythonFind(_ text: String, _ needle: String, fromEnd: Bool = false) -> Int {
    let scalars = Array(text.unicodeScalars), sub = Array(needle.unicodeScalars)
    if sub.count > scalars.count { return -1 }
    let starts = Array(0...(scalars.count - sub.count))
    for i in (fromEnd ? starts.reversed() : starts) where scalars[i..<(i + sub.count)].elementsEqual(sub) { return i }
    return -1
}

/// Python `str.count(sub)` (non-overlapping).
func pythonCount(_ text: String, _ needle: String) -> Int {
    if needle.isEmpty { return text.unicodeScalars.count + 1 }
    return occurrences(of: Array(needle.utf8), in: Array(text.utf8)).count
}

/// Python `str.startswith` / `str.endswith` by scalars.
func pythonHasPrefix(_ text: String, _ prefix: String) -> Bool {
    text.utf8.starts(with: prefix.utf8)
}

func pythonHasSuffix(_ text: String, _ suffix: String) -> Bool {
    text.utf8.reversed().starts(with: suffix.utf8.reversed())
}

// MARK: - Case mapping

/// Python `str.upper()` / `str.lower()` (full Unicode mappings, e.g. ß → SS).
func pythonUpper(_ text: String) -> String { text.uppercased() }
func pythonLower(_ text: String) -> String { text.lowercased() }

private func titlecase(_ scalar: Unicode.Scalar) -> String { scalar.properties.titlecaseMapping }

/// Python `str.capitalize()`: first character titlecased, the rest lowercased.
func pythonCapitalize(_ text: String) -> String {
    var scalars = text.unicodeScalars.makeIterator()
    guard let first = scalars.next() else { return "" }
    var rest = String.UnicodeScalarView()
    while let s = scalars.next() { rest.append(s) }
    return titlecase(first) + String(rest).lowercased()
}

/// Python `str.title()`: a cased character after an uncased one is titlecased, others lowercased.
func pythonTitle(_ text: String) -> String {
    var result = ""
    var previousIsCased = false
    for scalar in text.unicodeScalars {
        if previousIsCased {
            result += scalar.properties.lowercaseMapping
        } else {
            result += titlecase(scalar)
        }
        previousIsCased = scalar.properties.isCased
    }
    return result
}

// MARK: - repr and str

/// Python `repr()` of a string: single quotes unless the text has `'` and no `"`, with
/// backslash escapes for the quote, backslash, control and non-printable characters.
func pythonRepr(_ text: String) -> String {
    var hasSingle = false, hasDouble = false
    for byte in text.utf8 {
        if byte == 0x27 { hasSingle = true } else if byte == 0x22 { hasDouble = true }
    }
    let quote: UInt8 = hasSingle && !hasDouble ? 0x22 : 0x27
    // Built as UTF-8 bytes: printable ASCII (most text) is one comparison and one append.
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count + 2)
    out.append(quote)
    for scalar in text.unicodeScalars {
        let v = scalar.value
        if v >= 0x20 && v < 0x7F {
            if v == UInt32(quote) || v == 0x5C { out.append(0x5C) }
            out.append(UInt8(v))
            continue
        }
        switch scalar {
        case "\t": out.append(0x5C); out.append(UInt8(ascii: "t"))
        case "\n": out.append(0x5C); out.append(UInt8(ascii: "n"))
        case "\r": out.append(0x5C); out.append(UInt8(ascii: "r"))
        default:
            if v >= 0x80 && isPythonPrintable(scalar) {
                UTF8.encode(scalar) { out.append($0) }
            } else {
                out.append(contentsOf: hexEscape(scalar).utf8)
            }
        }
    }
    out.append(quote)
    return String(decoding: out, as: UTF8.self)
}

/// Python's `\xhh`, `\uhhhh` or `\Uhhhhhhhh` escape of a scalar.
private func hexEscape(_ scalar: Unicode.Scalar) -> String {
    let v = scalar.value
    if v <= 0xFF { return "\\x" + paddedHex(v, width: 2) }
    if v <= 0xFFFF { return "\\u" + paddedHex(v, width: 4) }
    return "\\U" + paddedHex(v, width: 8)
}

func paddedHex(_ value: UInt32, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// Python's `str.isprintable()` for one scalar: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, or Zs
/// (except the space).
private func isPythonPrintable(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " { return true }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
        return false
    default:
        return true
    }
}

/// Python `repr(float)`: the shortest digits that round-trip, in fixed notation when the decimal
/// exponent is in -4 ..< 16, else scientific (`1e+16`, `1e-05`), always with a `.0` or exponent.
func pythonFloatRepr(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
    // Swift's description also prints the shortest round-trip digits; re-layout them Python's way.
    let (negative, digits, exponent) = shortestDigits(value)
    // value = 0.d1d2d3… × 10^decimalPoint
    let decimalPoint = exponent + 1
    var text = negative ? "-" : ""
    if decimalPoint > -4 && decimalPoint <= 16 {
        if decimalPoint <= 0 {
            text += "0." + String(repeating: "0", count: -decimalPoint) + digits
        } else if decimalPoint >= digits.count {
            text += digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
        } else {
            let cut = digits.index(digits.startIndex, offsetBy: decimalPoint)
            text += digits[..<cut] + "." + digits[cut...]
        }
    } else {
        let first = digits.prefix(1), rest = digits.dropFirst()
        text += first + (rest.isEmpty ? "" : "." + rest)
        let e = decimalPoint - 1
        text += (e < 0 ? "e-" : "e+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
    }
    return text
}

/// Shortest round-trip decimal digits of a finite non-zero double: (sign, digits without leading
/// or trailing zeros, exponent of the first digit).
private func shortestDigits(_ value: Double) -> (Bool, String, Int) {
    let description = abs(value).description  // e.g. "1234.5", "1e-05", "1.2345e+17", "5e-324"
    var mantissa = Substring(description)
    var exponent = 0
    if let e = description.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = description[..<e]
        exponent = Int(description[description.index(after: e)...])!
    }
    var digits = ""
    var pointPosition = mantissa.count
    for (i, ch) in mantissa.enumerated() {
        if ch == "." { pointPosition = i } else { digits.append(ch) }
    }
    // Position of the first digit relative to the point.
    var leadingZeros = 0
    for ch in digits { if ch == "0" { leadingZeros += 1 } else { break } }
    digits.removeFirst(leadingZeros)
    while digits.hasSuffix("0") { digits.removeLast() }
    let firstDigitExponent = pointPosition - 1 - leadingZeros + exponent
    return (value < 0, digits.isEmpty ? "0" : digits, firstDigitExponent)
}

extension TemplateValue {
    /// Python `str()` as Jinja prints it: `None`, `True`, `1.0`, `['a', 1]`; undefined is "".
    public var pythonString: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return pythonFloatRepr(d)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .undefined: return ""
        default: return pythonRepr
        }
    }

    /// Python `repr()`.
    ///
    /// During a render, printing a list or dictionary charges the render's meter and stops early
    /// (the render then fails with a `.limit` error) once the text passes the size limit: a list
    /// holding one large string many times would otherwise print into gigabytes.
    public var pythonRepr: String {
        var printing = Set<ObjectIdentifier>()
        return repr(printing: &printing, meter: RenderMeter.current)
    }

    /// The reprs of `items` joined with ", ", stopping early when the meter runs out.
    private static func reprItems(_ items: [TemplateValue], printing: inout Set<ObjectIdentifier>, meter: RenderMeter?) -> String {
        if let meter, meter.isExhausted { return "" }
        var text = ""
        for (k, item) in items.enumerated() {
            if k > 0 { text += ", " }
            text += item.repr(printing: &printing, meter: meter)
            if stopPrinting(text, meter) { break }
        }
        return text
    }

    /// Charges the text printed so far and tells whether to stop: the meter ran out, or the text
    /// passed the render's size limit (which exhausts the meter with that reason).
    private static func stopPrinting(_ text: String, _ meter: RenderMeter?) -> Bool {
        guard let meter else { return false }
        if text.utf8.count > meter.sizeLimit { meter.exhaust("string longer than \(meter.sizeLimit) bytes") }
        return meter.isExhausted
    }

    /// `repr` that prints a namespace already being printed as `{...}`, as Python does for
    /// self-referencing containers.
    private func repr(printing: inout Set<ObjectIdentifier>, meter: RenderMeter?) -> String {
        switch self {
        case .string(let s): return ChatTemplates.pythonRepr(s)
        case .int, .double, .bool, .none: return pythonString
        case .array(let items):
            return "[" + TemplateValue.reprItems(items, printing: &printing, meter: meter) + "]"
        case .tuple(let items):
            if items.count == 1 { return "(" + items[0].repr(printing: &printing, meter: meter) + ",)" }
            return "(" + TemplateValue.reprItems(items, printing: &printing, meter: meter) + ")"
        case .dictionary(let d):
            if let meter, meter.isExhausted { return "" }
            var text = ""
            for (key, value) in d {
                if !text.isEmpty { text += ", " }
                text += ChatTemplates.pythonRepr(key) + ": " + value.repr(printing: &printing, meter: meter)
                if TemplateValue.stopPrinting(text, meter) { break }
            }
            return "{" + text + "}"
        case .undefined: return "Undefined"
        case .namespace(let ns):
            let id = ObjectIdentifier(ns)
            if printing.contains(id) { return "<Namespace {...}>" }
            printing.insert(id)
            defer { printing.remove(id) }
            return "<Namespace " + TemplateValue.dictionary(ns.attributes).repr(printing: &printing, meter: meter) + ">"
        case .object(let o): return "<\(o.typeName) object>"
        case .callable(let c): return c.isMacro ? "<Macro \(ChatTemplates.pythonRepr(c.name))>" : "<function \(c.name)>"
        }
    }
}
