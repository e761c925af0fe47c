// Sequence-classification reward models against transformers (Scripts/make_reward_fixtures.py):
// Llama-, Qwen2-, Qwen3- and GemmaForSequenceClassification, num_labels 1 — the score head
// at each sequence's last non-pad token, on a right-padded batch of unequal lengths.

import XCTest
import Kernels
import Llama
import Checkpoints
import Preference
import TestSupport

final class RewardModelFixtureTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    func check(_ name: String, architecture: Architecture) throws {
        let dir = Fixtures.url(name)
        for frozen in [false, true] {
            let (model, heads) = try ModelDirectory.loadWithHead(dir, head: [["score.weight"]], frozen: frozen)
            XCTAssertEqual(model.config.architecture, architecture)
            XCTAssertFalse(model.hasLanguageModelHead)
            let scorer = RewardScorer(model: model, scoreWeight: heads[0].values)
            let ref = try SafetensorsFile(url: dir.appendingPathComponent("reference.safetensors"))
            let ids = try ref.integers("input_ids"), lengths = try ref.integers("lengths").map(Int.init)
            let expected = try ref.floats("rewards"), T = ids.count / lengths.count
            for (b, n) in lengths.enumerated() {
                let r = try scorer.reward(ids[(b * T)..<(b * T + n)].map { Int32($0) })
                XCTAssertEqual(r, Double(expected[b]), accuracy: 1e-5 * max(1, abs(Double(expected[b]))), "\(name) sequence \(b)")
            }
        }
    }

    func testLlamaRewardModelMatchesTransformers() throws { try check("rm-llama", architecture: .llama) }
    func testQwen2RewardModelMatchesTransformers() throws { try check("rm-qwen2", architecture: .qwen2) }
    func testQwen3RewardModelMatchesTransformers() throws { try check("rm-qwen3", architecture: .qwen3) }
    func testGemmaRewardModelMatchesTransformers() throws { try check("rm-gemma", architecture: .gemma) }
    func testGemma2RewardModelMatchesTransformers() throws { try check("rm-gemma2", architecture: .gemma2) }
    func testMistralRewardModelMatchesTransformers() throws { try check("rm-mistral", architecture: .mistral) }
}
