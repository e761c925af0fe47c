// Jinja's builtin filters that chat templates use, with transformers' `tojson`. Each follows the
// Python implementation's behaviour, including on undefined values (`x|trim` of an undefined
// value is "", `x|length` is 0, `x|default('d')` is 'd').

import Foundation
import Support

enum Filter: String, CaseIterable {
    case abs, capitalize, `default`, escape, first, float, indent, int, items, join, last, length, list
    case lower, map, max, min, reject, rejectattr, replace, reverse, round, safe, select, selectattr
    case sort, string, sum, title, tojson, trim, unique, upper, wordcount, format

    init?(name: String) {
        switch name {
        case "d": self = .default
        case "e": self = .escape
        case "count": self = .length
        default: self.init(rawValue: name)
        }
    }

    /// Jinja builtin filters this interpreter does not implement (an `unsupported` error, not
    /// "No filter named …").
    static let jinjaOnlyNames: Set<String> = [
        "attr", "batch", "center", "dictsort", "filesizeformat", "forceescape", "groupby",
        "pprint", "random", "slice", "striptags", "truncate", "urlencode", "urlize", "wordwrap", "xmlattr",
    ]
}

/// Soft string conversion (`soft_str`): strings unchanged, everything else through `str()`.
private func text(_ value: TemplateValue) -> String { value.pythonString }

/// Jinja's `make_attrgetter`: `"a.b.0"` looks up `a`, then `b`, then index 0, with subscript
/// semantics (key first, then attribute).
func attributeGetter(_ path: TemplateValue) throws -> (TemplateValue) throws -> TemplateValue {
    let parts: [TemplateValue]
    switch path {
    case .string(let s):
        parts = s.split(separator: ".", omittingEmptySubsequences: false).map { part in
            if let i = Int(part), part.allSatisfy(\.isNumber) { return .int(i) }
            return .string(String(part))
        }
    case .int: parts = [path]
    default: parts = [path]
    }
    return { item in
        var value = item
        for part in parts { value = try getItem(value, part) }
        return value
    }
}

private func postProcessCaseInsensitive(_ value: TemplateValue, caseSensitive: Bool) -> TemplateValue {
    if !caseSensitive, case .string(let s) = value { return .string(pythonLower(s)) }
    return value
}

/// Applies a filter to a value.
func applyFilter(_ filter: Filter, _ value: TemplateValue, _ arguments: TemplateArguments) throws -> TemplateValue {
    let args = MethodArguments(filter.rawValue, arguments)
    switch filter {
    case .trim:
        try args.expect(0...1)
        return .string(pythonStrip(text(value), characters: try args.optionalString(0, "chars")))
    case .length:
        try args.expect(0)
        return .int(try pythonLength(value))
    case .tojson:
        return .string(try jsonDumps(value, try JSONDumpOptions(arguments)))
    case .upper:
        try args.expect(0)
        return .string(pythonUpper(text(value)))
    case .lower:
        try args.expect(0)
        return .string(pythonLower(text(value)))
    case .capitalize:
        try args.expect(0)
        return .string(pythonCapitalize(text(value)))
    case .title:
        try args.expect(0)
        return .string(jinjaTitle(text(value)))
    case .replace:
        try args.expect(2...3)
        let count = try args.optional(2, "count").map { v -> Int in
            if case .none = v { return -1 }
            guard let n = v.integerIndex else { throw RuntimeFailure(.type, "replace() count must be an integer") }
            return n
        } ?? -1
        return .string(try pythonReplace(text(value), text(try args.required(0, "old")), text(try args.required(1, "new")), count: count))
    case .join:
        try args.expect(0...2)
        let separator = args.optional(0, "d").map(text) ?? ""
        var items = try pythonIterate(value)
        if let attribute = args.optional(1, "attribute"), !attribute.isNone {
            let getter = try attributeGetter(attribute)
            items = try items.map(getter)
        }
        return .string(try joinChecked(items.map(text), separator: separator))
    case .default:
        try args.expect(0...2)
        let fallback = args.optional(0, "default_value") ?? .string("")
        let boolean = try args.bool(1, "boolean", default: false)
        if !value.isDefined || (boolean && !value.isTruthy) { return fallback }
        return value
    case .first:
        try args.expect(0)
        return try pythonIterate(value).first ?? .undefined(TemplateUndefined(.message("No first item, sequence was empty.")))
    case .last:
        try args.expect(0)
        switch value {
        case .string, .array, .tuple, .dictionary, .undefined: break
        default: throw RuntimeFailure(.type, "'\(value.pythonTypeName)' object is not reversible")
        }
        return try pythonIterate(value).last ?? .undefined(TemplateUndefined(.message("No last item, sequence was empty.")))
    case .list:
        try args.expect(0)
        return .array(try pythonIterate(value))
    case .string:
        try args.expect(0)
        return .string(text(value))
    case .safe:
        try args.expect(0)
        return value
    case .escape:
        try args.expect(0)
        return .string(htmlEscape(text(value)))
    case .int:
        try args.expect(0...2)
        return try toInt(value, default: args.optional(0, "default") ?? .int(0), base: try args.int(1, "base", default: 10))
    case .float:
        try args.expect(0...1)
        try requireDefined(value)
        return toFloat(value) ?? args.optional(0, "default") ?? .double(0)
    case .abs:
        try args.expect(0)
        switch value.number {
        case .int(let i)?:
            guard i != Int.min else { throw RuntimeFailure(.arithmetic, "integer overflow") }
            return .int(Swift.abs(i))
        case .double(let d)?: return .double(Swift.abs(d))
        case nil: throw RuntimeFailure(.type, "bad operand type for abs(): '\(value.pythonTypeName)'")
        }
    case .round:
        try args.expect(0...2)
        return try roundValue(value, precision: try args.int(0, "precision", default: 0),
                              method: try args.optionalString(1, "method") ?? "common")
    case .items:
        try args.expect(0)
        switch value {
        case .undefined: return .array([])
        case .dictionary(let d): return .array(d.map { .tuple([.string($0.0), $0.1]) })
        default: throw RuntimeFailure(.type, "Can only get item pairs from a mapping.")
        }
    case .reverse:
        try args.expect(0)
        if case .string(let s) = value { return .string(String(scalars: s.unicodeScalars.reversed())) }
        guard let items = try? pythonIterate(value) else { throw RuntimeFailure(.type, "argument must be iterable") }
        return .array(items.reversed())
    case .sort:
        try args.expect(0...3)
        let reverse = try args.bool(0, "reverse", default: false)
        let caseSensitive = try args.bool(1, "case_sensitive", default: false)
        let getter = try args.optional(2, "attribute").flatMap { $0.isNone ? nil : $0 }.map(attributeGetter)
        let items = try pythonIterate(value)
        let keys = try items.map { postProcessCaseInsensitive(try getter?($0) ?? $0, caseSensitive: caseSensitive) }
        let order = try stableSorted(Array(items.indices)) { try pythonLess(keys[$0], keys[$1]) }
        let sorted = order.map { items[$0] }
        return .array(reverse ? stableReversedOrder(sorted, keys: order.map { keys[$0] }) : sorted)
    case .unique:
        try args.expect(0...2)
        let caseSensitive = try args.bool(0, "case_sensitive", default: false)
        let getter = try args.optional(1, "attribute").flatMap { $0.isNone ? nil : $0 }.map(attributeGetter)
        var seen: [TemplateValue] = []
        var result: [TemplateValue] = []
        for item in try pythonIterate(value) {
            let key = postProcessCaseInsensitive(try getter?(item) ?? item, caseSensitive: caseSensitive)
            if !seen.contains(where: { pythonEquals($0, key) }) {
                seen.append(key)
                result.append(item)
            }
        }
        return .array(result)
    case .min, .max:
        try args.expect(0...2)
        let caseSensitive = try args.bool(0, "case_sensitive", default: false)
        let getter = try args.optional(1, "attribute").flatMap { $0.isNone ? nil : $0 }.map(attributeGetter)
        var best: (TemplateValue, TemplateValue)? = nil
        for item in try pythonIterate(value) {
            let key = postProcessCaseInsensitive(try getter?(item) ?? item, caseSensitive: caseSensitive)
            if let current = best {
                let better = filter == .min ? try pythonLess(key, current.1)
                                            : try pythonLess(current.1, key, symbol: ">", swapped: true)
                if better { best = (item, key) }
            } else {
                best = (item, key)
            }
        }
        return best?.0 ?? .undefined(TemplateUndefined(.message("No aggregated item, sequence was empty.")))
    case .sum:
        try args.expect(0...2)
        let getter = try args.optional(0, "attribute").flatMap { $0.isNone ? nil : $0 }.map(attributeGetter)
        var total = args.optional(1, "start") ?? .int(0)
        for item in try pythonIterate(value) {
            let addend = try getter?(item) ?? item
            // Lists and strings grow in place (linear, not quadratic), within the size limit.
            if case .array(var list) = total, case .array(let more) = addend {
                try checkBuiltListSize(list.count + more.count)
                total = .none
                list.append(contentsOf: more)
                total = .array(list)
            } else if case .string(var text) = total, case .string(let more) = addend {
                try checkBuiltSize(text.utf8.count + more.utf8.count)
                total = .none
                text += more
                total = .string(text)
            } else {
                total = try applyBinary(.add, total, addend, sizeLimit: Int.max)
            }
        }
        return total
    case .indent:
        try args.expect(0...3)
        let width = args.optional(0, "width") ?? .int(4)
        let indentation: String
        if case .string(let s) = width { indentation = s } else {
            guard let n = width.integerIndex else { throw RuntimeFailure(.type, "indent width must be an int or a string") }
            try checkPaddingWidth(n)
            indentation = String(repeating: " ", count: Swift.max(0, n))
        }
        let lines: String
        switch value {
        case .string(let s): lines = s
        case .undefined(let u): throw u.failure
        case .array: throw RuntimeFailure(.type, "'list' object has no attribute 'splitlines'")
        case .tuple: throw RuntimeFailure(.type, "can only concatenate tuple (not \"str\") to tuple")
        default: throw RuntimeFailure(.type, "unsupported operand type(s) for +=: '\(value.pythonTypeName)' and 'str'")
        }
        return .string(try jinjaIndent(lines, indentation, first: try args.bool(1, "first", default: false),
                                       blank: try args.bool(2, "blank", default: false)))
    case .format:
        if !arguments.positional.isEmpty && !arguments.keywords.isEmpty {
            throw RuntimeFailure(.type, "can't handle positional and keyword arguments at the same time")
        }
        let values: TemplateValue = arguments.keywords.isEmpty
            ? .tuple(arguments.positional)
            : .dictionary(TemplateDictionary(arguments.keywords.map { ($0.name, $0.value) }))
        return .string(try pythonPercentFormat(text(value), values))
    case .wordcount:
        try args.expect(0)
        return .int(wordCount(text(value)))
    // Jinja's select/reject/map yield nothing for a falsy value without iterating it.
    case .select, .reject:
        guard value.isTruthy else { return .array([]) }
        return .array(try selectOrReject(try pythonIterate(value), arguments, keep: filter == .select, attribute: false))
    case .selectattr, .rejectattr:
        guard value.isTruthy else { return .array([]) }
        return .array(try selectOrReject(try pythonIterate(value), arguments, keep: filter == .selectattr, attribute: true))
    case .map:
        guard value.isTruthy else { return .array([]) }
        return .array(try mapItems(try pythonIterate(value), arguments))
    }
}

/// Jinja's `title` filter: capitalises each word, words starting after `-`, whitespace or an
/// opening bracket.
func jinjaTitle(_ s: String) -> String {
    var result = ""
    var chunk = String.UnicodeScalarView()
    var chunkIsSeparator: Bool? = nil
    func isSeparator(_ c: Unicode.Scalar) -> Bool { c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || isPythonWhitespace(c) }
    func flush() {
        guard let first = chunk.first else { return }
        result += pythonUpper(String(first)) + pythonLower(String(String.UnicodeScalarView(chunk.dropFirst())))
        chunk = String.UnicodeScalarView()
    }
    for c in s.unicodeScalars {
        let separator = isSeparator(c)
        if chunkIsSeparator != nil && separator != chunkIsSeparator { flush() }
        chunkIsSeparator = separator
        chunk.append(c)
    }
    flush()
    return result
}


/// Jinja's `indent`: indents every line but the first (unless `first`), skipping blank lines
/// (unless `blank`).
func jinjaIndent(_ s: String, _ indentation: String, first: Bool, blank: Bool) throws -> String {
    let lines = pythonSplitLines(s + "\n")
    // Each line may get the indentation: refuse a result over the size limit before building it.
    try checkBuiltSize(s.utf8.count + (lines.count + 1) &* (indentation.utf8.count + 1))
    var result: String
    if blank {
        result = lines.joined(separator: "\n" + indentation)
    } else {
        result = lines.first ?? ""
        let rest = lines.dropFirst()
        if !rest.isEmpty {
            result += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
        }
    }
    return first ? indentation + result : result
}

private func wordCount(_ s: String) -> Int {
    var count = 0, inWord = false
    for c in s.unicodeScalars {
        let wordCharacter = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
        if wordCharacter && !inWord { count += 1 }
        inWord = wordCharacter
    }
    return count
}

/// Python's `int()` of a string in a base (whitespace, sign, `_` separators, base prefixes).
private func parsePythonInt(_ s: String, base: Int) -> Int? {
    var t = pythonStrip(s).replacingOccurrences(of: "_", with: "")
    var negative = false
    if t.hasPrefix("-") { negative = true; t.removeFirst() } else if t.hasPrefix("+") { t.removeFirst() }
    var radix = base
    let lower = t.lowercased()
    for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) && (base == r || base == 0) {
        t.removeFirst(2)
        radix = r
    }
    if radix == 0 { radix = 10 }
    guard !t.isEmpty, (2...36).contains(radix), let magnitude = Int(t, radix: radix) else { return nil }
    return negative ? -magnitude : magnitude
}

/// Python's `float()` of a string: whitespace, `_` separators, inf/nan.
private func parsePythonFloat(_ s: String) -> Double? {
    let t = pythonStrip(s)
    let lower = t.lowercased()
    switch lower {
    case "inf", "+inf", "infinity", "+infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan", "+nan", "-nan": return .nan
    default: break
    }
    guard !t.isEmpty, !t.hasPrefix("_"), !t.hasSuffix("_"), !t.contains("__"),
          t.unicodeScalars.allSatisfy({ $0.isASCII && ("0123456789+-.eE_".unicodeScalars.contains($0)) })
    else { return nil }
    return Double(t.replacingOccurrences(of: "_", with: ""))
}

private func toFloat(_ value: TemplateValue) -> TemplateValue? {
    switch value {
    case .double: return value
    case .int(let i): return .double(Double(i))
    case .bool(let b): return .double(b ? 1 : 0)
    case .string(let s): return parsePythonFloat(s).map { .double($0) }
    default: return nil
    }
}

/// Jinja's `int` filter: strings parse in `base`, else through float; failures give `default`.
private func toInt(_ value: TemplateValue, default fallback: TemplateValue, base: Int) throws -> TemplateValue {
    try requireDefined(value)
    switch value {
    case .int: return value
    case .bool(let b): return .int(b ? 1 : 0)
    case .double(let d):
        guard d.isFinite, Swift.abs(d) < 9.2e18 else { return fallback }
        return .int(Int(d))
    case .string(let s):
        if let i = parsePythonInt(s, base: base) { return .int(i) }
        if let d = parsePythonFloat(s), d.isFinite, Swift.abs(d) < 9.2e18 { return .int(Int(d)) }
        return fallback
    default:
        return fallback
    }
}

/// Python's `round(value, precision)` (correctly rounded, ties to even) or Jinja's ceil/floor.
private func roundValue(_ value: TemplateValue, precision: Int, method: String) throws -> TemplateValue {
    guard ["common", "ceil", "floor"].contains(method) else {
        throw RuntimeFailure(.type, "method must be common, ceil or floor")
    }
    guard let number = value.number else { throw RuntimeFailure(.type, "type \(value.pythonTypeName) doesn't define __round__ method") }
    let x = number.doubleValue
    if method != "common" {
        let scale = Foundation.pow(10.0, Double(precision))
        let scaled = x * scale
        return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
    }
    if case .int(let i) = number, precision >= 0 { return .int(i) }
    if case .int = number {
        let scale = Foundation.pow(10.0, Double(-precision))
        let rounded = (x / scale).rounded(.toNearestOrEven) * scale
        guard rounded.isFinite, Swift.abs(rounded) < 9.2e18 else { return .int(0) }
        return .int(Int(rounded))
    }
    guard x.isFinite else { return .double(x) }
    if precision >= 0 && precision <= 300 {
        // printf rounds the exact binary value, ties to even: the same digits as Python's round().
        return .double(Double(String(format: "%.\(precision)f", x)) ?? x)
    }
    let scale = Foundation.pow(10.0, Double(-precision))
    return .double((x / scale).rounded(.toNearestOrEven) * scale)
}

/// A stable merge sort by a throwing comparison (Python's sort is stable).
private func stableSorted(_ items: [Int], by less: (Int, Int) throws -> Bool) throws -> [Int] {
    if items.count <= 1 { return items }
    let middle = items.count / 2
    let left = try stableSorted(Array(items[..<middle]), by: less)
    let right = try stableSorted(Array(items[middle...]), by: less)
    var merged: [Int] = []
    merged.reserveCapacity(items.count)
    var i = 0, j = 0
    while i < left.count && j < right.count {
        if try less(right[j], left[i]) { merged.append(right[j]); j += 1 } else { merged.append(left[i]); i += 1 }
    }
    merged.append(contentsOf: left[i...])
    merged.append(contentsOf: right[j...])
    return merged
}

/// Python's `sorted(reverse=True)` keeps equal elements in their original order.
private func stableReversedOrder(_ sorted: [TemplateValue], keys: [TemplateValue]) -> [TemplateValue] {
    var groups: [[TemplateValue]] = []
    var previous: TemplateValue? = nil
    for (item, key) in zip(sorted, keys) {
        if let p = previous, pythonEquals(p, key) { groups[groups.count - 1].append(item) } else { groups.append([item]) }
        previous = key
    }
    return groups.reversed().flatMap { $0 }
}

/// `select`/`reject` (test on the item) and `selectattr`/`rejectattr` (test on an attribute).
private func selectOrReject(_ items: [TemplateValue], _ arguments: TemplateArguments, keep: Bool, attribute: Bool) throws -> [TemplateValue] {
    var positional = arguments.positional
    var getter: ((TemplateValue) throws -> TemplateValue)? = nil
    if attribute {
        guard !positional.isEmpty else { throw RuntimeFailure(.type, "missing parameter for attribute name") }
        getter = try attributeGetter(positional.removeFirst())
    }
    var test: Test? = nil
    if !positional.isEmpty {
        let name = positional.removeFirst()
        guard case .string(let testName) = name, let found = Test(name: testName) else {
            throw RuntimeFailure(.syntax, "No test named \(name.pythonRepr).")
        }
        test = found
    }
    let testArguments = TemplateArguments(positional, keywords: arguments.keywords)
    return try items.filter { item in
        let subject = try getter?(item) ?? item
        let passed = try test.map { try applyTest($0, subject, testArguments) } ?? subject.isTruthy
        return passed == keep
    }
}

/// `map('filter', args…)` or `map(attribute='path', default=…)`.
private func mapItems(_ items: [TemplateValue], _ arguments: TemplateArguments) throws -> [TemplateValue] {
    if let attribute = arguments.keywords.first(where: { $0.name == "attribute" })?.value {
        let getter = try attributeGetter(attribute)
        let fallback = arguments.keywords.first(where: { $0.name == "default" })?.value
        return try items.map { item in
            let value = try getter(item)
            if let fallback, !value.isDefined { return fallback }
            return value
        }
    }
    var positional = arguments.positional
    guard !positional.isEmpty else { throw RuntimeFailure(.type, "map requires a filter argument") }
    let name = positional.removeFirst()
    guard case .string(let filterName) = name, let filter = Filter(name: filterName) else {
        throw RuntimeFailure(.syntax, "No filter named \(name.pythonRepr).")
    }
    let filterArguments = TemplateArguments(positional, keywords: arguments.keywords)
    return try items.map { try applyFilter(filter, $0, filterArguments) }
}
