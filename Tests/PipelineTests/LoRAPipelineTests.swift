// LoRA through the stages and the driver: the reference is the starting policy, adapter included
// (LLaMA-Factory #8459: an SFT adapter as policy and reference gives exactly ln 2 at step 1, the
// bare base would not), π(t) is a PEFT adapter over the fixed base whose reference cache is keyed by
// the adapter's content, `idpo iterate` with training.lora killed mid-training resumes to the same
// bytes, the summary and the report name each iteration's adapter, and `idpo convert --merge-lora`
// writes the merged model.

import XCTest
import Foundation
import Kernels
import Llama
import Checkpoints
import Optimization
@testable import Pipeline
import TestSupport
import Support

final class LoRAPipelineTests: XCTestCase {
    var tmp: URL!
    var idpo: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/idpo") }

    override func setUpWithError() throws {
        Parallel.setThreads(2)
        tmp = try TinyModels.temporaryDirectory("lora")
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 1)
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
    }
    override func tearDownWithError() throws { if let tmp { try? FileManager.default.removeItem(at: tmp) } }

    func pairs() throws -> [PairRecord] {
        let lines = (0..<4).map { i in
            #"{"prompt": [{"role": "user", "content": "count \#(i)"}], "chosen": [{"role": "assistant", "content": "one two \#(i)"}], "rejected": [{"role": "assistant", "content": "red \#(i) blue"}]}"#
        }
        let url = tmp.appendingPathComponent("pairs.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return try PairRecord.read(url)
    }

    func options(lora: LoRAConfig? = nil) -> TrainStageOptions {
        var o = TrainStageOptions()
        o.quiet = true; o.checkpointSeconds = 0; o.lora = lora
        o.settings.batchSize = 2; o.settings.microBatchSize = 1; o.settings.epochs = 2
        o.settings.optimizer.learningRate = 1e-2
        o.settings.limits = SequenceLimits(maxLength: 64, maxPromptLength: 32)
        return o
    }

    /// An "SFT" adapter with nonzero B (so base + adapter ≠ base), written as PEFT does.
    func sftAdapter() throws -> URL {
        let base = try ModelDirectory.load(tmp.appendingPathComponent("policy"))
        let adapter = LoRAAdapter(model: base.config, config: LoRAConfig(r: 4, alpha: 8, targetModules: [.q, .v, .o, .down]))
        var r = TestRandom(seed: 3)
        let values = r.gaussian(adapter.layout.count, std: 0.3)
        adapter.parameters.pointer.update(from: values, count: values.count)
        let dir = tmp.appendingPathComponent("sft")
        try AdapterDirectory.write(adapter, base: tmp.appendingPathComponent("policy"), to: dir, tokenizerSource: tmp.appendingPathComponent("policy"))
        return dir
    }

    func train(policy: URL, reference: URL, _ name: String, options o: TrainStageOptions) throws -> TrainStageResult {
        try TrainStage.run(policyDirectory: policy, referenceDirectory: reference, pairs: try pairs(), options: o,
                           referenceCache: tmp.appendingPathComponent("\(name)-ref.jsonl"),
                           metricsOut: tmp.appendingPathComponent("\(name)-metrics.jsonl"),
                           stateDirectory: tmp.appendingPathComponent("\(name)-state"), outDirectory: tmp.appendingPathComponent(name))
    }

    func testReferenceIsTheStartingPolicyAdapterIncluded() throws {
        let sft = try sftAdapter()
        // Policy = reference = base + SFT adapter: step 1 is exactly ln 2.
        let result = try train(policy: sft, reference: sft, "dpo", options: options())
        XCTAssertEqual(result.steps.first?.loss, log(2.0), "policy == reference at step 1")
        XCTAssertEqual(result.adapter?.base.path, tmp.appendingPathComponent("policy").standardizedFileURL.path)
        // The reference cache is keyed by the adapter's content, not only the base's.
        let header = try XCTUnwrap(JSONLines.read(ReferenceCacheLine.self, from: tmp.appendingPathComponent("dpo-ref.jsonl")).first?.record)
        // LLaMA-Factory #8459's reference (the bare base, adapter disabled) is another model: not ln 2.
        let bare = try train(policy: sft, reference: tmp.appendingPathComponent("policy"), "bare", options: options())
        XCTAssertGreaterThan(abs((bare.steps.first?.loss ?? 0) - log(2.0)), 1e-3)
        let bareHeader = try XCTUnwrap(JSONLines.read(ReferenceCacheLine.self, from: tmp.appendingPathComponent("bare-ref.jsonl")).first?.record)
        XCTAssertNotEqual(header.sha256, bareHeader.sha256)
        // π(t) is a PEFT adapter over the same base that loads back as trained.
        let out = tmp.appendingPathComponent("dpo")
        XCTAssertTrue(AdapterDirectory.isAdapter(out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        let loaded = try ModelDirectory.load(out)
        XCTAssertEqual(Array(try XCTUnwrap(loaded.adapter).parameters.buffer), Array(result.policy.model.adapter!.parameters.buffer))
        let start = try ModelDirectory.load(sft)   // held: its buffers live as long as the model
        XCTAssertNotEqual(Array(loaded.adapter!.parameters.buffer), Array(start.adapter!.parameters.buffer))
        XCTAssertEqual(try AdapterDirectory.baseDirectory(of: out).path, tmp.appendingPathComponent("policy").standardizedFileURL.path)
        // Asking for other LoRA settings than the adapter's own is refused, naming both.
        XCTAssertThrowsError(try train(policy: sft, reference: sft, "other", options: options(lora: LoRAConfig(r: 8)))) { e in
            XCTAssertTrue("\(e)".contains("r = 4") && "\(e)".contains("r = 8"), "\(e)")
        }
    }

    func testFreshAdapterOnAFullModelAndActivationCheckpointing() throws {
        let policy = tmp.appendingPathComponent("policy")
        var o = options(lora: LoRAConfig(r: 2, alpha: 4))
        let plain = try train(policy: policy, reference: policy, "plain", options: o)
        XCTAssertEqual(plain.steps.first?.loss, log(2.0), "B = 0: the fresh adapter starts at the reference")
        o.settings.activationCheckpointing = true
        let checkpointed = try train(policy: policy, reference: policy, "ac", options: o)
        XCTAssertEqual(plain.steps.map(\.loss), checkpointed.steps.map(\.loss))
        XCTAssertEqual(try Data(contentsOf: tmp.appendingPathComponent("plain/adapter_model.safetensors")),
                       try Data(contentsOf: tmp.appendingPathComponent("ac/adapter_model.safetensors")),
                       "activation checkpointing changes no bit of the trained adapter")
        var dropout = options(lora: LoRAConfig(r: 2, alpha: 4, dropout: 0.1))
        dropout.quiet = true
        XCTAssertThrowsError(try train(policy: policy, reference: policy, "dropout", options: dropout)) { e in
            XCTAssertTrue("\(e)".contains("dropout"), "\(e)")
        }
    }

    /// An adapter idpo trained (all linear layers, rsLoRA) loads in PEFT and gives idpo's logits:
    /// idpo writes its logits for one sequence, `Scripts/check_lora_adapter.py` loads base + adapter
    /// with `PeftModel.from_pretrained` and compares. Dev-time (needs torch, transformers, peft):
    /// runs only with IDPO_PEFT_CHECK=1.
    func testTrainedAdapterLoadsInPEFTWithTheSameLogits() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["IDPO_PEFT_CHECK"] == "1",
                          "set IDPO_PEFT_CHECK=1 (needs python3 with torch, transformers, peft)")
        let policy = tmp.appendingPathComponent("policy")
        let result = try train(policy: policy, reference: policy, "peft",
                               options: options(lora: LoRAConfig(r: 4, alpha: 8, targetModules: LoRAModule.allCases, useRSLoRA: true)))
        XCTAssertLessThan(result.steps.last!.loss, log(2.0), "trained away from the fresh adapter")
        let adapterDir = tmp.appendingPathComponent("peft")
        let model = try ModelDirectory.load(adapterDir)
        XCTAssertNotNil(model.adapter)
        let tokens: [Int32] = [961, 17, 400, 23, 5, 900, 88, 3, 62, 710]
        let T = tokens.count, V = model.config.vocabSize
        let b = TokenBatch(tokens: tokens, targets: tokens, lengths: [T], maxLength: T)
        let ws = TrainingWorkspace(model: model, capacity: b.packedRows, maxSequenceLength: T)
        var logp = [Float](repeating: 0, count: T), logits = [Float](repeating: 0, count: T * V)
        try model.forward(b, workspace: ws, logProbs: &logp, logits: &logits)
        let logitsFile = tmp.appendingPathComponent("idpo-logits.safetensors")
        try logits.withUnsafeBufferPointer { p in
            try SafetensorsWriter.write([.init(name: "logits", shape: [T, V], data: p.baseAddress!)], dtype: .f32, to: logitsFile)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("Scripts/check_lora_adapter.py").path, "--base", policy.path,
                       "--adapter", adapterDir.path, "--tokens", tokens.map(String.init).joined(separator: ","),
                       "--logits", logitsFile.path, "--tolerance", "1e-4"]
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        print(text)
        XCTAssertEqual(p.terminationStatus, 0, text)
    }

    func recipe() -> String {
        """
        run: {name: tiny, output_root: out, seed: 5}
        policy: policy
        judge: {model: pm, kind: pairwise, ranking: knockout}
        prompts: {file: prompts.jsonl, max_prompt_tokens: 64}
        iterations: 2
        generation: {k: 4, max_new_tokens: 6}
        training:
          beta: 0.1
          learning_rate: 1.0e-2
          batch_size: 2
          micro_batch_size: 1
          epochs: 2
          max_length: 22
          max_prompt_length: 16
          save_interval_seconds: 0
          activation_checkpointing: true
          lora: {r: 4, alpha: 8, target_modules: [q_proj, v_proj, down_proj], use_rslora: true}
        """
    }

    func iterate(root: String, kill: String? = nil) throws -> (status: Int32, signalled: Bool, stderr: String) {
        let p = Process()
        p.executableURL = idpo
        p.arguments = ["iterate", tmp.appendingPathComponent("recipe.yaml").path, "--output-root", tmp.appendingPathComponent(root).path,
                       "--quiet", "--threads", "2"]
        var env = ProcessInfo.processInfo.environment
        env["IDPO_KILL_AT"] = kill
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: data, as: UTF8.self))
    }

    func testIterateWithLoRASavesAdaptersAndResumesIdentically() throws {
        guard FileManager.default.isExecutableFile(atPath: idpo.path) else { throw XCTSkip("build idpo first (swift build --build-tests)") }
        let words = ["red", "blue", "green", "two", "three", "sort", "count", "name"]
        let prompts = (0..<8).map { i in #"{"prompt": [{"role": "user", "content": "\#(words[i]) \#(words[(i * 3) % 8]) \#(i)"}]}"# }
        try (prompts.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
        try recipe().write(to: tmp.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)
        let clean = try iterate(root: "clean")
        XCTAssertEqual(clean.status, 0, clean.stderr)
        let run = tmp.appendingPathComponent("clean/tiny")
        for t in 1...2 {
            let policy = run.appendingPathComponent("iter-\(t)/policy")
            XCTAssertTrue(AdapterDirectory.isAdapter(policy), "π(\(t)) is an adapter")
            let config = try LoRAConfig.read(policy.appendingPathComponent("adapter_config.json"))
            XCTAssertEqual(config, LoRAConfig(r: 4, alpha: 8, targetModules: [.q, .v, .down], useRSLoRA: true))
            XCTAssertEqual(try AdapterDirectory.baseDirectory(of: policy).path, tmp.appendingPathComponent("policy").standardizedFileURL.path,
                           "every π(t) is an adapter over the same fixed base")
        }
        // The summary says which policy sampled each iteration and which adapter it trained.
        let summaries = try JSONFormat.decoder.decode([IterationSummary].self, from: Data(contentsOf: run.appendingPathComponent("summary.json")))
        XCTAssertEqual(summaries.count, 2)
        XCTAssertTrue(summaries[0].sampledBy?.contains("(full model)") == true, summaries[0].sampledBy ?? "nil")
        XCTAssertTrue(summaries[1].sampledBy?.contains("iter-1/policy (LoRA adapter r 4") == true, summaries[1].sampledBy ?? "nil")
        XCTAssertTrue(summaries[1].trainedPolicy?.contains("iter-2/policy (LoRA adapter r 4, alpha 8.0, rsLoRA") == true, summaries[1].trainedPolicy ?? "nil")
        let report = tmp.appendingPathComponent("report.html")
        try ReportWriter.write(try PairsInspector(path: run), to: report)
        XCTAssertTrue(try String(contentsOf: report, encoding: .utf8).contains("iter-2/policy (LoRA adapter r 4"))
        // Killed after the second saved step of iteration 2's training, resumed: the same bytes.
        let killed = try iterate(root: "killed", kill: "train-step:3")
        XCTAssertTrue(killed.signalled, killed.stderr)
        let resumed = try iterate(root: "killed")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        for t in 1...2 {
            for f in ["pairs.jsonl", "reference-logps.jsonl", "metrics.jsonl", "policy/adapter_model.safetensors", "policy/adapter_config.json"] {
                let a = try Data(contentsOf: run.appendingPathComponent("iter-\(t)/\(f)"))
                let b = try Data(contentsOf: tmp.appendingPathComponent("killed/tiny/iter-\(t)/\(f)"))
                XCTAssertEqual(a, b, "iter-\(t)/\(f)")
            }
        }
        // convert --merge-lora writes base + adapter as one plain model with the same outputs.
        let merged = tmp.appendingPathComponent("merged")
        let p = Process()
        p.executableURL = idpo
        p.arguments = ["convert", "--from", run.appendingPathComponent("iter-2/policy").path, "--merge-lora", "--to", merged.path]
        p.standardOutput = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let plain = try ModelDirectory.load(merged)
        XCTAssertNil(plain.adapter)
        let withAdapter = try ModelDirectory.load(run.appendingPathComponent("iter-2/policy"))
        let tokens: [Int32] = [961, 5, 77, 300, 12, 40, 41]
        func logits(_ m: LlamaModel) throws -> [Float] {
            let b = TokenBatch(tokens: tokens, targets: tokens, lengths: [tokens.count], maxLength: tokens.count)
            var logp = [Float](repeating: 0, count: tokens.count), out = [Float](repeating: 0, count: tokens.count * m.config.vocabSize)
            try m.forward(b, workspace: TrainingWorkspace(model: m, capacity: 16, maxSequenceLength: 16, training: false),
                          logProbs: &logp, training: false, logits: &out)
            return out
        }
        XCTAssertLessThanOrEqual(compare(try logits(plain), try logits(withAdapter)).relativeError, 1e-5)
    }
}
