// One short `idpo iterate` on the real model, through the real executable: SmolLM2-135M-Instruct
// (the GGUF file itself) as policy and as pairwise judge, 4 prompts, k = 2, 8 new tokens, one
// iteration, two DPO steps, evaluation on 2 prompts. Checks that every output exists and is sane.

import XCTest
import Foundation
import Checkpoints
import Optimization
@testable import Pipeline
import TestSupport

final class RealIterateTests: XCTestCase {
    /// The idpo executable built beside this test bundle (IDPO_EXECUTABLE overrides).
    var idpo: URL {
        if let path = ProcessInfo.processInfo.environment["IDPO_EXECUTABLE"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let bundle = Bundle(for: RealIterateTests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent(), URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("idpo") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }
    var tmp: URL!

    override func setUpWithError() throws {
        _ = try RealModel.gguf()
        guard FileManager.default.isExecutableFile(atPath: idpo.path) else {
            throw ChatModelError("no idpo executable at \(idpo.path): build with swift build --build-tests")
        }
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-real-iterate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { if let tmp { try? FileManager.default.removeItem(at: tmp) } }

    func testOneShortIterationEndToEnd() throws {
        let gguf = try RealModel.gguf()
        let prompts = ["What is the capital of France?", "Name a fruit that is yellow.", "Say hello in Spanish.", "What is 2 + 3?"]
        let lines = prompts.enumerated().map { #"{"id": \#($0.offset), "prompt": [{"role": "user", "content": "\#($0.element)"}]}"# }
        try (lines.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
        try (lines.prefix(2).joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        let recipe = """
            run:
              name: smollm2
              output_root: out
              seed: 3
            policy: \(gguf.path)
            judge:
              model: \(gguf.path)
              kind: pairwise
              ranking: knockout
            prompts:
              file: prompts.jsonl
              max_prompt_tokens: 128
            iterations: 1
            generation:
              k: 2
              temperature: 1.0
              max_new_tokens: 8
            training:
              loss: sigmoid
              beta: 0.1
              learning_rate: 1.0e-3
              optimizer: sgd
              scheduler: constant
              batch_size: 2
              micro_batch_size: 2
              epochs: 1
              max_length: 160
              max_prompt_length: 128
            evaluation:
              prompts: eval.jsonl
              max_new_tokens: 8

            """
        try recipe.write(to: tmp.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)

        let p = Process()
        p.executableURL = idpo
        p.arguments = ["iterate", tmp.appendingPathComponent("recipe.yaml").path, "--threads", "2"]
        p.currentDirectoryURL = tmp
        var env = ProcessInfo.processInfo.environment
        env["IDPO_PLAIN_PROGRESS"] = "1"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        let started = Date()
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        let log = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, log)
        guard p.terminationStatus == 0 else { return }
        // The BOS warning for the ChatML judge is shown.
        XCTAssertTrue(log.contains("turn marker"), log)

        let run = tmp.appendingPathComponent("out/smollm2")
        let iter = run.appendingPathComponent("iter-1")
        for f in ["recipe.json", "manifest.json", "summary.json", "events.log"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(f).path), f)
        }
        for f in ["prompts.jsonl", "samples.jsonl", "judgments.jsonl", "pairs.jsonl", "metrics.jsonl", "evaluation.json",
                  "eval-samples.jsonl", "policy/config.json", "policy/tokenizer.json", "policy/tokenizer_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: iter.appendingPathComponent(f).path), "iter-1/\(f)")
        }

        // Samples: 4 prompts × 2 responses of at most 8 tokens.
        let samples = try SampleRecord.read(iter.appendingPathComponent("samples.jsonl"))
        XCTAssertEqual(samples.count, 4)
        for s in samples {
            XCTAssertEqual(s.responses.count, 2)
            XCTAssertEqual(s.responseTokens.count, 2)
            XCTAssertTrue(s.responseTokens.allSatisfy { $0.count >= 1 && $0.count <= 8 }, "\(s.responseTokens)")
        }
        // Pairs: TRL conversational records whose chosen/rejected are two of the prompt's responses.
        let pairs = try PairRecord.read(iter.appendingPathComponent("pairs.jsonl"))
        XCTAssertGreaterThan(pairs.count, 0, "no pair kept of 4 prompts")
        let byPrompt = Dictionary(uniqueKeysWithValues: samples.map { ($0.id, $0) })
        for pair in pairs {
            let s = try XCTUnwrap(byPrompt[pair.id])
            XCTAssertTrue(s.responses.contains(pair.chosen) && s.responses.contains(pair.rejected), "pair \(pair.id)")
            XCTAssertNotEqual(pair.chosen, pair.rejected)
            XCTAssertEqual(pair.prompt.last?.role, "user")
        }

        // Summary: one iteration, counts that add up, finite figures, stage times.
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("summary.json"))) as? [[String: Any]])
        XCTAssertEqual(summary.count, 1)
        let s1 = summary[0]
        XCTAssertEqual(s1["iteration"] as? Int, 1)
        XCTAssertEqual(s1["prompts"] as? Int, 4)
        XCTAssertEqual(s1["pairs"] as? Int, pairs.count)
        XCTAssertEqual((s1["pairs"] as? Int ?? 0) + (s1["dropped"] as? Int ?? 0), 4)
        let loss = try XCTUnwrap(s1["finalLoss"] as? Double)
        XCTAssertTrue(loss.isFinite && loss > 0 && loss < 2, "final loss \(loss)")
        // Step 2 (the final one) sees the policy after step 1's update (SGD, lr 1e-3: about 0.06 nats on
        // one step of the DPO fixture), so its loss is no longer ln 2.
        XCTAssertGreaterThan(abs(loss - ln2), 1e-4, "final loss \(loss): training did not move the policy")
        let win = try XCTUnwrap(s1["winRateVsInitial"] as? Double)
        XCTAssertTrue(win >= 0 && win <= 1, "win rate \(win)")
        if let kl = s1["klFromInitial"] as? Double { XCTAssertTrue(kl.isFinite, "KL \(kl)") }
        XCTAssertGreaterThan((s1["meanResponseTokens"] as? Double) ?? 0, 0)
        let stageSeconds = try XCTUnwrap(s1["seconds"] as? [String: Double])
        XCTAssertFalse(stageSeconds.isEmpty)

        // Training: metrics with TRL's names; step 1 trains π0 against itself: loss ln 2.
        let metrics = try RawJSONLines.read(iter.appendingPathComponent("metrics.jsonl")).map(\.object).filter { $0["step"] != nil }
        XCTAssertGreaterThanOrEqual(metrics.count, 1)
        XCTAssertEqual(try XCTUnwrap(metrics.first?["loss"] as? Double), ln2, accuracy: 1e-6)

        // π(1) loads as a model directory (weights + the tokenizer files made from the GGUF metadata),
        // has the real model's shape, and moved away from π0.
        let policy = try ChatModel(directory: iter.appendingPathComponent("policy"))
        let initial = try ModelDirectory.load(gguf)
        XCTAssertEqual(policy.model.config.numHiddenLayers, 30)
        XCTAssertEqual(policy.model.layout.count, initial.layout.count)
        XCTAssertEqual(try policy.renderPrompt([PromptMessage(role: "user", content: "hi")]),
                       "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
        let a = policy.model.parameters.toArray(), b = initial.parameters.toArray()
        XCTAssertTrue(a.allSatisfy(\.isFinite))
        XCTAssertNotEqual(a, b, "π(1) equals π0")
        print(String(format: "[real-smollm2] idpo iterate: %d pairs of 4 prompts, final loss %.4f, win rate vs π0 %.3f, %.0f s", pairs.count, loss, win, seconds))
    }

    private let ln2 = 0.6931471805599453
}
