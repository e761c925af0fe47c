// The three stages on real model directories: generation output format and determinism, judging
// with the pairwise PM (comparisons recorded, TRL pairs written), resume after losing a batch, and
// training from the pairs file with a cached reference.

import XCTest
import Foundation
import Kernels
import Llama
import Checkpoints
import Generation
import Preference
import Optimization
@testable import Pipeline
import TestSupport

final class StagesTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        Parallel.setThreads(2)
        tmp = try TinyModels.temporaryDirectory("stages")
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 1)
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let prompts = [
            #"{"prompt": [{"role": "user", "content": "What is 2+3?"}]}"#,
            #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}], "id": 7}"#,
            #"{"prompt": "Plain text prompt: sort 3 1 2"}"#,
            #"{"prompt": [{"role": "user", "content": "Ünïcödé and emoji 🎉?"}]}"#,
            #"{"prompt": [{"role": "user", "content": "Count to five."}]}"#,
        ]
        try (prompts.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func settings() -> GenerationStageSettings {
        var s = GenerationStageSettings()
        s.samplesPerPrompt = 4; s.maxNewTokens = 12; s.seed = 3; s.batchPrompts = 2
        return s
    }

    func testGenerateJudgeTrainEndToEndAndResume() throws {
        let policy = try ChatModel(directory: tmp.appendingPathComponent("policy"))
        let prompts = try PromptFile.read(tmp.appendingPathComponent("prompts.jsonl"))
        XCTAssertEqual(prompts.map(\.id), [0, 7, 2, 3, 4])
        let samplesURL = tmp.appendingPathComponent("samples.jsonl")
        let samples = try Stages.generate(policy: policy, prompts: prompts, settings: settings(), out: samplesURL, quiet: true)
        XCTAssertEqual(samples.count, 5)
        XCTAssertTrue(samples.allSatisfy { $0.responses.count == 4 && $0.finishReasons.count == 4 })
        XCTAssertTrue(samples.allSatisfy { $0.responseTokens.allSatisfy { $0.count <= 12 } })
        // Every line is RLHFlow's {"prompt", "responses"} (plus extras).
        let firstLine = try RawJSONLines.read(samplesURL)[0].object
        XCTAssertNotNil(firstLine["prompt"] as? [[String: String]])
        XCTAssertEqual((firstLine["responses"] as? [String])?.count, 4)
        let bytes = try Data(contentsOf: samplesURL)

        // Resume: an interrupted run left batches 0 and 2 in `<out>.parts/` (batch 0 edited, so that its
        // reuse shows), lost batch 1 and never wrote the final file. Rerunning keeps the parts it finds,
        // regenerates only the missing batch — the same samples as the uninterrupted run — and
        // concatenates the batches in order.
        let sampleLines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(sampleLines.count, 5)
        var edited = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(sampleLines[0].utf8)) as? [String: Any])
        var responses = try XCTUnwrap(edited["responses"] as? [String])
        responses[0] = "EDITED IN THE SAVED PART"
        edited["responses"] = responses
        let editedLine = String(decoding: try JSONSerialization.data(withJSONObject: edited, options: [.sortedKeys]), as: UTF8.self)
        let resumedURL = tmp.appendingPathComponent("samples2.jsonl")
        let parts = URL(fileURLWithPath: resumedURL.path + ".parts")
        try FileManager.default.createDirectory(at: parts, withIntermediateDirectories: true)
        try Data((editedLine + "\n" + sampleLines[1] + "\n").utf8).write(to: parts.appendingPathComponent("part-00000.jsonl"))
        try Data((sampleLines[4] + "\n").utf8).write(to: parts.appendingPathComponent("part-00002.jsonl"))
        let again = try Stages.generate(policy: policy, prompts: prompts, settings: settings(), out: resumedURL, quiet: true)
        XCTAssertEqual(try Data(contentsOf: resumedURL), Data(([editedLine] + sampleLines[1...]).map { $0 + "\n" }.joined().utf8),
                       "saved batches reused as they are, the lost one regenerated identically, in order")
        XCTAssertEqual(again[0].responses[0], "EDITED IN THE SAVED PART")
        XCTAssertEqual(Array(again[1...]), Array(samples[1...]))
        XCTAssertFalse(FileManager.default.fileExists(atPath: parts.path), "the parts are removed once the file is complete")
        // Without any saved part the same settings give the same bytes.
        try Stages.generate(policy: policy, prompts: prompts, settings: settings(), out: tmp.appendingPathComponent("samples3.jsonl"), quiet: true)
        XCTAssertEqual(try Data(contentsOf: tmp.appendingPathComponent("samples3.jsonl")), bytes)

        // Judge with the pairwise PM.
        let judge = try PairwiseJudge(directory: tmp.appendingPathComponent("pm"))
        let judgments = tmp.appendingPathComponent("judgments.jsonl"), pairs = tmp.appendingPathComponent("pairs.jsonl")
        let summary = try Stages.judge(judge: judge, samples: samples, method: .knockout, selection: .maxMin,
                                       judgmentsOut: judgments, pairsOut: pairs, batchPrompts: 2, quiet: true)
        XCTAssertEqual(summary.prompts, 5)
        XCTAssertEqual(summary.pairs + summary.dropped, 5)
        XCTAssertLessThanOrEqual(summary.comparisons, 5 * 6, "knockout: ≤ 1.5k comparisons per prompt")
        XCTAssertLessThan(summary.tokensComputed, summary.tokensNaive, "the shared context is computed once per prompt")
        let lines = try RawJSONLines.read(judgments)
        for (_, o) in lines {
            let comparisons = o["comparisons"] as! [[String: Any]]
            for c in comparisons {
                let p = c["p_first_better"] as! Double, a = c["p_a_first_shown_as_a"] as! Double, b = c["p_a_second_shown_as_a"] as! Double
                XCTAssertEqual(p, (a + 1 - b) / 2, accuracy: 1e-12)
            }
        }
        // A prompt whose responses are all the same is dropped, and the summary names it with its reason.
        var same = samples[0]
        same.responses = Array(repeating: same.responses[0], count: same.responses.count)
        same.responseTokens = Array(repeating: same.responseTokens[0], count: same.responseTokens.count)
        let dropped = try Stages.judge(judge: judge, samples: [same], method: .knockout, selection: .maxMin,
                                       judgmentsOut: tmp.appendingPathComponent("j-same.jsonl"), pairsOut: tmp.appendingPathComponent("p-same.jsonl"),
                                       batchPrompts: 2, quiet: true)
        XCTAssertEqual(dropped.dropped, 1)
        let example = try XCTUnwrap(dropped.dropExamples?.first)
        let line = try XCTUnwrap(RawJSONLines.read(tmp.appendingPathComponent("j-same.jsonl")).first?.object)
        XCTAssertEqual(line["drop_reason"] as? String, "final check failed")
        let p = try XCTUnwrap(line["drop_p_best_better"] as? Double)
        XCTAssertEqual(example, "prompt \(same.id): final check failed: P(best ≻ worst) = \(String(format: "%.6f", p))")
        let pairRecords = try PairRecord.read(pairs)
        XCTAssertEqual(pairRecords.count, summary.pairs)
        for p in pairRecords {
            XCTAssertNotEqual(p.chosenIndex, p.rejectedIndex)
            XCTAssertEqual(p.responses[p.chosenIndex], p.chosen)
        }
        // TRL conversational form.
        if let (_, o) = try RawJSONLines.read(pairs).first {
            XCTAssertEqual((o["chosen"] as? [[String: String]])?.first?["role"], "assistant")
            XCTAssertNotNil(o["prompt"] as? [[String: String]])
        }

        // Train on the pairs (reference = policy).
        XCTAssertFalse(pairRecords.isEmpty, "the judge kept no pair of 5 prompts: nothing below would be tested")
        guard !pairRecords.isEmpty else { return }
        var options = TrainStageOptions()
        options.quiet = true
        options.checkpointSeconds = 0
        options.settings.batchSize = 2; options.settings.microBatchSize = 1; options.settings.epochs = 2
        options.settings.optimizer.learningRate = 1e-3; options.settings.limits = SequenceLimits(maxLength: 256, maxPromptLength: 128)
        let out = tmp.appendingPathComponent("trained")
        let result = try TrainStage.run(policyDirectory: tmp.appendingPathComponent("policy"), referenceDirectory: tmp.appendingPathComponent("policy"),
                                        pairs: pairRecords, options: options, referenceCache: tmp.appendingPathComponent("ref.jsonl"),
                                        metricsOut: tmp.appendingPathComponent("metrics.jsonl"),
                                        stateDirectory: tmp.appendingPathComponent("state"), outDirectory: out)
        XCTAssertEqual(result.steps.first?.loss ?? 0, log(2.0), accuracy: 1e-6)
        let trained = try ModelDirectory.loadCheckpoint(out)
        XCTAssertNil(trained.optimizer, "π(t) is saved as weights only")
        XCTAssertEqual(trained.metadataJSON, "{\"steps\":\(result.steps.count)}")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("state").path), "the training state is removed")
        // The tokenizer files travel with the trained policy, unchanged, and it loads as a chat model.
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            XCTAssertEqual(try? Data(contentsOf: out.appendingPathComponent(f)),
                           try Data(contentsOf: tmp.appendingPathComponent("policy").appendingPathComponent(f)), "\(f) of the trained policy")
        }
        let reloaded = try ChatModel(directory: out)
        XCTAssertEqual(reloaded.model.parameters.toArray(), trained.model.parameters.toArray())
        XCTAssertNotEqual(reloaded.model.parameters.toArray(), policy.model.parameters.toArray(), "training changed the weights")
    }
}
