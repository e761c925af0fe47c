// Pairs → token ids exactly as TRL's DPOTrainer builds them, on a SentencePiece-style tokenizer
// where a response's first token merges across the prompt boundary ("▁" before it): the ids were
// recorded from trl.data_utils by Scripts/make_sentencepiece_fixtures.py.

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
        for family in ["llama2-tiny", "mistral-tiny"] {
            let folder = Fixtures.url("tokenizers").appendingPathComponent(family)
            let tokenizer = try Tokenizer(url: folder)
            let template = try ChatTemplate(source: try XCTUnwrap(tokenizer.configuration.chatTemplate))
            let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("cases.json"))) as! [String: Any]
            let pairs = try XCTUnwrap(cases["trl_pairs"] as? [[String: Any]])
            XCTAssertEqual(pairs.count, 4)
            try check(PairTokenization(tokenizer: tokenizer, template: template), pairs, family)
        }
    }
}
