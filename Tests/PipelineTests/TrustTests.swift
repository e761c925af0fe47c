// Step 7's silent-wrong-result cases: reference and policy over the same (truncated) tokens, the
// reference cache keyed by content, duplicate ids refused, divergence keeping only a good state.

import Foundation
import XCTest
import Kernels
import Llama
import Checkpoints
import Optimization
@testable import Pipeline
import TestSupport

final class TrustTests: XCTestCase {
    /// 4 pairs, one chosen response long enough to be cut, prompts long enough to be cut.
    func pairs(longPrompt: Bool = true) -> [PairRecord] {
        let long = String(repeating: "the quick brown fox jumps over the lazy dog ", count: 4)
        return (0..<4).map { i in
            let prompt = longPrompt && i % 2 == 0 ? "Tell me a long story about \(long) number \(i)" : "Say \(i)"
            return PairRecord(id: i, iteration: 0, prompt: [PromptMessage(role: "user", content: prompt)],
                              chosen: i == 1 ? long + long : "yes \(i)", rejected: "no, not \(i)",
                              chosenIndex: 0, rejectedIndex: 1, chosenReward: 1, rejectedReward: 0,
                              responses: [], scores: nil)
        }
    }

    func options(lr: Double = 1e-3) -> TrainStageOptions {
        var o = TrainStageOptions()
        o.quiet = true
        o.checkpointSeconds = 0
        o.settings.batchSize = 4; o.settings.microBatchSize = 2; o.settings.epochs = 1
        o.settings.optimizer.learningRate = lr
        o.settings.limits = SequenceLimits(maxLength: 64, maxPromptLength: 48)
        return o
    }

    func train(_ tmp: URL, _ pairs: [PairRecord], options: TrainStageOptions, reference: String = "policy",
               cache: String = "ref.jsonl", out: String = "trained") throws -> TrainStageResult {
        try TrainStage.run(policyDirectory: tmp.appendingPathComponent("policy"), referenceDirectory: tmp.appendingPathComponent(reference),
                           pairs: pairs, options: options, referenceCache: tmp.appendingPathComponent(cache),
                           metricsOut: tmp.appendingPathComponent("metrics.jsonl"),
                           stateDirectory: tmp.appendingPathComponent("state"), outDirectory: tmp.appendingPathComponent(out))
    }

    /// policy == reference ⇒ loss = ln 2 exactly and rewards 0, although prompts and responses are cut.
    func testTruncatedPairsGiveLogTwoAtPolicyEqualsReference() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-trunc")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 3)
        let result = try train(tmp, pairs(), options: options())
        XCTAssertGreaterThan(result.truncation.promptsTruncated, 0)
        XCTAssertGreaterThan(result.truncation.responsesTruncated, 0)
        let first = try XCTUnwrap(result.steps.first)
        XCTAssertEqual(first.loss, log(2.0), "loss at policy == reference must be ln 2 exactly")
        XCTAssertEqual(first.rewardsChosen, 0)
        XCTAssertEqual(first.rewardsRejected, 0)
        // the summary line writes TRL's names as the step lines do, slashes unescaped
        let summary = try XCTUnwrap(try String(contentsOf: tmp.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").last)
        XCTAssertTrue(summary.contains("\"final_rewards/accuracies\"") && !summary.contains("\\/"), String(summary))
    }

    /// A bf16 policy and a separate bf16 reference copy: the reference runs in 16 bits, the policy in
    /// float32 master weights widened from the same bf16 values, so step 1's loss is still ln 2
    /// exactly; π(t) is written back as bf16 safetensors (the input's dtype), loadable in 16 bits.
    func testBF16PolicyTrainsAgainstA16BitReferenceAndIsSavedAsBF16() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-bf16")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("f32"), seed: 3)
        for name in ["policy", "reference"] {
            let dir = tmp.appendingPathComponent(name)
            try ModelDirectory.saveHuggingFace(try ModelDirectory.load(tmp.appendingPathComponent("f32")), to: dir, dtype: .bf16,
                                               tokenizerSource: tmp.appendingPathComponent("f32"))
        }
        XCTAssertFalse(try ModelDirectory.load(tmp.appendingPathComponent("reference"), frozen: true).isFloat32)
        let result = try train(tmp, pairs(), options: options(), reference: "reference")
        let first = try XCTUnwrap(result.steps.first)
        XCTAssertEqual(first.loss, log(2.0), "16-bit reference and float32 policy over the same bf16 values: ln 2 exactly")
        XCTAssertEqual(first.rewardsChosen, 0)
        let out = tmp.appendingPathComponent("trained")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.h5").path))
        XCTAssertEqual(try ModelDirectory.describe(out).dtypes, ["BF16": try ModelDirectory.describe(tmp.appendingPathComponent("policy")).dtypes["BF16"]!])
        let trained = try ModelDirectory.load(out, frozen: true)
        XCTAssertFalse(trained.isFloat32)
    }

    /// A different reference checkpoint of the same shape (same file sizes) is recomputed, not reused;
    /// changed pairs are recomputed; the same inputs reuse the cache.
    func testReferenceCacheIsKeyedByContent() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-cache")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 3)
        try TinyModels.make(at: tmp.appendingPathComponent("other"), seed: 4)
        let policy = try ChatModel(directory: tmp.appendingPathComponent("policy"))
        let limits = SequenceLimits(maxLength: 64, maxPromptLength: 48)
        let tokenized = limits.truncate(try TrainStage.tokenize(pairs(), with: policy)).pairs
        let cache = tmp.appendingPathComponent("ref.jsonl")
        func reference(_ dir: String, _ ps: [TokenizedPair]) throws -> [Double] {
            try TrainStage.referenceLogProbs(pairs: ps, referenceDirectory: tmp.appendingPathComponent(dir),
                                             tokenizerDirectory: tmp.appendingPathComponent("policy"), limits: limits,
                                             cache: cache, microBatch: 2, quiet: true).map(\.chosen)
        }
        let a = try reference("policy", tokenized)
        let sizes = try ["policy", "other"].map {
            try FileManager.default.attributesOfItem(atPath: tmp.appendingPathComponent("\($0)/model.safetensors").path)[.size] as? Int
        }
        XCTAssertEqual(sizes[0], sizes[1], "same shape, same file size")
        let b = try reference("other", tokenized)
        XCTAssertNotEqual(a, b, "a different reference checkpoint must not reuse the cache")
        XCTAssertEqual(try reference("other", tokenized), b)
        // Poison the cache's values: the same key reuses them (proves reuse), changed pairs do not.
        let lines = try String(contentsOf: cache, encoding: .utf8).split(separator: "\n").map(String.init)
        var poisoned = [lines[0]]
        for line in lines.dropFirst() {
            var o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            o["chosen_logp"] = -1.0
            poisoned.append(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
        }
        try (poisoned.joined(separator: "\n") + "\n").write(to: cache, atomically: true, encoding: .utf8)
        XCTAssertEqual(try reference("other", tokenized), [-1, -1, -1, -1])
        var changed = tokenized
        changed[2].rejected.append(5)
        XCTAssertNotEqual(try reference("other", changed).first, -1)
    }

    func testDuplicateIDsAreRefusedNamingBothLines() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-dup")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let prompts = tmp.appendingPathComponent("prompts.jsonl")
        try "{\"id\": 7, \"prompt\": \"a\"}\n{\"id\": 8, \"prompt\": \"b\"}\n\n{\"id\": 7, \"prompt\": \"c\"}\n".write(to: prompts, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PromptFile.read(prompts)) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("prompts.jsonl:4") && m.contains("line 1") && m.contains("duplicate id 7"), m)
        }
        let samples = tmp.appendingPathComponent("samples.jsonl")
        try "{\"id\": 1, \"prompt\": \"a\", \"responses\": [\"x\"]}\n{\"id\": 1, \"prompt\": \"b\", \"responses\": [\"y\"]}\n".write(to: samples, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SampleRecord.read(samples)) {
            XCTAssertTrue("\($0)".contains("samples.jsonl:2") && "\($0)".contains("line 1"), "\($0)")
        }
        let pairsFile = tmp.appendingPathComponent("pairs.jsonl")
        try JSONLines.write(pairs().map { var p = $0; p.id = 3; return p }, to: pairsFile)
        XCTAssertThrowsError(try PairRecord.read(pairsFile)) { XCTAssertTrue("\($0)".contains("duplicate id 3"), "\($0)") }
    }

    /// learning_rate 1e30: training stops, the kept state holds finite weights whose loss was finite,
    /// the message says how to continue, and a rerun with a sane rate finishes from that state.
    func testDivergenceKeepsOnlyAGoodStateAndTheRerunFinishes() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-div")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 3)
        var o = options(lr: 1e-3)
        o.settings.batchSize = 1; o.settings.microBatchSize = 1; o.settings.epochs = 2
        var failing = o
        failing.settings.optimizer.learningRate = 1e30
        XCTAssertThrowsError(try train(tmp, pairs(longPrompt: false), options: failing)) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("diverged") && m.contains("Lower the learning rate") && m.contains("run the same command again"), m)
        }
        let stateFile = tmp.appendingPathComponent("state/state.h5")
        if FileManager.default.fileExists(atPath: stateFile.path) {
            let state = try NativeCheckpoint.read(from: stateFile)
            XCTAssertNil(state.model.firstNonFiniteParameter())
            XCTAssertLessThan(state.model.parameters.toArray().map(abs).max()!, 100, "the kept state must not hold diverged weights")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("trained/model.h5").path))
        let result = try train(tmp, pairs(longPrompt: false), options: o)
        XCTAssertEqual(result.steps.count, 8)
        XCTAssertTrue(result.steps.allSatisfy { $0.loss.isFinite })
    }
}

extension TrustTests {
    /// chosen == rejected (as written, or once truncated) is skipped and counted, never trained on.
    func testIdenticalPairsAreSkippedAndCounted() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-same")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 3)
        var records = pairs(longPrompt: false)
        records[0].rejected = records[0].chosen
        let result = try train(tmp, records, options: options())
        XCTAssertEqual(result.skippedIdentical, 1)
        XCTAssertEqual(result.steps.first?.pairs, 3)
        let summary = try RawJSONLines.read(tmp.appendingPathComponent("metrics.jsonl")).last!.object
        XCTAssertEqual(summary["pairs_skipped_identical"] as? Int, 1)
        for i in records.indices { records[i].rejected = records[i].chosen }
        XCTAssertThrowsError(try train(tmp, records, options: options(), out: "none")) {
            XCTAssertTrue("\($0)".contains("chosen == rejected"), "\($0)")
        }
    }

    func testCSVFieldsWithCommasAreQuoted() {
        XCTAssertEqual(csvField("beta=0.1,lr=1e-06"), "\"beta=0.1,lr=1e-06\"")
        XCTAssertEqual(csvField("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(csvField("plain"), "plain")
    }
}

extension TrustTests {
    /// A judge whose BOS token is also its turn marker: the seed procedure (strip every BOS) is kept
    /// by default but warned about once; `strip_bos: leading` keeps the turn markers.
    func testBOSUsedAsTurnMarkerIsWarnedAndLeadingKeepsTheMarkers() throws {
        let tmp = try TinyModels.temporaryDirectory("trust-bos")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let dir = tmp.appendingPathComponent("pm")
        try TinyModels.make(at: dir, seed: 2, layers: 1)
        let config: [String: Any] = ["bos_token": "<|start_header_id|>", "eos_token": "<|eot_id|>", "chat_template": TinyModels.llama3Template]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        var warnings: [String] = []
        let all = try PairwiseJudge(directory: dir, stripBOS: .all, warnings: { warnings.append($0) })
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("turn marker") == true && warnings.first?.contains("strip_bos: leading") == true, "\(warnings)")
        let leading = try PairwiseJudge(directory: dir, stripBOS: .leading, warnings: { warnings.append($0) })
        XCTAssertEqual(warnings.count, 1, "no warning once the user chose")
        let marker = try all.tokenizer.encode("<|start_header_id|>", addSpecialTokens: false)
        let a = try all.pairwiseTokens(context: "c", a: "x", b: "y"), b = try leading.pairwiseTokens(context: "c", a: "x", b: "y")
        func count(_ ids: [Int32]) -> Int { ids.filter { marker.contains($0) }.count }
        XCTAssertEqual(count(a), 0, "every BOS removed, as RLHFlow does")
        XCTAssertGreaterThan(count(b), 0, "leading: the turn markers stay")
    }
}
