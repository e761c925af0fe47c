// Every fixture conversation of the real chat templates (Llama 3 / 3.1 / 3.2, SmolLM2, Qwen2,
// Qwen2.5, Gemma, Mistral 7B Instruct v0.1 / v0.3 and the pair-PM plain template) must render to
// exactly what transformers' apply_chat_template produced, or fail with the same raise_exception
// message, in an error that names the template.

import XCTest
import ChatTemplates

final class RealTemplateTests: XCTestCase {
    private func checkFixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try ChatTemplateFixtures.load("\(name).json")
        guard let source = fixture["template"]?.stringValue else { return XCTFail("\(name): no template", file: file, line: line) }
        var template = try ChatTemplate(source: source, name: name)
        let cases = fixture["cases"]?.arrayItems ?? []
        XCTAssertFalse(cases.isEmpty, "\(name): no cases", file: file, line: line)
        var failures = 0
        for testCase in cases {
            let label = "\(name) / \(testCase["name"]?.stringValue ?? "?")"
            template.clock = ChatTemplateFixtures.clock(testCase["now"]?.stringValue ?? "2024-09-05T10:11:12")
            var extra: [String: TemplateValue] = [:]
            var tools: [TemplateValue]? = nil
            for (key, value) in testCase["extra"]?.dictionaryValue ?? TemplateDictionary() {
                if key == "tools" { tools = value.arrayItems } else { extra[key] = value }
            }
            do {
                let rendered = try template.render(
                    messages: testCase["messages"]?.arrayItems ?? [],
                    addGenerationPrompt: testCase["add_generation_prompt"] == .bool(true),
                    bosToken: fixture["bos_token"]?.stringValue, eosToken: fixture["eos_token"]?.stringValue,
                    tools: tools, extra: extra)
                if let expected = testCase["expected"]?.stringValue {
                    assertSameText(rendered, expected, label, file: file, line: line)
                } else {
                    failures += 1
                    XCTFail("\(label): rendered, but transformers raised \(testCase["expected_error"]?.pythonRepr ?? "")", file: file, line: line)
                }
            } catch let error as TemplateError {
                guard let expected = testCase["expected_error"] else {
                    failures += 1
                    XCTFail("\(label): unexpected error \(error)", file: file, line: line)
                    continue
                }
                XCTAssertEqual(expected["type"]?.stringValue, "TemplateError", label, file: file, line: line)
                XCTAssertEqual(error.kind, .raised, label, file: file, line: line)
                XCTAssertEqual(error.message, expected["message"]?.stringValue, label, file: file, line: line)
                XCTAssertEqual(error.templateName, name, label, file: file, line: line)
                XCTAssertTrue(error.description.hasPrefix("\(name):\(error.line):\(error.column): "), error.description,
                              file: file, line: line)
            }
        }
    }

    func testLlama3() throws { try checkFixture("llama-3") }
    func testLlama31() throws { try checkFixture("llama-3.1") }
    func testLlama32() throws { try checkFixture("llama-3.2") }
    func testSmolLM2() throws { try checkFixture("smollm2") }
    func testQwen2() throws { try checkFixture("qwen2") }
    func testQwen25() throws { try checkFixture("qwen2.5") }
    func testQwen25GGUFVariant() throws { try checkFixture("qwen2.5-gguf") }
    func testPairPMPlain() throws { try checkFixture("pair-pm-plain") }
    func testGemma() throws { try checkFixture("gemma") }
    func testMistralV01Original() throws { try checkFixture("mistral-v0.1-original") }
    func testMistralV01() throws { try checkFixture("mistral-v0.1") }
    func testMistralV03() throws { try checkFixture("mistral-v0.3") }

    /// Gemma's template refuses a system message with its own words, and the error says which
    /// template refused (the name a model directory's template gets: its tokenizer_config.json path).
    func testGemmaSystemMessageErrorNamesTheTemplate() throws {
        let fixture = try ChatTemplateFixtures.load("gemma.json")
        let name = "/models/gemma-2b-it/tokenizer_config.json chat_template"
        let template = try ChatTemplate(source: try XCTUnwrap(fixture["template"]?.stringValue), name: name)
        XCTAssertThrowsError(try template.render(conversation: [("system", "Be brief."), ("user", "Hi")],
                                                 bosToken: "<bos>", eosToken: "<eos>")) { error in
            guard let error = error as? TemplateError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.kind, .raised)
            XCTAssertEqual(error.message, "System role not supported")
            XCTAssertEqual(error.templateName, name)
            XCTAssertEqual("\(error)", "\(name):1:\(error.column): System role not supported")
        }
        XCTAssertEqual(try template.render(conversation: [("user", " Hi "), ("assistant", "Hello")], addGenerationPrompt: false,
                                           bosToken: "<bos>", eosToken: "<eos>"),
                       "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n")
    }

    func testPairPMPlainConstantIsTheFixtureTemplate() throws {
        let fixture = try ChatTemplateFixtures.load("pair-pm-plain.json")
        XCTAssertEqual(fixture["template"]?.stringValue, ChatTemplate.pairPMPlain)
    }
}
