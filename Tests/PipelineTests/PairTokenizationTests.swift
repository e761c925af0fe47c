// Pairs → token ids exactly as TRL's DPOTrainer builds them, on SentencePiece-style tokenizers
// (Llama 2, Mistral, Gemma) where a response's first token merges across the prompt boundary ("▁"
// before it): the ids were recorded from trl.data_utils by Scripts/make_sentencepiece_fixtures.py.
// Gemma's template refuses system prompts, with an error that names the template.

import XCTest
import Foundation
import Tokenizers
import ChatTemplates
@testable import Pipeline
import TestSupport

final class PairTokenizationTests: XCTestCase {
    func check(_ tokenization: PairTokenization, _ pairs: [[String: Any]], _ family: String) throws {
        for pair in pairs {
            let prompt: PromptInput
            if let text = pair["prompt"] as? String {
                prompt = .text(text)
            } else {
                prompt = .messages((pair["prompt"] as! [[String: String]]).map { PromptMessage(role: $0["role"]!, content: $0["content"]!) })
            }
            let ids = try tokenization.tokens(prompt: prompt, chosen: pair["chosen"] as! String, rejected: pair["rejected"] as! String)
            func expected(_ key: String) -> [Int32] { (pair[key] as! [NSNumber]).map { Int32(truncating: $0) } }
            XCTAssertEqual(ids.prompt, expected("prompt_ids"), "\(family) prompt of \(pair["chosen"]!)")
            XCTAssertEqual(ids.chosen, expected("chosen_ids"), "\(family) chosen \(pair["chosen"]!)")
            XCTAssertEqual(ids.rejected, expected("rejected_ids"), "\(family) rejected \(pair["rejected"]!)")
            if family == "llama3-tiny", case .messages = prompt {
                // REFERENCE §9's form of the same rule for Llama 3: encode(content.strip() + "<|eot_id|>").
                let chosen = (pair["chosen"] as! String).trimmingCharacters(in: .whitespacesAndNewlines)
                XCTAssertEqual(ids.chosen, try tokenization.tokenizer.encode(chosen + "<|eot_id|>"))
            }
        }
    }

    func testByteLevelLlama3PairsTokenizeLikeTRL() throws {
        let folder = Fixtures.url("tokenizers").appendingPathComponent("llama3-tiny")
        let recorded = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("trl_pairs.json"))) as! [String: Any]
        let tokenizer = try Tokenizer(url: folder)
        let template = try ChatTemplate(source: recorded["template"] as! String)
        XCTAssertEqual(tokenizer.eosToken, "<|eot_id|>")
        let pairs = try XCTUnwrap(recorded["pairs"] as? [[String: Any]])
        XCTAssertEqual(pairs.count, 4)
        try check(PairTokenization(tokenizer: tokenizer, template: template), pairs, "llama3-tiny")
    }

    func testSentencePiecePairsTokenizeLikeTRL() throws {
        for family in ["llama2-tiny", "mistral-tiny", "gemma-tiny"] {
            let folder = Fixtures.url("tokenizers").appendingPathComponent(family)
            let tokenizer = try Tokenizer(url: folder)
            let template = try ChatTemplate(source: try XCTUnwrap(tokenizer.configuration.chatTemplate))
            let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("cases.json"))) as! [String: Any]
            let pairs = try XCTUnwrap(cases["trl_pairs"] as? [[String: Any]])
            XCTAssertEqual(pairs.count, 4)
            try check(PairTokenization(tokenizer: tokenizer, template: template), pairs, family)
        }
    }

    /// A conversational prompt with a system message under Gemma's template fails with the template's
    /// own message, naming the template as a model directory names it (its tokenizer_config.json).
    func testGemmaSystemPromptFailsNamingTheTemplate() throws {
        let folder = Fixtures.url("tokenizers").appendingPathComponent("gemma-tiny")
        let tokenizer = try Tokenizer(url: folder)
        let name = Tokenizer.chatTemplateName(model: folder)
        XCTAssertEqual(name, folder.appendingPathComponent("tokenizer_config.json").path + " chat_template")
        let template = try ChatTemplate(source: try XCTUnwrap(tokenizer.configuration.chatTemplate), name: name)
        let tokenization = PairTokenization(tokenizer: tokenizer, template: template)
        let prompt = PromptInput.messages([PromptMessage(role: "system", content: "Be brief."), PromptMessage(role: "user", content: "Hi")])
        XCTAssertThrowsError(try tokenization.tokens(prompt: prompt, chosen: "a", rejected: "b")) { error in
            guard let error = error as? TemplateError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.kind, .raised)
            XCTAssertEqual(error.message, "System role not supported")
            XCTAssertTrue("\(error)".hasPrefix(name + ":1:"), "\(error)")
            XCTAssertTrue("\(error)".hasSuffix(": System role not supported"), "\(error)")
        }
    }
}
