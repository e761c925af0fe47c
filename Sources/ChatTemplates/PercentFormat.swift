// Python's printf-style `text % values` (used by `'%s' % x` and the `format` filter):
// %s %r %a %d %i %u %x %X %o %e %E %f %F %g %G %c %% with flags, width, precision and
// `%(key)s` lookups.

import Foundation

/// `format % arguments` with Python's rules: a tuple supplies the values in order; a dictionary
/// (or list) may be looked up by `%(key)s` and need not be used up; any other value is the single
/// argument.
func pythonPercentFormat(_ format: String, _ arguments: TemplateValue) throws -> String {
    var positional: [TemplateValue]
    var isSingle = false
    switch arguments {
    case .tuple(let items): positional = items
    default: positional = [arguments]; isSingle = true
    }
    let mapping: TemplateValue? = {
        switch arguments {
        case .dictionary, .array: return arguments
        default: return nil
        }
    }()
    var next = 0
    func nextArgument() throws -> TemplateValue {
        guard next < positional.count else { throw RuntimeFailure(.type, "not enough arguments for format string") }
        defer { next += 1 }
        return positional[next]
    }

    let s = Array(format.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    var usedMapping = false
    while i < s.count {
        guard s[i] == "%" else { out.append(s[i]); i += 1; continue }
        i += 1
        guard i < s.count else { throw RuntimeFailure(.type, "incomplete format") }
        var argument: TemplateValue? = nil
        if s[i] == "(" {
            guard let mapping else { throw RuntimeFailure(.type, "format requires a mapping") }
            var depth = 1, j = i + 1
            while j < s.count, depth > 0 {
                if s[j] == "(" { depth += 1 } else if s[j] == ")" { depth -= 1 }
                j += 1
            }
            guard depth == 0 else { throw RuntimeFailure(.type, "incomplete format key") }
            let key = String(scalars: s[(i + 1)..<(j - 1)])
            argument = try getItem(mapping, .string(key))
            if !argument!.isDefined { throw RuntimeFailure(.type, "KeyError: \(pythonRepr(key))") }
            usedMapping = true
            i = j
        }
        var flags = Set<Unicode.Scalar>()
        while i < s.count, "-+ #0".unicodeScalars.contains(s[i]) { flags.insert(s[i]); i += 1 }
        func number() throws -> Int? {
            if i < s.count, s[i] == "*" {
                i += 1
                guard let n = try nextArgument().integerIndex else { throw RuntimeFailure(.type, "* wants int") }
                return n
            }
            var digits = ""
            while i < s.count, s[i].properties.numericType == .decimal, s[i].isASCII { digits.unicodeScalars.append(s[i]); i += 1 }
            return digits.isEmpty ? nil : Int(digits)
        }
        var width = try number() ?? 0
        if width < 0 { flags.insert("-"); width = -width }
        var precision: Int? = nil
        if i < s.count, s[i] == "." {
            i += 1
            precision = Swift.max(0, try number() ?? 0)
        }
        if width > 1_000_000 || (precision ?? 0) > 10_000 {
            throw RuntimeFailure(.limit, "format width or precision too large")
        }
        while i < s.count, "hlL".unicodeScalars.contains(s[i]) { i += 1 }
        guard i < s.count else { throw RuntimeFailure(.type, "incomplete format") }
        let conversion = s[i]
        i += 1
        if conversion == "%" { out.append("%"); continue }
        let value = try argument ?? nextArgument()
        try requireDefined(value)
        let body = try formatOne(value, conversion, flags: flags, precision: precision)
        out.append(contentsOf: pad(body, width: width, flags: flags, numeric: !"srac".unicodeScalars.contains(conversion)).unicodeScalars)
    }
    if next < positional.count && !(mapping != nil && (isSingle || usedMapping)) {
        throw RuntimeFailure(.type, "not all arguments converted during string formatting")
    }
    return String(out)
}

private func pad(_ body: String, width: Int, flags: Set<Unicode.Scalar>, numeric: Bool) -> String {
    let length = body.unicodeScalars.count
    guard width > length else { return body }
    let fill = width - length
    if flags.contains("-") { return body + String(repeating: " ", count: fill) }
    if numeric && flags.contains("0") {
        var scalars = Array(body.unicodeScalars)
        var signLength = 0
        if let first = scalars.first, first == "-" || first == "+" || first == " " { signLength = 1 }
        if scalars.count >= signLength + 2, scalars[signLength] == "0", "xXo".unicodeScalars.contains(scalars[signLength + 1]) {
            signLength += 2
        }
        scalars.insert(contentsOf: Array(repeating: "0", count: fill), at: signLength)
        return String(scalars: scalars)
    }
    return String(repeating: " ", count: fill) + body
}

private func formatOne(_ value: TemplateValue, _ conversion: Unicode.Scalar, flags: Set<Unicode.Scalar>, precision: Int?) throws -> String {
    func sign(_ negative: Bool) -> String { negative ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : "" }
    switch conversion {
    case "s", "r", "a":
        var text = conversion == "s" ? value.pythonString : value.pythonRepr
        if conversion == "a" {
            text = text.unicodeScalars.map { $0.isASCII ? String($0) : ($0.value <= 0xFF ? "\\x" + paddedHex($0.value, width: 2) : $0.value <= 0xFFFF ? "\\u" + paddedHex($0.value, width: 4) : "\\U" + paddedHex($0.value, width: 8)) }.joined()
        }
        if let precision { text = String(scalars: text.unicodeScalars.prefix(precision)) }
        return text
    case "d", "i", "u":
        guard let number = value.number else {
            throw RuntimeFailure(.type, "%\(conversion) format: a real number is required, not \(value.pythonTypeName)")
        }
        let integer: Int
        switch number {
        case .int(let n): integer = n
        case .double(let d):
            guard d.isFinite else { throw RuntimeFailure(.type, "cannot convert float \(pythonFloatRepr(d)) to integer") }
            guard Swift.abs(d) < 9.2e18 else { throw RuntimeFailure(.arithmetic, "integer overflow") }
            integer = Int(d)
        }
        var digits = String(integer.magnitude)
        if let precision, digits.count < precision { digits = String(repeating: "0", count: precision - digits.count) + digits }
        return sign(integer < 0) + digits
    case "x", "X", "o":
        guard let integer = value.integerIndex else {
            throw RuntimeFailure(.type, "%\(conversion) format: an integer is required, not \(value.pythonTypeName)")
        }
        var digits = String(integer.magnitude, radix: conversion == "o" ? 8 : 16, uppercase: conversion == "X")
        if let precision, digits.count < precision { digits = String(repeating: "0", count: precision - digits.count) + digits }
        let prefix = flags.contains("#") ? (conversion == "o" ? "0o" : conversion == "x" ? "0x" : "0X") : ""
        return sign(integer < 0) + prefix + digits
    case "e", "E", "f", "F", "g", "G":
        guard let number = value.number else {
            throw RuntimeFailure(.type, "must be real number, not \(value.pythonTypeName)")
        }
        let d = number.doubleValue
        if !d.isFinite {
            let word = d.isNaN ? "nan" : "inf"
            let text = "EFG".unicodeScalars.contains(conversion) ? word.uppercased() : word
            return sign(d < 0 && !d.isNaN) + text
        }
        var spec = "%" + (flags.contains("#") ? "#" : "")
        spec += ".\(precision ?? 6)" + String(conversion)
        return sign(d.sign == .minus) + String(format: spec, Swift.abs(d))
    case "c":
        if case .string(let text) = value, text.unicodeScalars.count == 1 { return text }
        guard let code = value.integerIndex, code >= 0, let scalar = Unicode.Scalar(UInt32(clamping: code)) else {
            throw RuntimeFailure(.type, "%c requires an int or a unicode character, not \(value.pythonTypeName)")
        }
        return String(scalar)
    default:
        throw RuntimeFailure(.type, "unsupported format character \(pythonRepr(String(conversion)))")
    }
}
