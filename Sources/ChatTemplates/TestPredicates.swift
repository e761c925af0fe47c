// Jinja's builtin tests (`x is defined`, `x is string`, `x is divisibleby 3`, …) with Python's
// notions of mapping, iterable and sequence (a string is iterable; so, in Jinja, is undefined).

enum Test: String, CaseIterable {
    case defined, undefined, none, boolean, trueValue = "true", falseValue = "false", integer, float, number
    case string, mapping, iterable, sequence, callable, sameas, escaped, odd, even, divisibleby
    case eq, ne, lt, le, gt, ge, `in`, lower, upper, filter, test

    init?(name: String) {
        switch name {
        case "==", "equalto": self = .eq
        case "!=": self = .ne
        case "<", "lessthan": self = .lt
        case "<=": self = .le
        case ">", "greaterthan": self = .gt
        case ">=": self = .ge
        default: self.init(rawValue: name)
        }
    }

    /// How many arguments the test takes besides the value.
    var argumentCount: Int {
        switch self {
        case .sameas, .divisibleby, .eq, .ne, .lt, .le, .gt, .ge, .in: return 1
        default: return 0
        }
    }
}

/// `value is test(arguments)`.
func applyTest(_ test: Test, _ value: TemplateValue, _ arguments: TemplateArguments) throws -> Bool {
    let given = arguments.positional.count + arguments.keywords.count
    guard given == test.argumentCount else {
        throw RuntimeFailure(.type, "test_\(test.rawValue)() takes \(test.argumentCount + 1) positional argument(s) but \(given + 1) were given")
    }
    let other = arguments.positional.first ?? arguments.keywords.first?.value ?? TemplateValue.none
    switch test {
    case .defined: return value.isDefined
    case .undefined: return !value.isDefined
    case .none: return value.isNone
    case .boolean: if case .bool = value { return true } else { return false }
    case .trueValue: if case .bool(true) = value { return true } else { return false }
    case .falseValue: if case .bool(false) = value { return true } else { return false }
    case .integer: if case .int = value { return true } else { return false }
    case .float: if case .double = value { return true } else { return false }
    case .number: return value.number != nil
    case .string: return value.stringValue != nil
    case .mapping: if case .dictionary = value { return true } else { return false }
    case .iterable:
        switch value {
        case .string, .array, .tuple, .dictionary, .undefined: return true
        case .object(let o): return o is LoopContext
        default: return false
        }
    case .sequence:
        switch value {
        case .string, .array, .tuple, .dictionary, .undefined: return true
        default: return false
        }
    case .callable:
        switch value {
        case .callable, .undefined: return true
        default: return false
        }
    case .sameas:
        switch (value, other) {
        case (.none, .none): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b && (-5...256).contains(a)
        case (.string(let a), .string(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.object(let a), .object(let b)): return a === b
        case (.callable(let a), .callable(let b)): return a === b
        default: return false
        }
    case .escaped: return false
    case .odd, .even:
        let remainder = try applyBinary(.modulo, value, .int(2), sizeLimit: Int.max)
        return pythonEquals(remainder, .int(test == .odd ? 1 : 0))
    case .divisibleby:
        let remainder = try applyBinary(.modulo, value, other, sizeLimit: Int.max)
        return pythonEquals(remainder, .int(0))
    case .eq: return pythonEquals(value, other)
    case .ne: return !pythonEquals(value, other)
    case .lt: return try pythonLess(value, other)
    case .le: return try !pythonLess(other, value, symbol: "<=", swapped: true)
    case .gt: return try pythonLess(other, value, symbol: ">", swapped: true)
    case .ge: return try !pythonLess(value, other, symbol: ">=")
    case .in: return try pythonIn(value, other)
    case .lower: return pythonCaseTest(value.pythonString, lower: true)
    case .upper: return pythonCaseTest(value.pythonString, lower: false)
    case .filter: return value.stringValue.flatMap { Filter(name: $0) } != nil
    case .test: return value.stringValue.flatMap { Test(name: $0) } != nil
    }
}
