// Reading the JSON a run wrote, independently of the code under test, with exact numbers.
//
// On Linux, JSONSerialization returns non-integer numbers as NSDecimalNumber, whose doubleValue is
// not always the nearest double (0.6931471805599453 reads back as 0.6931471805599452): a test that
// compares a loss with ln 2 through it fails for the wrong reason. JSONDecoder parses doubles
// exactly; this turns its output into plain Swift values: Int (integral numbers written without a
// fraction or exponent), Double, String, Bool, NSNull, [Any], [String: Any].

import Foundation

import Support

public enum TestJSON {
    /// A JSON value as plain Swift values.
    static func any(_ v: JSONValue) -> Any {
        switch v {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(any)
        case .object(let o): return o.mapValues(any)
        }
    }

    /// One JSON document.
    public static func parse(_ data: Data) throws -> Any { any(try JSONDecoder().decode(JSONValue.self, from: data)) }

    /// A JSON file.
    public static func read(_ url: URL) throws -> Any { try parse(Data(contentsOf: url)) }

    /// A JSONL file: one object per non-empty line.
    public static func lines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").enumerated().map { i, line in
            guard let o = try parse(Data(line.utf8)) as? [String: Any] else {
                throw CocoaError(.coderReadCorrupt, userInfo: [NSLocalizedDescriptionKey: "\(url.path):\(i + 1) is not a JSON object"])
            }
            return o
        }
    }

    /// A number as a Double (Int or Double).
    public static func double(_ value: Any?) -> Double? { (value as? Double) ?? (value as? Int).map(Double.init) }
    /// A list of numbers as Doubles (nil if any entry is not a number).
    public static func doubles(_ value: Any?) -> [Double]? {
        guard let a = value as? [Any] else { return nil }
        let d = a.compactMap { double($0) }
        return d.count == a.count ? d : nil
    }
}
