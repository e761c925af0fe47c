// Python methods templates call on values: str (strip, split, startswith, replace, …),
// dict (keys, values, items, get) and list/tuple (index, count). Mutating methods exist but fail
// when used, as in Jinja's immutable sandbox.

private let stringMethods: Set<String> = [
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
    "upper", "lower", "title", "capitalize", "swapcase", "casefold", "replace", "find", "rfind",
    "index", "rindex", "count", "join", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum",
    "isspace", "islower", "isupper", "isascii", "removeprefix", "removesuffix", "center", "ljust",
    "rjust", "zfill", "partition", "rpartition",
]
private let dictionaryMethods: Set<String> = ["keys", "values", "items", "get", "copy"]
private let unsafeDictionaryMethods: Set<String> = ["pop", "popitem", "setdefault", "update", "clear"]
private let sequenceMethods: Set<String> = ["index", "count", "copy"]
private let unsafeListMethods: Set<String> = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"]

private func hasMethod(_ value: TemplateValue, _ name: String) -> Bool {
    switch value {
    case .string: return stringMethods.contains(name)
    case .dictionary: return dictionaryMethods.contains(name)
    case .array: return sequenceMethods.contains(name)
    case .tuple: return name == "index" || name == "count"
    default: return false
    }
}

private func unsafeMethodMessage(_ value: TemplateValue, _ name: String) -> String? {
    switch value {
    case .dictionary where unsafeDictionaryMethods.contains(name),
         .array where unsafeListMethods.contains(name):
        return "access to attribute '\(name)' of '\(value.pythonTypeName)' object is unsafe."
    default:
        return nil
    }
}

/// `value.name` as a callable when the value's type has that method (nil otherwise). Methods the
/// sandbox forbids come back as an undefined value that raises a security error when used.
func boundMethod(_ value: TemplateValue, _ name: String) -> TemplateValue? {
    if hasMethod(value, name) {
        return .callable(TemplateCallable(name: name) { arguments in
            try callMethod(value, name, arguments) ?? TemplateValue.none
        })
    }
    if let message = unsafeMethodMessage(value, name) {
        return .undefined(TemplateUndefined(.unsafe(message)))
    }
    return nil
}

/// Calls `value.name(arguments)` directly; nil when the type has no such method.
func callMethod(_ value: TemplateValue, _ name: String, _ arguments: TemplateArguments) throws -> TemplateValue? {
    switch value {
    case .string(let s):
        guard stringMethods.contains(name) else { break }
        return try callStringMethod(s, name, MethodArguments(name, arguments))
    case .dictionary(let d):
        guard dictionaryMethods.contains(name) else { break }
        let args = MethodArguments(name, arguments)
        switch name {
        case "keys": try args.expect(0); return .array(d.keys.map { .string($0) })
        case "values": try args.expect(0); return .array(d.values)
        case "items": try args.expect(0); return .array(d.map { .tuple([.string($0.0), $0.1]) })
        case "copy": try args.expect(0); return value
        default:  // get
            try args.expect(1...2)
            guard case .string(let key) = try args.required(0, "key") else { return args.optional(1, "default") ?? TemplateValue.none }
            return d[key] ?? args.optional(1, "default") ?? TemplateValue.none
        }
    case .array(let items), .tuple(let items):
        guard hasMethod(value, name) else { break }
        let args = MethodArguments(name, arguments)
        if name == "copy" { return value }
        try args.expect(1)
        let needle = try args.required(0, "value")
        if name == "count" { return .int(items.filter { pythonEquals($0, needle) }.count) }
        guard let found = items.firstIndex(where: { pythonEquals($0, needle) }) else {
            throw RuntimeFailure(.type, "\(needle.pythonRepr) is not in list")
        }
        return .int(found)
    default:
        break
    }
    if let message = unsafeMethodMessage(value, name) { throw RuntimeFailure(.security, message) }
    return nil
}

/// Positional-or-keyword argument access for builtin methods and filters.
struct MethodArguments {
    let name: String
    let arguments: TemplateArguments

    init(_ name: String, _ arguments: TemplateArguments) {
        self.name = name
        self.arguments = arguments
    }

    var count: Int { arguments.positional.count + arguments.keywords.count }

    func expect(_ range: ClosedRange<Int>) throws {
        guard range.contains(count) else {
            throw RuntimeFailure(.type, "\(name)() takes \(range.lowerBound == range.upperBound ? "exactly \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)") argument(s) (\(count) given)")
        }
    }

    func expect(_ exactly: Int) throws { try expect(exactly...exactly) }

    /// The argument for a parameter (by position, else by keyword); undefined/None count as given.
    func optional(_ position: Int, _ parameter: String) -> TemplateValue? {
        arguments.value(parameter, at: position)
    }

    func required(_ position: Int, _ parameter: String) throws -> TemplateValue {
        guard let value = optional(position, parameter) else {
            throw RuntimeFailure(.type, "\(name)() missing required argument: '\(parameter)'")
        }
        try requireDefined(value)
        return value
    }

    func string(_ position: Int, _ parameter: String) throws -> String {
        let value = try required(position, parameter)
        guard case .string(let s) = value else {
            throw RuntimeFailure(.type, "\(name)() argument '\(parameter)' must be str, not \(value.pythonTypeName)")
        }
        return s
    }

    /// A string or None argument (None and missing give nil).
    func optionalString(_ position: Int, _ parameter: String) throws -> String? {
        guard let value = optional(position, parameter) else { return nil }
        switch value {
        case .none: return nil
        case .string(let s): return s
        default:
            try requireDefined(value)
            throw RuntimeFailure(.type, "\(name)() argument '\(parameter)' must be str or None, not \(value.pythonTypeName)")
        }
    }

    func int(_ position: Int, _ parameter: String, default defaultValue: Int) throws -> Int {
        guard let value = optional(position, parameter) else { return defaultValue }
        try requireDefined(value)
        guard let i = value.integerIndex else {
            throw RuntimeFailure(.type, "\(name)() argument '\(parameter)' must be an integer, not \(value.pythonTypeName)")
        }
        return i
    }

    func bool(_ position: Int, _ parameter: String, default defaultValue: Bool) throws -> Bool {
        guard let value = optional(position, parameter) else { return defaultValue }
        try requireDefined(value)
        return value.isTruthy
    }
}

private func unicodeIsAlpha(_ s: Unicode.Scalar) -> Bool {
    switch s.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
    default: return false
    }
}

private func characterTest(_ s: String, _ test: (Unicode.Scalar) -> Bool) -> TemplateValue {
    .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(test))
}

/// Python `islower()` / `isupper()`: at least one cased character and none of the other case.
func pythonCaseTest(_ s: String, lower: Bool) -> Bool {
    var sawCased = false
    for scalar in s.unicodeScalars {
        let p = scalar.properties
        if p.generalCategory == .titlecaseLetter { return false }
        if p.isUppercase { if lower { return false } else { sawCased = true } }
        if p.isLowercase { if lower { sawCased = true } else { return false } }
    }
    return sawCased
}

private func pad(_ s: String, width: Int, fill: Unicode.Scalar, left: Bool, right: Bool) -> String {
    let length = s.unicodeScalars.count
    guard width > length else { return s }
    let total = width - length
    // str.center puts the extra character on the right when the padding is odd (for even lengths).
    var leftCount = left && right ? total / 2 + (total & width & 1) : (left ? total : 0)
    if !left { leftCount = 0 }
    let rightCount = total - leftCount
    return String(scalars: Array(repeating: fill, count: leftCount)) + s + String(scalars: Array(repeating: fill, count: rightCount))
}

private func callStringMethod(_ s: String, _ name: String, _ args: MethodArguments) throws -> TemplateValue {
    switch name {
    case "strip", "lstrip", "rstrip":
        try args.expect(0...1)
        let characters = try args.optionalString(0, "chars")
        return .string(pythonStrip(s, characters: characters, leading: name != "rstrip", trailing: name != "lstrip"))
    case "split", "rsplit":
        try args.expect(0...2)
        let separator = try args.optionalString(0, "sep")
        let maxSplit = try args.int(1, "maxsplit", default: -1)
        let parts = name == "split" ? try pythonSplit(s, separator: separator, maxSplit: maxSplit)
                                    : try pythonRSplit(s, separator: separator, maxSplit: maxSplit)
        return .array(parts.map { .string($0) })
    case "splitlines":
        try args.expect(0...1)
        return .array(pythonSplitLines(s).map { .string($0) })
    case "startswith", "endswith":
        try args.expect(1)
        let candidates: [TemplateValue]
        switch try args.required(0, "prefix") {
        case .string(let one): candidates = [.string(one)]
        case .tuple(let many), .array(let many): candidates = many
        case let other:
            throw RuntimeFailure(.type, "\(name) first arg must be str or a tuple of str, not \(other.pythonTypeName)")
        }
        for candidate in candidates {
            guard case .string(let affix) = candidate else {
                throw RuntimeFailure(.type, "tuple for \(name) must only contain str, not \(candidate.pythonTypeName)")
            }
            if name == "startswith" ? pythonHasPrefix(s, affix) : pythonHasSuffix(s, affix) { return .bool(true) }
        }
        return .bool(false)
    case "upper": try args.expect(0); return .string(pythonUpper(s))
    case "lower", "casefold": try args.expect(0); return .string(pythonLower(s))
    case "title": try args.expect(0); return .string(pythonTitle(s))
    case "capitalize": try args.expect(0); return .string(pythonCapitalize(s))
    case "swapcase":
        try args.expect(0)
        return .string(s.unicodeScalars.map { c -> String in
            c.properties.isUppercase ? c.properties.lowercaseMapping : c.properties.isLowercase ? c.properties.uppercaseMapping : String(c)
        }.joined())
    case "replace":
        try args.expect(2...3)
        return .string(try pythonReplace(s, try args.string(0, "old"), try args.string(1, "new"), count: try args.int(2, "count", default: -1)))
    case "find", "rfind", "index", "rindex":
        try args.expect(1)
        let position = pythonFind(s, try args.string(0, "sub"), fromEnd: name.hasPrefix("r"))
        if position < 0 && name.hasSuffix("index") { throw RuntimeFailure(.type, "substring not found") }
        return .int(position)
    case "count":
        try args.expect(1)
        return .int(pythonCount(s, try args.string(0, "sub")))
    case "join":
        try args.expect(1)
        var parts: [String] = []
        for (i, item) in try pythonIterate(try args.required(0, "iterable")).enumerated() {
            guard case .string(let text) = item else {
                throw RuntimeFailure(.type, "sequence item \(i): expected str instance, \(item.pythonTypeName) found")
            }
            parts.append(text)
        }
        return .string(try joinChecked(parts, separator: s))
    case "isdigit":
        try args.expect(0)
        return characterTest(s) { $0.properties.numericType == .decimal || $0.properties.numericType == .digit }
    case "isdecimal": try args.expect(0); return characterTest(s) { $0.properties.numericType == .decimal }
    case "isnumeric": try args.expect(0); return characterTest(s) { $0.properties.numericType != nil }
    case "isalpha": try args.expect(0); return characterTest(s, unicodeIsAlpha)
    case "isalnum": try args.expect(0); return characterTest(s) { unicodeIsAlpha($0) || $0.properties.numericType != nil }
    case "isspace": try args.expect(0); return characterTest(s, isPythonWhitespace)
    case "isascii": try args.expect(0); return .bool(s.unicodeScalars.allSatisfy { $0.isASCII })
    case "islower": try args.expect(0); return .bool(pythonCaseTest(s, lower: true))
    case "isupper": try args.expect(0); return .bool(pythonCaseTest(s, lower: false))
    case "removeprefix":
        try args.expect(1)
        let prefix = try args.string(0, "prefix")
        return .string(pythonHasPrefix(s, prefix) ? String(decoding: s.utf8.dropFirst(prefix.utf8.count), as: UTF8.self) : s)
    case "removesuffix":
        try args.expect(1)
        let suffix = try args.string(0, "suffix")
        return .string(pythonHasSuffix(s, suffix) && !suffix.isEmpty ? String(decoding: s.utf8.dropLast(suffix.utf8.count), as: UTF8.self) : s)
    case "center", "ljust", "rjust":
        try args.expect(1...2)
        let width = try args.int(0, "width", default: 0)
        try checkPaddingWidth(width)
        let fillText = try args.optionalString(1, "fillchar") ?? " "
        guard fillText.unicodeScalars.count == 1, let fill = fillText.unicodeScalars.first else {
            throw RuntimeFailure(.type, "The fill character must be exactly one character long")
        }
        return .string(pad(s, width: width, fill: fill, left: name != "ljust", right: name != "rjust"))
    case "zfill":
        try args.expect(1)
        let width = try args.int(0, "width", default: 0)
        try checkPaddingWidth(width)
        var scalars = Array(s.unicodeScalars)
        guard width > scalars.count else { return .string(s) }
        let sign = scalars.first.map { $0 == "+" || $0 == "-" } ?? false
        scalars.insert(contentsOf: Array(repeating: "0", count: width - scalars.count), at: sign ? 1 : 0)
        return .string(String(scalars: scalars))
    case "partition", "rpartition":
        try args.expect(1)
        let separator = try args.string(0, "sep")
        if separator.isEmpty { throw RuntimeFailure(.type, "empty separator") }
        let position = pythonFind(s, separator, fromEnd: name == "rpartition")
        let scalars = Array(s.unicodeScalars)
        if position < 0 {
            return name == "partition" ? .tuple([.string(s), "", ""]) : .tuple(["", "", .string(s)])
        }
        let after = position + separator.unicodeScalars.count
        return .tuple([.string(String(scalars: scalars[..<position])), .string(separator), .string(String(scalars: scalars[after...]))])
    default:
        throw RuntimeFailure(.unsupported, "str.\(name)() is not supported")
    }
}
