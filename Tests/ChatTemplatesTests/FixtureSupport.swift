// Helpers for the chat-template tests: loading the JSON fixtures written by
// Scripts/make_chat_template_fixtures.py and comparing texts scalar by scalar.

import Foundation
import XCTest
import ChatTemplates
import TestSupport

enum ChatTemplateFixtures {
    /// A fixture file parsed with the order-preserving JSON reader.
    static func load(_ name: String) throws -> TemplateValue {
        let url = Fixtures.url("chat-templates/\(name)")
        return try TemplateValue.parseJSON(String(contentsOf: url, encoding: .utf8))
    }

    /// `"2024-09-05T10:11:12"` as a stopped clock.
    static func clock(_ iso: String) -> TemplateClock {
        let parts = iso.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).map { Int($0)! }
        return .fixed(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5])
    }
}

extension TemplateValue {
    var arrayItems: [TemplateValue] { arrayValue ?? [] }
}

/// Asserts two texts are the same sequence of Unicode scalars (Swift's `==` would also accept
/// canonically equivalent texts), reporting the first difference.
func assertSameText(_ actual: String, _ expected: String, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    if actual.unicodeScalars.elementsEqual(expected.unicodeScalars) { return }
    let a = Array(actual.unicodeScalars), e = Array(expected.unicodeScalars)
    var i = 0
    while i < min(a.count, e.count) && a[i] == e[i] { i += 1 }
    func excerpt(_ s: [Unicode.Scalar]) -> String {
        let lower = max(0, i - 30), upper = min(s.count, i + 30)
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s[lower..<upper])
        return String(reflecting: String(view))
    }
    XCTFail("\(label): texts differ at scalar \(i) (lengths \(a.count) vs \(e.count))\n  got:      \(excerpt(a))\n  expected: \(excerpt(e))",
            file: file, line: line)
}
