// Differential tests of the interpreter: small templates covering whitespace control,
// trim_blocks/lstrip_blocks, literals, operators, scoping, loops, macros, filters, tests and
// errors, each rendered by transformers' own Jinja environment (jinja-cases.json).

import XCTest
import ChatTemplates

final class JinjaSemanticsTests: XCTestCase {
    /// How the Python exception types map onto `TemplateError.Kind`.
    private static let kinds: [String: TemplateError.Kind] = [
        "TemplateSyntaxError": .syntax, "TemplateAssertionError": .syntax, "SyntaxError": .syntax,
        "UndefinedError": .undefined, "TemplateError": .raised, "TypeError": .type, "ValueError": .type,
        "TemplateRuntimeError": .type, "FilterArgumentError": .type, "AttributeError": .type,
        "ZeroDivisionError": .arithmetic, "SecurityError": .security, "OverflowError": .limit,
    ]
    /// Cases where the error legitimately differs from Jinja's (by design, not by accident).
    private static let knownDifferences: [String: TemplateError.Kind] = [
        // Jinja only fails when rendering (no loader); this sandbox refuses the tag when parsing.
        "syntax-include-unsupported": .unsupported,
        // Jinja reports Python's own SyntaxError from its generated code (line 11 of that code).
        "syntax-break-outside-loop": .syntax,
    ]

    func testAgainstJinja() throws {
        let cases = try ChatTemplateFixtures.load("jinja-cases.json").arrayItems
        XCTAssertGreaterThan(cases.count, 100)
        for record in cases {
            let name = record["name"]?.stringValue ?? "?"
            var context: [String: TemplateValue] = [:]
            for (key, value) in record["context"]?.dictionaryValue ?? TemplateDictionary() { context[key] = value }
            do {
                var template = try ChatTemplate(source: record["template"]?.stringValue ?? "", name: name)
                template.clock = ChatTemplateFixtures.clock("2024-09-05T10:11:12")
                let rendered = try template.render(context: context)
                if let expected = record["expected"]?.stringValue {
                    assertSameText(rendered, expected, name)
                } else {
                    XCTFail("\(name): rendered \(String(reflecting: rendered)), Jinja raised \(record["expected_error"]?.pythonRepr ?? "")")
                }
            } catch let error as TemplateError {
                guard let expected = record["expected_error"], let type = expected["type"]?.stringValue else {
                    XCTFail("\(name): unexpected error \(error)")
                    continue
                }
                if let kind = Self.knownDifferences[name] {
                    XCTAssertEqual(error.kind, kind, name)
                    continue
                }
                XCTAssertEqual(error.kind, Self.kinds[type], "\(name): \(error) vs \(type)")
                XCTAssertEqual(error.message, expected["message"]?.stringValue, name)
                if case .int(let line)? = expected["line"] {
                    XCTAssertEqual(error.line, line, "\(name): line")
                }
            }
        }
    }

    /// Random templates (jinja-fuzz.json): the same text whenever Jinja renders, an error whenever
    /// it raises (messages are not compared: some name Python-only types such as Markup).
    func testRandomTemplatesAgainstJinja() throws {
        let cases = try ChatTemplateFixtures.load("jinja-fuzz.json").arrayItems
        XCTAssertGreaterThan(cases.count, 1000)
        var mismatches = 0
        for record in cases where mismatches < 10 {
            let name = record["name"]?.stringValue ?? "?"
            var context: [String: TemplateValue] = [:]
            for (key, value) in record["context"]?.dictionaryValue ?? TemplateDictionary() { context[key] = value }
            do {
                let rendered = try ChatTemplate(source: record["template"]?.stringValue ?? "", name: name).render(context: context)
                if let expected = record["expected"]?.stringValue {
                    if !rendered.unicodeScalars.elementsEqual(expected.unicodeScalars) {
                        mismatches += 1
                        assertSameText(rendered, expected, name)
                    }
                } else {
                    mismatches += 1
                    XCTFail("\(name): rendered \(String(reflecting: rendered)), Jinja raised \(record["expected_error"]?.pythonRepr ?? "")")
                }
            } catch let error as TemplateError {
                if record["expected_error"] == nil {
                    mismatches += 1
                    XCTFail("\(name): unexpected error \(error)")
                }
            }
        }
    }
}
