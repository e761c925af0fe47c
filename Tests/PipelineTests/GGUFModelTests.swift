// A GGUF file wherever a model directory goes: ChatModel and the judges open one (weights,
// tokenizer and chat template from the one file, nothing written beside it), its tokenizer equals
// the one `idpo convert` writes, saved checkpoints get tokenizer files made from its metadata, and
// the reference log-prob cache key covers the GGUF's bytes.

import XCTest
import Foundation
import Checkpoints
import Optimization
import Tokenizers
@testable import Pipeline
import TestSupport

final class GGUFModelTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-ggufm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func copyOfFixture(_ name: String) throws -> URL {
        let url = tmp.appendingPathComponent("\(name).gguf")
        try FileManager.default.copyItem(at: Fixtures.url("gguf/\(name).gguf"), to: url)
        return url
    }

    func testChatModelOpensAGGUFFile() throws {
        let gguf = try copyOfFixture("tiny-smollm")
        let chat = try ChatModel(directory: gguf)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["tiny-smollm.gguf"], "nothing written beside the GGUF")
        XCTAssertEqual(chat.model.parameters.toArray(), try ModelDirectory.load(gguf).parameters.toArray())
        // The same tokenizer as the converted directory's.
        let converted = tmp.appendingPathComponent("hf")
        try ModelDirectory.saveHuggingFace(chat.model, to: converted, tokenizerSource: gguf)
        let fromDirectory = try Tokenizer(url: converted)
        for text in ["Hello world 12345", "<|im_start|>user\nDON'T 3.14<|im_end|>", "  ünïcödé  \n\n 99 bottles"] {
            XCTAssertEqual(try chat.tokenizer.encode(text), try fromDirectory.encode(text), text)
        }
        let prompt = try chat.renderPrompt([PromptMessage(role: "user", content: "Sort: 7294")])
        XCTAssertEqual(prompt, "<|im_start|>user\nSort: 7294<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertTrue(chat.stopTokens.contains(2))
        XCTAssertEqual(try chat.promptTokens(.messages([PromptMessage(role: "user", content: "hi")]), maxTokens: 100).tokens.first, 1)
        XCTAssertEqual(Tokenizer.chatTemplateName(model: gguf), gguf.path + " tokenizer.chat_template")
        // A checkpoint saved from it carries the tokenizer files made from the metadata.
        let saved = tmp.appendingPathComponent("saved")
        try ModelDirectory.saveNative(NativeCheckpoint(model: chat.model), to: saved, tokenizerSource: gguf)
        XCTAssertEqual(try Data(contentsOf: saved.appendingPathComponent("tokenizer.json")),
                       try Data(contentsOf: converted.appendingPathComponent("tokenizer.json")))
    }

    func testPairwiseJudgeOpensAGGUFFile() throws {
        let judge = try PairwiseJudge(directory: try copyOfFixture("tiny-llama3"), warnings: { _ in })
        XCTAssertEqual(judge.tokenizer.bosToken, "<|begin_of_text|>")
        XCTAssertEqual(judge.kind, .pairwise)
        XCTAssertThrowsError(try RewardJudge(directory: try copyOfFixture("tiny-smollm"), warnings: { _ in })) {
            XCTAssertTrue("\($0)".contains("a GGUF file holds no reward/preference head"), "\($0)")
        }
    }

    func testReferenceCacheKeyCoversTheGGUFBytes() throws {
        let gguf = try copyOfFixture("tiny-smollm")
        let pairs = [TokenizedPair(id: "p", prompt: [1, 2], chosen: [3], rejected: [4])]
        let key = { try TrainStage.referenceCacheKey(pairs, referenceDirectory: gguf, tokenizerDirectory: gguf, limits: SequenceLimits()) }
        let first = try key()
        XCTAssertEqual(try key(), first)
        // One weight byte changed (the last byte of the file is in the last tensor or its padding:
        // change one inside the data section instead).
        var bytes = try Data(contentsOf: gguf)
        let file = try GGUFFile(url: gguf)
        let at = file.dataStart + file.tensors["output_norm.weight"]!.offset
        bytes[at] ^= 1
        try bytes.write(to: gguf)
        XCTAssertNotEqual(try key(), first)
    }
}
