// Unit tests of the interpreter: whitespace control, trim_blocks/lstrip_blocks, loop variables,
// namespaces, filters (trim with Python's whitespace, tojson), error locations, the runaway
// guards, the public API conveniences, and the cost of a render (work and loop budgets, not time).

import Foundation
import XCTest
import ChatTemplates

final class InterpreterTests: XCTestCase {
    private func render(_ source: String, _ context: [String: TemplateValue] = [:]) throws -> String {
        try ChatTemplate(source: source).render(context: context)
    }

    private func assertError(_ source: String, _ context: [String: TemplateValue] = [:], kind: TemplateError.Kind,
                             line: Int? = nil, column: Int? = nil, message: String? = nil,
                             limits: TemplateLimits = TemplateLimits(), file: StaticString = #filePath, lineNumber: UInt = #line) {
        do {
            var template = try ChatTemplate(source: source, name: "t.jinja")
            template.limits = limits
            let rendered = try template.render(context: context)
            XCTFail("expected a \(kind) error, rendered \(String(reflecting: rendered))", file: file, line: lineNumber)
        } catch let error as TemplateError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: lineNumber)
            XCTAssertEqual(error.templateName, "t.jinja", file: file, line: lineNumber)
            if let line { XCTAssertEqual(error.line, line, "line of \(error)", file: file, line: lineNumber) }
            if let column { XCTAssertEqual(error.column, column, "column of \(error)", file: file, line: lineNumber) }
            if let message { XCTAssertEqual(error.message, message, file: file, line: lineNumber) }
            XCTAssertTrue(error.description.hasPrefix("t.jinja:\(error.line):\(error.column): "), error.description,
                          file: file, line: lineNumber)
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: lineNumber)
        }
    }

    // MARK: whitespace

    func testWhitespaceControl() throws {
        XCTAssertEqual(try render("a  {{- 'b' -}}  c"), "abc")
        XCTAssertEqual(try render("a \n {%- if true -%} \n b {%- endif %}"), "ab")
        XCTAssertEqual(try render("x {#- comment -#} y"), "xy")
        XCTAssertEqual(try render("{%- for m in messages -%}\n  [{{ loop.index }}/{{ loop.length }} {{ m }}]\n{%- endfor %}\n",
                                  ["messages": ["a", "b"]]), "[1/2 a][2/2 b]")
    }

    func testTrimAndLstripBlocks() throws {
        // Indented block tags vanish with their line; variables keep their indentation.
        XCTAssertEqual(try render("<ul>\n  {% for x in items %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n", ["items": [1, 2]]),
                       "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>")
        XCTAssertEqual(try render("  {%+ if true %}kept{% endif %}"), "  kept")
        XCTAssertEqual(try render("{% if true +%}\nkept newline{% endif %}"), "\nkept newline")
        XCTAssertEqual(try render("a\n"), "a")
        XCTAssertEqual(try render("a\r\n\r\n"), "a\n")
    }

    func testPairPMPlainRendersAsReferenceSaysNotAsWritten() throws {
        // REFERENCE.md §9: "\n" + Σ ("\n<turn> user|assistant\n " + content) + "\n".
        let template = try ChatTemplate(source: ChatTemplate.pairPMPlain)
        let rendered = try template.render(conversation: [("system", " s "), ("user", "u\n"), ("assistant", "a")])
        XCTAssertEqual(rendered, "\n\n<turn> user\n  s \n<turn> assistant\n u\n\n<turn> user\n a\n")
    }

    // MARK: statements and values

    func testLoopVariablesAndControl() throws {
        XCTAssertEqual(try render("{% for x in 'abc' %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first|int }}{{ loop.last|int }}{% endfor %}"),
                       "031012002101")
        XCTAssertEqual(try render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"), "2/2 4/2 ")
        XCTAssertEqual(try render("{% for x in range(9) %}{% if x > 3 %}{% break %}{% endif %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}"), "02")
        XCTAssertEqual(try render("{% for k, v in d|items %}{{ k }}={{ v }},{% else %}none{% endfor %}", ["d": ["b": 1, "a": 2]]), "b=1,a=2,")
    }

    func testNamespaceAndScoping() throws {
        XCTAssertEqual(try render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "6")
        XCTAssertEqual(try render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1")
        XCTAssertEqual(try render("{% set ns = namespace(x=1) %}{% set ns.y = ns %}{{ ns }}"), "<Namespace {'x': 1, 'y': <Namespace {...}>}>")
    }

    func testUndefinedBehavesLikeJinja() throws {
        XCTAssertEqual(try render("[{{ missing }}][{{ m.nope }}][{{ m.nope is defined }}][{{ m.nope|default('d') }}]", ["m": [:]]),
                       "[][][False][d]")
        assertError("{{ missing.attribute }}", kind: .undefined, message: "'missing' is undefined")
    }

    // MARK: filters

    func testTrimUsesPythonWhitespace() throws {
        // U+001C–U+001F are whitespace for Python's str.strip() but not for Swift's .whitespacesAndNewlines.
        let s = "\u{1C}\u{1D}\u{1E}\u{1F}\u{85}\u{A0}\u{2028}\u{3000} core \u{3000}\u{200B}"
        XCTAssertEqual(try render("[{{ s|trim }}]", ["s": .string(s)]), "[core \u{3000}\u{200B}]")
        XCTAssertEqual(try render("[{{ s.strip() }}]", ["s": "\u{1C}\u{3000}x\u{85}"]), "[x]")
        XCTAssertEqual(try render("{{ s.split()|length }}", ["s": "a\u{3000}b\u{1F}c"]), "3")
    }

    func testToJSON() throws {
        let tool: TemplateValue = ["name": "f", "parameters": ["a": [1, 2], "b": [:]], "u": "é"]
        XCTAssertEqual(try render("{{ t|tojson(indent=2) }}", ["t": tool]),
                       "{\n  \"name\": \"f\",\n  \"parameters\": {\n    \"a\": [\n      1,\n      2\n    ],\n    \"b\": {}\n  },\n  \"u\": \"é\"\n}")
        XCTAssertEqual(try render("{{ t|tojson }}", ["t": ["x": 1.0, "y": nil, "z": true, "w": "<\"\n\u{1}>"]]),
                       "{\"x\": 1.0, \"y\": null, \"z\": true, \"w\": \"<\\\"\\n\\u0001>\"}")
        XCTAssertEqual(try render("{{ '😀'|tojson(ensure_ascii=true) }}"), "\"\\ud83d\\ude00\"")
    }

    func testFloatsRenderLikePython() throws {
        XCTAssertEqual(try render("{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-5 }} {{ 2.5e-3 }} {{ 7 / 2 }} {{ -0.0 }}"),
                       "1.0 0.30000000000000004 1e+16 1e-05 0.0025 3.5 -0.0")
    }

    func testStrftimeNowUsesTheInjectedClock() throws {
        var template = try ChatTemplate(source: "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d, %H:%M:%S %p %j %y') }}")
        template.clock = .fixed(year: 2024, month: 9, day: 5, hour: 14, minute: 3, second: 9)
        XCTAssertEqual(try template.render(context: [:]), "05 Sep 2024|Thursday September 5, 14:03:09 PM 249 24")
    }

    // MARK: errors and guards

    func testSyntaxErrorsCarryLineAndColumn() {
        assertError("hello {{ name", kind: .syntax, line: 1, column: 14,
                    message: "unexpected end of template, expected 'end of print statement'.")
        assertError("a\n{% if true", kind: .syntax, line: 2, column: 11)
        assertError("a\n  {% if x %}\n{% endfor %}", kind: .syntax, line: 3, column: 4)
        assertError("line1\n{{ x|frobnicate }}", kind: .syntax, line: 2, column: 6, message: "No filter named 'frobnicate'.")
        assertError("{{ x is frobnicate }}", kind: .syntax, line: 1, column: 9)
        assertError("ab {# never closed", kind: .syntax, line: 1, column: 4, message: "Missing end of comment tag")
        assertError("{{ 1 $ 2 }}", kind: .syntax, line: 1, column: 6, message: "unexpected char '$' at 5")
        assertError("{% frobnicate %}", kind: .syntax, line: 1, column: 4, message: "Encountered unknown tag 'frobnicate'.")
        assertError("{{ 'bad \\xZZ' }}", kind: .syntax, line: 1, column: 4)
        assertError("{% include 'x' %}", kind: .unsupported, line: 1, column: 4)
        // Deep nesting is an error, never a stack overflow.
        assertError("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}", kind: .syntax)
        assertError("{{ " + Array(repeating: "1", count: 20000).joined(separator: " + ") + " }}", kind: .syntax)
        assertError("{{ x" + String(repeating: "|trim", count: 20000) + " }}", kind: .syntax)
        assertError(String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000), kind: .syntax)
        XCTAssertEqual(try render("{{ " + Array(repeating: "1", count: 100).joined(separator: " + ") + " }}"), "100")
    }

    func testRuntimeErrorsCarryLineAndColumn() {
        assertError("ok\n  {{ raise_exception('Roles must alternate') }}", kind: .raised, line: 2, column: 6,
                    message: "Roles must alternate")
        assertError("{{ 1 + 'a' }}", kind: .type, line: 1, column: 6)
        assertError("\n\n{{ 10 // 0 }}", kind: .arithmetic, line: 3, column: 7)
        assertError("{{ m.a.b }}", ["m": [:]], kind: .undefined, line: 1, column: 8, message: "'dict object' has no attribute 'a'")
        assertError("{{ [].append(1) }}", kind: .security)
        assertError("{% set x = 1 %}{% set x.y = 2 %}", kind: .type, line: 1, column: 23)
    }

    func testRunawayGuards() {
        assertError("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", kind: .limit, line: 1,
                    limits: TemplateLimits(maxLoopIterations: 10_000))
        assertError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", kind: .limit)
        assertError("{{ range(1000000)|length }}", kind: .limit)
        assertError("{{ 'x' * 100000000 }}", kind: .limit, limits: TemplateLimits(maxOutputBytes: 1 << 20))
        assertError("{% for i in range(100) %}{{ 'y' * 100000 }}{% endfor %}", kind: .limit,
                    limits: TemplateLimits(maxOutputBytes: 1 << 20))
        assertError("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}", kind: .limit)
        assertError("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", kind: .limit,
                    limits: TemplateLimits(maxOutputBytes: 1 << 20))
        assertError("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", kind: .limit,
                    limits: TemplateLimits(maxOutputBytes: 1 << 20))
        assertError("{{ 'x'.center(1000000000000) }}", kind: .limit)
        assertError("{{ [1]|tojson(indent=1000000000000) }}", kind: .limit)
    }

    // MARK: API

    func testMessageAPIAndTransformersConventions() throws {
        let template = try ChatTemplate(source: "{{ bos_token is defined }}|{% for m in messages %}{{ m|tojson }}{% endfor %}|{{ tools }}|{{ add_generation_prompt }}|{{ date_string }}")
        let rendered = try template.render(
            messages: [.user("hi"), ChatMessage(role: "assistant", content: nil, fields: TemplateDictionary([("tool_calls", [["name": "f"]])]))],
            addGenerationPrompt: true, eosToken: "</s>", extra: ["date_string": "1 Jan 2030"])
        XCTAssertEqual(rendered, "False|{\"role\": \"user\", \"content\": \"hi\"}{\"role\": \"assistant\", \"tool_calls\": [{\"name\": \"f\"}]}|None|True|1 Jan 2030")
        // Keys whose value is None are dropped, as transformers does.
        let dropped = try template.render(messages: [["role": "user", "content": nil]])
        XCTAssertEqual(dropped, "False|{\"role\": \"user\"}|None|False|")
    }

    func testJSONRoundTripKeepsOrderAndNumberKinds() throws {
        let value = try TemplateValue.parseJSON(#"{"z": [1, 2.0, -3e2, true, null, "é\u00e9\ud83d\ude00"], "a": {}}"#)
        XCTAssertEqual(try value.jsonString(), #"{"z": [1, 2.0, -300.0, true, null, "éé😀"], "a": {}}"#)
        XCTAssertThrowsError(try TemplateValue.parseJSON("{\"a\": }"))
    }

    /// The cost of a render, measured deterministically: the smallest work budget
    /// (`TemplateLimits.maxWorkBytes`) and loop budget it renders within, found by bisection (a render
    /// over budget is a `.limit` error). Wall-clock time on a shared machine would make this flaky.
    func testRenderCostIsLinearInTheConversation() throws {
        let fixture = try ChatTemplateFixtures.load("llama-3.1.json")
        var template = try ChatTemplate(source: fixture["template"]?.stringValue ?? "")
        template.clock = .fixed(year: 2024, month: 9, day: 5)
        let turns: [ChatMessage] = [.user("Hello there, how are you?"), .assistant("Fine, thanks."),
                                    .user("Tell me a joke."), .assistant("Why did the chicken cross the road?")]
        func conversation(_ repeats: Int) -> [ChatMessage] {
            [.system("You are helpful.")] + Array((0..<repeats).map { _ in turns }.joined()) + [.user("Why?")]
        }
        func renders(_ messages: [ChatMessage], work: Int = 1 << 30, loops: Int = 1_000_000) throws -> Bool {
            var t = template
            t.limits = TemplateLimits(maxLoopIterations: loops, maxWorkBytes: work)
            do { _ = try t.render(messages: messages, addGenerationPrompt: true, bosToken: "<|begin_of_text|>"); return true }
            catch let e as TemplateError where e.kind == .limit { return false }
        }
        /// The smallest budget in 0…hi that `ok` accepts (ok is monotone).
        func smallest(_ hi: Int, _ ok: (Int) throws -> Bool) rethrows -> Int {
            var lo = 0, hi = hi
            while lo < hi { let mid = (lo + hi) / 2; if try ok(mid) { hi = mid } else { lo = mid + 1 } }
            return hi
        }
        var costs: [(bytes: Int, work: Int, loops: Int)] = []
        for repeats in [1, 4] {
            let messages = conversation(repeats)
            let out = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<|begin_of_text|>")
            XCTAssertTrue(out.hasSuffix("Why?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"), out)
            XCTAssertEqual(try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<|begin_of_text|>"), out,
                           "the same conversation renders the same text")
            let work = try smallest(1 << 24) { try renders(messages, work: $0) }
            let loops = try smallest(1 << 16) { try renders(messages, loops: $0) }
            XCTAssertGreaterThan(work, 0, "the work budget is enforced")
            XCTAssertFalse(try renders(messages, work: work - 1))
            XCTAssertGreaterThan(loops, 0, "the loop budget is enforced")
            costs.append((out.utf8.count, work, loops))
        }
        print("Llama 3.1 template: " + costs.map { "\($0.bytes) bytes out, work \($0.work) bytes, \($0.loops) loop iterations" }.joined(separator: "; "))
        // A few times the output ("real chat templates use a few times their output"), and linear:
        // four times the turns cost at most about four times the work and the loop iterations.
        for c in costs { XCTAssertLessThan(c.work, 16 * c.bytes, "work \(c.work) for \(c.bytes) bytes of output") }
        XCTAssertLessThan(Double(costs[1].work - costs[0].work), 1.25 * 3 * Double(costs[0].work), "\(costs)")
        XCTAssertLessThanOrEqual(costs[1].loops - costs[0].loops, 2 * 3 * 4, "\(costs): about one loop iteration per added message")
    }
}
