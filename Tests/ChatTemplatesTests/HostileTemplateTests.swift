// Hostile chat templates and JSON: deep nesting, runaway loops and recursion, output held back by
// macro calls, values that print into gigabytes, repeated work on large values. Each is a located
// `.limit` (or `.syntax`) TemplateError stating its limit, in bounded time and memory.

import Foundation
import XCTest
import ChatTemplates

final class HostileTemplateTests: XCTestCase {
    /// Renders `source` (named "hostile.jinja") with `limits`, expecting a TemplateError of `kind`
    /// whose message is `message` at `line`:`column` (when given); returns it.
    @discardableResult
    private func expectError(_ source: String, kind: TemplateError.Kind = .limit, message: String, line: Int? = nil,
                             column: Int? = nil, limits: TemplateLimits = TemplateLimits(),
                             file: StaticString = #filePath, lineNumber: UInt = #line) -> TemplateError? {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            XCTAssertLessThan(seconds, 2, "took \(seconds) s", file: file, line: lineNumber)
        }
        do {
            var template = try ChatTemplate(source: source, name: "hostile.jinja")
            template.limits = limits
            let rendered = try template.render(context: [:])
            XCTFail("expected an error, rendered \(rendered.utf8.count) bytes", file: file, line: lineNumber)
        } catch let error as TemplateError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: lineNumber)
            XCTAssertEqual(error.message, message, file: file, line: lineNumber)
            XCTAssertEqual(error.templateName, "hostile.jinja", file: file, line: lineNumber)
            if let line { XCTAssertEqual(error.line, line, "\(error)", file: file, line: lineNumber) }
            if let column { XCTAssertEqual(error.column, column, "\(error)", file: file, line: lineNumber) }
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: lineNumber)
        }
        return nil
    }

    // MARK: nesting and the guards that were already there

    func testDeepNestingIsASyntaxErrorAtTheStatedDepth() {
        let deep = "template nested deeper than 256 levels"
        expectError("{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}",
                    kind: .syntax, message: deep, line: 1)
        expectError(String(repeating: "{% if true %}\n", count: 100_000) + String(repeating: "{% endif %}", count: 100_000),
                    kind: .syntax, message: deep)
        expectError("{{ " + String(repeating: "not ", count: 100_000) + "x }}", kind: .syntax, message: deep, line: 1)
        expectError("{{ " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + " }}",
                    kind: .syntax, message: deep, line: 1)
    }

    func testLoopRecursionAndRangeGuardsNameTheLine() {
        expectError("{% for i in range(100000) %}\n{% for j in range(100000) %}{% endfor %}{% endfor %}",
                    message: "more than 1000000 loop iterations in one render", line: 2, column: 4)
        expectError("{% macro f(n) %}\n{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", message: "macro calls nested deeper than 100", line: 2, column: 4)
        expectError("\n{{ range(100001) }}", message: "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).",
                    line: 2, column: 4)
    }

    // MARK: output

    func testOutputOutsideLoopsCountsTowardTheLimit() {
        // Straight-line output of a large value: the limit was checked only once per loop iteration.
        let source = "{% set s = 'x' * 1000 %}\n" + String(repeating: "{{ s }}", count: 2000)
        expectError(source, message: "rendered text longer than 1048576 bytes", line: 2, column: 7 * 1048 + 4,
                    limits: TemplateLimits(maxOutputBytes: 1 << 20))
    }

    func testOutputHeldBackByMacroCallsCountsTowardTheLimit() {
        // Each nested call sets its caller's output aside: 90 of them held 45 MB without an error.
        let source = "{% macro f(n) %}{{ 'x' * 500000 }}{% if n < 90 %}\n{{ f(n + 1)|length }}{% endif %}{% endmacro %}{{ f(0)|length }}"
        expectError(source, message: "rendered text longer than 1048576 bytes", line: 1, limits: TemplateLimits(maxOutputBytes: 1 << 20))
        // The same with `set` blocks, which capture their body's output.
        let blocks = String(repeating: "{% set b %}{{ 'y' * 300000 }}", count: 5) + String(repeating: "{% endset %}", count: 5)
        expectError(blocks, message: "rendered text longer than 1048576 bytes", limits: TemplateLimits(maxOutputBytes: 1 << 20))
    }

    // MARK: size of built values

    func testSharedItemsCannotPrintIntoGigabytes() {
        // A hundred thousand references to one 100 kB string: cheap as a list, 10 GB as text.
        let setUp = "{% set big = 'x' * 100000 %}{% set many = [big] * 100000 %}\n"
        let limits = TemplateLimits(maxOutputBytes: 4 << 20)
        let tooLong = "string longer than 4194304 bytes"
        expectError(setUp + "{{ many }}", message: tooLong, line: 2, column: 4, limits: limits)
        expectError(setUp + "{{ many|tojson }}", message: tooLong, line: 2, limits: limits)
        expectError(setUp + "{{ many|join(',') }}", message: tooLong, line: 2, limits: limits)
        expectError(setUp + "{{ ','.join(many) }}", message: tooLong, line: 2, limits: limits)
        expectError(setUp + "{{ many|string|length }}", message: tooLong, line: 2, limits: limits)
        expectError(setUp + "{{ many|sum(start='')|length }}", message: tooLong, line: 2, limits: limits)
        expectError(setUp + "{{ ([many] * 6)|sum(start=[])|length }}", message: "list longer than 524288 items", line: 2, limits: limits)
        expectError(setUp + "{{ '%s' % (many,) }}", message: tooLong, line: 2, limits: limits)
        // Amplifying string operations are refused before they build anything.
        expectError("{{ ('a' * 100000).replace('a', 'b' * 100)|length }}", message: tooLong, limits: limits)
        expectError("{{ ('a' * 100000)|replace('a', 'b' * 100)|length }}", message: tooLong, limits: limits)
        expectError("{{ ('\\n' * 100000)|indent(100)|length }}", message: tooLong, limits: limits)
        expectError("{{ [[1]]|tojson(indent='x' * 3000000)|length }}", message: tooLong, limits: limits)
        expectError("{{ ([1] * 600000)|length }}", message: "list repetition longer than 524288 items", limits: limits)
        expectError("{{ ('ab' * 3000000)|length }}", message: "string repetition longer than 4194304 bytes", limits: limits)
        // The default limit is 64 MiB.
        expectError("{% set big = 'x' * 1000000 %}{{ [big] * 100 }}", message: "string longer than 67108864 bytes")
    }

    // MARK: work

    func testRepeatedWorkOnLargeValuesIsBounded() {
        let limits = TemplateLimits(maxWorkBytes: 20_000_000)
        let exhausted = "more than 20000000 bytes of strings and lists processed in one render"
        // Scanning, copying or building a large value in every iteration of a loop.
        expectError("{% set big = 'x' * 1000000 %}{% for i in range(100000) %}\n{% if 'needle' in big %}{% endif %}{% endfor %}",
                    message: exhausted, line: 2, limits: limits)
        expectError("{% for i in range(1000) %}\n{% set x = 'ab' * 500000 %}{% endfor %}", message: exhausted, line: 2, limits: limits)
        expectError("{% for i in range(100000) %}{{ loop.cycle(*range(100000)) }}{% endfor %}", message: exhausted, limits: limits)
        expectError("{% set big = 'x' * 1000000 %}{% for i in range(100000) %}{{ big|length }}{% endfor %}", message: exhausted,
                    limits: limits)
        expectError("{% for c in 'x' * 60000000 %}{% break %}{% endfor %}", message: "more than 1073741824 bytes of strings and lists processed in one render")
        // Comparing nested lists that share their items visits every path: 2⁴⁰ here.
        var source = "{% set a0 = ['x'] %}{% set b0 = ['x'] %}"
        for k in 1...40 { source += "{% set a\(k) = [a\(k - 1), a\(k - 1)] %}{% set b\(k) = [b\(k - 1), b\(k - 1)] %}" }
        expectError(source + "\n{{ a40 == b40 }}", message: exhausted, line: 2, limits: limits)
        // With the default limit, one render may still do plenty of honest work.
        XCTAssertEqual(try ChatTemplate(source: "{% set big = 'x' * 1000000 %}{% for i in range(100) %}{{ (big ~ i)|length }} {% endfor %}")
            .render(context: [:]).split(separator: " ").count, 100)
    }

    // MARK: JSON

    func testJSONNestingIsLimitedTo512Levels() throws {
        func nested(_ levels: Int) -> String { String(repeating: "[", count: levels) + String(repeating: "]", count: levels) }
        XCTAssertNoThrow(try TemplateValue.parseJSON(nested(512)))
        for levels in [513, 100_000] {
            XCTAssertThrowsError(try TemplateValue.parseJSON("\n" + nested(levels), name: "tools.json")) { error in
                guard let error = error as? TemplateError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.description, "tools.json:2:513: invalid JSON at byte 513: nesting deeper than 512 levels")
                XCTAssertEqual(error.kind, .syntax)
            }
        }
    }
}
