// Five SGD steps of sigmoid DPO against TRL's DPOTrainer on the same tiny model and pairs
// (fixture from Scripts/make_dpo_fixture.py): loss trajectory and final weights.

import XCTest
import Foundation
import Kernels
import Llama
import Checkpoints
@testable import Optimization
import TestSupport

final class TRLReferenceTests: XCTestCase {
    struct Trajectory: Decodable {
        struct Pair: Decodable { let prompt_ids: [Int32]; let chosen_ids: [Int32]; let rejected_ids: [Int32] }
        let source: String
        let beta: Double
        let learning_rate: Double
        let steps: Int
        let pairs: [Pair]
        let losses: [Double]
    }

    /// TRL's run: sigmoid DPO, plain SGD at a constant rate, no clipping, every pair in every step.
    static func settings(_ t: Trajectory, pairCount: Int) -> TrainerSettings {
        var s = TrainerSettings()
        s.loss = LossSettings(kind: .sigmoid, beta: t.beta)
        s.optimizer.kind = .sgd; s.optimizer.learningRate = t.learning_rate
        s.optimizer.schedule = .constant; s.optimizer.maxGradNorm = 0
        s.batchSize = pairCount; s.microBatchSize = pairCount; s.epochs = t.steps
        s.limits = SequenceLimits(maxLength: 64, maxPromptLength: 32)
        return s
    }

    func testFiveSGDStepsMatchTRL() throws {
        Parallel.setThreads(2)
        let dir = Fixtures.url("dpo-trl")
        let t = try JSONDecoder().decode(Trajectory.self, from: Data(contentsOf: dir.appendingPathComponent("trajectory.json")))
        XCTAssertEqual(t.source, "trl")
        let policy = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let pairs = t.pairs.enumerated().map { TokenizedPair(id: "\($0.offset)", prompt: $0.element.prompt_ids,
                                                             chosen: $0.element.chosen_ids, rejected: $0.element.rejected_ids) }
        let s = Self.settings(t, pairCount: pairs.count)
        let reference = try SequenceScoring.logProbs(model: policy, pairs: pairs, microBatch: pairs.count)
        let trainer = try PreferenceTrainer(policy: policy, settings: s)
        var losses: [Double] = []
        try trainer.train(pairs: pairs, reference: reference) { losses.append($0.loss) }
        XCTAssertEqual(losses.count, t.steps)
        for (i, (a, b)) in zip(losses, t.losses).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-4 * abs(b), "step \(i + 1) loss")
        }
        let final = try SafetensorsFile(url: dir.appendingPathComponent("final.safetensors"))
        var worst = (0.0, "")
        for e in policy.layout.entries {
            let c = compare(Array(UnsafeBufferPointer(start: policy.parameters.pointer + e.offset, count: e.count)), try final.floats(e.name))
            XCTAssertLessThanOrEqual(c.relativeError, 1e-4, "\(e.name): \(c)")
            if c.relativeError > worst.0 { worst = (c.relativeError, e.name) }
        }
        print("[dpo-trl] losses \(losses) vs TRL \(t.losses); worst weight \(worst.1) rel err \(worst.0)")
    }

    /// The same five steps with a PEFT model: TRL's DPOTrainer on base + a random initial adapter
    /// (Scripts/make_lora_fixtures.py), the reference being that starting policy (base + initial
    /// adapter, TRL's "ref" adapter copy), plain SGD on the LoRA weights only. Losses, and the final
    /// adapter within 1e-5; step 1 is exactly ln 2 (policy == reference), which it would not be
    /// with the bare base as reference (LLaMA-Factory #8459).
    func testFiveSGDStepsWithLoRAMatchTRLAndPEFT() throws {
        Parallel.setThreads(2)
        let dir = Fixtures.url("lora/dpo-trl")
        let t = try JSONDecoder().decode(Trajectory.self, from: Data(contentsOf: dir.appendingPathComponent("trajectory.json")))
        XCTAssertEqual(t.source, "trl")
        let policy = try ModelDirectory.load(Fixtures.url("llama-mha"))
        policy.adapter = try AdapterDirectory.read(dir.appendingPathComponent("initial_adapter"), for: policy.config)
        let base = Array(policy.parameters.buffer)
        let pairs = t.pairs.enumerated().map { TokenizedPair(id: "\($0.offset)", prompt: $0.element.prompt_ids,
                                                             chosen: $0.element.chosen_ids, rejected: $0.element.rejected_ids) }
        let s = Self.settings(t, pairCount: pairs.count)
        let reference = try SequenceScoring.logProbs(model: policy, pairs: pairs, microBatch: pairs.count)
        // The bare base (what `disable_adapter()` would score) is another reference entirely.
        let bare = try SequenceScoring.logProbs(model: policy.sharingBase(adapter: nil), pairs: pairs, microBatch: pairs.count)
        XCTAssertGreaterThan(zip(reference, bare).map { abs($0.0.chosen - $0.1.chosen) }.max()!, 0.1)
        let trainer = try PreferenceTrainer(policy: policy, settings: s)
        XCTAssertEqual(trainer.gradients.count, policy.adapter!.layout.count, "only the adapter is trained")
        var losses: [Double] = []
        try trainer.train(pairs: pairs, reference: reference) { losses.append($0.loss) }
        XCTAssertEqual(losses.first, log(2.0), "step 1: policy == reference, the loss is exactly ln 2")
        for (i, (a, b)) in zip(losses, t.losses).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-5, "step \(i + 1) loss")
        }
        XCTAssertEqual(Array(policy.parameters.buffer), base, "the frozen base is untouched")
        let final = try SafetensorsFile(url: dir.appendingPathComponent("final_adapter.safetensors"))
        var worst = (0.0, "")
        for e in policy.adapter!.layout.entries {
            let ours = UnsafeBufferPointer(start: policy.adapter!.parameters.pointer + e.offset, count: e.count)
            let diff = zip(ours, try final.floats(e.name)).map { Double(abs($0 - $1)) }.max()!
            XCTAssertLessThanOrEqual(diff, 1e-5, "\(e.name): max |Δ| \(diff)")
            if diff > worst.0 { worst = (diff, e.name) }
        }
        print("[dpo-trl-lora] losses \(losses) vs TRL \(t.losses); worst adapter weight \(worst.1) max |Δ| \(worst.0)")
    }
}
