// Sampling through a real serving engine: llama.cpp's llama-server (built by `make test-engines` from
// the llama.cpp sources that ship in the llama-cpp-python package on PyPI) serving the real
// SmolLM2-135M-Instruct GGUF, started by the test itself. idpo renders and tokenizes the prompts and
// the server samples n = k completions per prompt from those token ids. No mock: a real process on
// a real port. Skipped unless IDPO_LLAMA_SERVER (the llama-server executable) and IDPO_REAL_MODEL are set.

import XCTest
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Generation
import Llama
import Checkpoints
import Support
import Preference
@testable import Pipeline
import TestSupport

final class LlamaServerTests: XCTestCase {
    var server: Process?
    var tmp: URL!
    var port = 0

    static func executable() throws -> URL {
        guard let path = ProcessInfo.processInfo.environment["IDPO_LLAMA_SERVER"], !path.isEmpty else {
            throw XCTSkip("set IDPO_LLAMA_SERVER to a llama-server executable (make test-engines builds one)")
        }
        guard FileManager.default.isExecutableFile(atPath: path) else { throw ChatModelError("IDPO_LLAMA_SERVER=\(path) is not an executable") }
        return URL(fileURLWithPath: path)
    }

    /// Starts llama-server on `gguf` at a free port and waits until /health answers 200.
    func startServer(_ gguf: URL, extra: [String] = []) throws {
        let exe = try Self.executable()
        port = 18000 + Int.random(in: 0..<2000)
        let p = Process()
        p.executableURL = exe
        p.arguments = ["-m", gguf.path, "--host", "127.0.0.1", "--port", "\(port)", "-c", "4096", "-np", "4",
                       "--threads", "2", "--no-webui"] + extra
        let log = tmp.appendingPathComponent("server.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle; p.standardError = handle
        try p.run()
        server = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if !p.isRunning { throw ChatModelError("llama-server exited: \(try String(contentsOf: log, encoding: .utf8).suffix(2000))") }
            if healthy() { return }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw ChatModelError("llama-server did not become healthy in 60 s: \(try String(contentsOf: log, encoding: .utf8).suffix(2000))")
    }

    func healthy() -> Bool {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var ok = false
        URLSession.shared.dataTask(with: URL(string: "http://127.0.0.1:\(port)/health")!) { _, response, _ in
            ok = (response as? HTTPURLResponse)?.statusCode == 200
            done.signal()
        }.resume()
        done.wait()
        return ok
    }

    override func setUpWithError() throws {
        _ = try Self.executable()
        _ = try RealModel.gguf()
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-llama-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws {
        if let server, server.isRunning { server.terminate(); server.waitUntilExit() }
        if let tmp { try? FileManager.default.removeItem(at: tmp) }
    }

    var prompts: [PromptRecord] {
        ["What is the capital of France?", "Name a fruit that is yellow.", "Say hello in Spanish."].enumerated().map {
            PromptRecord(id: $0.offset, prompt: .messages([PromptMessage(role: "user", content: $0.element)]))
        }
    }

    func engine() throws -> RemoteCompletions {
        var s = RemoteEngineSettings(baseURL: "http://127.0.0.1:\(port)", server: .llamacpp)
        s.maxConcurrency = 3; s.attempts = 2; s.timeoutSeconds = 120
        return try RemoteCompletions(s)
    }

    /// n = k completions per prompt from idpo's token ids: k samples each, token ids the policy's
    /// tokenizer knows and decodes to the texts, stop/length finish reasons, seeds that reproduce;
    /// at temperature 0 the server's continuation starts as idpo's own greedy decode on the same file.
    func testRemoteGenerationFromTokenIDs() throws {
        let gguf = try RealModel.gguf()
        try startServer(gguf)
        let policy = try PolicyText(directory: gguf)
        var s = GenerationStageSettings()
        s.samplesPerPrompt = 3; s.maxNewTokens = 24; s.seed = 7
        let out = tmp.appendingPathComponent("samples.jsonl")
        let samples = try Stages.generateRemote(policy: policy, engine: try engine(), prompts: prompts, settings: s, out: out, quiet: true)
        XCTAssertEqual(samples.map(\.id), [0, 1, 2])
        for r in samples {
            XCTAssertEqual(r.responses.count, 3); XCTAssertEqual(r.responseTokens.count, 3)
            XCTAssertFalse(r.responseTokensRetokenized, "llama-server returns the token ids")
            for (text, ids) in zip(r.responses, r.responseTokens) {
                XCTAssertFalse(ids.isEmpty)
                XCTAssertLessThanOrEqual(ids.count, 24)
                XCTAssertEqual(try policy.tokenizer.decode(ids, skipSpecialTokens: true), text)
            }
            XCTAssertTrue(r.finishReasons.allSatisfy { $0 == "stop" || $0 == "length" }, "\(r.finishReasons)")
            XCTAssertGreaterThan(Set(r.responseTokens).count, 1, "prompt \(r.id): k samples at temperature 1 differ")
        }
        // the same seeds again: the same samples
        let again = try Stages.generateRemote(policy: policy, engine: try engine(), prompts: prompts, settings: s,
                                              out: tmp.appendingPathComponent("again.jsonl"), quiet: true)
        XCTAssertEqual(again.map(\.responseTokens), samples.map(\.responseTokens), "seeded sampling reproduces")

        // greedy: the server continues idpo's token ids as idpo's engine would — every token it picks
        // is idpo's own argmax or a near-tie with it (llama.cpp multiplies Q4_1 weights by Q8-rounded
        // activations, idpo by float32 ones, so near-ties may break either way); and they agree on most
        s.sampling = SamplingParameters(temperature: 0); s.samplesPerPrompt = 1; s.maxNewTokens = 4
        let remote = try Stages.generateRemote(policy: policy, engine: try engine(), prompts: prompts, settings: s,
                                               out: tmp.appendingPathComponent("greedy-remote.jsonl"), quiet: true)
        let chat = try RealModel.chat()
        var agreeing = 0, steps = 0
        for r in remote {
            let prompt = try chat.promptTokens(prompts[r.id].prompt, maxTokens: 1024).tokens, response = r.responseTokens[0]
            let sequence = prompt + response
            let session = InferenceSession(model: chat.model, cache: KVCache(config: chat.model.config, slots: 1, maxLength: sequence.count),
                                           maxRows: sequence.count)
            try session.extend(slots: [0], tokens: [sequence], allLogits: true)
            let V = chat.model.config.vocabSize
            for (i, token) in response.enumerated() {
                let row = Array(session.logits.buffer[(prompt.count - 1 + i) * V ..< (prompt.count + i) * V])
                let best = row.max()!
                steps += 1
                if row[Int(token)] == best { agreeing += 1 }
                XCTAssertGreaterThan(row[Int(token)], best - 0.5, "prompt \(r.id), step \(i): the server's token \(token) is far from idpo's argmax (logit \(row[Int(token)]) vs \(best))")
            }
        }
        XCTAssertGreaterThanOrEqual(Double(agreeing) / Double(steps), 0.75, "\(agreeing) of \(steps) greedy steps pick idpo's argmax")
    }

    /// The staleness check (TRL #5312): a server serving the policy passes; the same server after the
    /// policy changed fails, naming both values; after the hand-off (the new policy exported to GGUF by
    /// idpo and the server restarted on it, as a reload_command would) it passes again.
    func testStalenessCheckCatchesAStaleServerAndPassesAfterTheHandOff() throws {
        let gguf = try RealModel.gguf()
        try startServer(gguf)
        let policy = try PolicyText(directory: gguf), chat = try RealModel.chat()
        let probes = try StalenessCheck.probes(prompts, policy: policy, maxTokens: 1024)
        // the server's Q4_1 arithmetic (Q8 activations) against idpo's float32 one on the same file
        let same = try StalenessCheck.verify(model: chat.model, engine: try engine(), probes: probes, tolerance: 0.25, serving: "π0")
        print("staleness probe, same Q4_1 file: max |Δ log p| = \(same.maxDifference) (\(same.worst))")
        // π(1): the policy changed (its final norm × 1.15, as a training step would move it)
        let updated = try XCTUnwrap(chat.model.float32Copy())
        let norm = updated.parameters.pointer + updated.layout.finalNorm
        for i in 0..<updated.config.hiddenSize { norm[i] *= 1.15 }
        XCTAssertThrowsError(try StalenessCheck.verify(model: updated, engine: try engine(), probes: probes, tolerance: 0.25, serving: "π(1)")) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("is not serving π(1)") && text.contains("by idpo") && text.contains("by the server"), text)
        }
        // the hand-off: π(1) exported to an F32 GGUF and served
        let file = tmp.appendingPathComponent("policy-1.gguf")
        try GGUFWriter.llama(updated, weights: .f32, name: "pi1", tokenizer: try GGUFTokenizerExport.from(gguf)).write(to: file)
        server?.terminate(); server?.waitUntilExit()
        try startServer(file)
        let after = try StalenessCheck.verify(model: updated, engine: try engine(), probes: probes, tolerance: 0.25, serving: "π(1)")
        print("staleness probe after the hand-off (F32 file): max |Δ log p| = \(after.maxDifference) (\(after.worst))")
        XCTAssertLessThan(after.maxDifference, 1e-2, "float32 weights on both sides")
    }

    /// Two iterations of `idpo iterate`'s library entry with the samples drawn by llama-server: π0 is
    /// served as an F32 GGUF export of the real model; after π(1) is trained, a reload_command that
    /// does nothing leaves the server stale and iteration 2 stops at the staleness check, naming both
    /// values; with a reload_command that restarts the server on $IDPO_POLICY_GGUF (π(1) exported by
    /// idpo) the same run resumes and finishes.
    func testIterationsHandTheNewWeightsToTheServerAndRefuseAStaleOne() throws {
        let gguf = try RealModel.gguf()
        // π0 as the server gets it: idpo's dequantized weights in an F32 GGUF
        let pi0 = tmp.appendingPathComponent("pi0.gguf")
        try GGUFWriter.llama(try RealModel.chat().model, weights: .f32, name: "pi0", tokenizer: try GGUFTokenizerExport.from(gguf)).write(to: pi0)
        try writeServeScript()
        defer { stopScriptServer() }
        func shell(_ args: [String]) throws {   // the script leaves the server running: Subprocess, not Process
            XCTAssertEqual(try Subprocess.run(["sh"] + args, environment: ProcessInfo.processInfo.environment, directory: tmp), 0, "\(args)")
        }
        try shell(["serve.sh", pi0.path])
        try writeIterationInputs()
        func recipe(reload: String) -> String { servedRecipe(name: "served", policy: gguf, reload: reload, learningRate: "5.0e-4") }
        let url = tmp.appendingPathComponent("recipe.yaml")
        try recipe(reload: "[\"true\"]").write(to: url, atomically: true, encoding: .utf8)
        do {   // (the driver holds the run's lock until it goes)
            let stale = try RunDriver(recipe: try Recipe.load(url: url))
            stale.quiet = true
            XCTAssertThrowsError(try stale.run()) {
                let text = "\($0)"
                XCTAssertTrue(text.contains("is not serving π(1)") && text.contains("by idpo") && text.contains("by the server"), text)
            }
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("out/served/iter-1/policy").path), "π(1) was trained")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("out/served/iter-1/policy.gguf").path), "and exported for the server")
        // the real hand-off: restart the server on π(1) (reload.sh, from $IDPO_POLICY_GGUF); the run resumes at iteration 2
        try recipe(reload: "[sh, reload.sh]").write(to: url, atomically: true, encoding: .utf8)
        let fixed = try RunDriver(recipe: try Recipe.load(url: url), force: true)
        fixed.quiet = true
        try fixed.run()
        let samples = try SampleRecord.read(tmp.appendingPathComponent("out/served/iter-2/samples.jsonl"))
        XCTAssertEqual(samples.count, 4)
        let events = try String(contentsOf: tmp.appendingPathComponent("out/served/events.log"), encoding: .utf8)
        XCTAssertTrue(events.contains("iteration 2: the server at http://127.0.0.1:\(port)/completion serves π(1)"), events)
    }

    /// A two-iteration recipe sampling through serve.sh's server, judged by longer.py.
    func servedRecipe(name: String, policy: URL, reload: String, learningRate: String, extraTraining: String = "") -> String {
        """
        run: {name: \(name), output_root: out, seed: 5}
        policy: \(policy.path)
        judge: {kind: command, command: [python3, longer.py]}
        prompts: {file: prompts.jsonl, max_prompt_tokens: 128}
        iterations: 2
        generation:
          k: 2
          max_new_tokens: 12
          engine: {base_url: "http://127.0.0.1:\(port)", server: llamacpp, reload_command: \(reload)}
        training: {loss: sigmoid, beta: 0.1, learning_rate: \(learningRate), optimizer: adamw, scheduler: constant, batch_size: 4,
                   micro_batch_size: 2, epochs: 1, max_length: 160, max_prompt_length: 128, save_interval_seconds: 0\(extraTraining)}
        """
    }

    /// serve.sh: (re)starts llama-server on the GGUF file it is given, under a pid file, and waits
    /// until it answers — what a user's reload_command does.
    func writeServeScript() throws {
        let exe = try Self.executable()
        port = 18000 + Int.random(in: 2000..<4000)
        let serve = """
            #!/bin/sh
            # restart llama-server on $1 and wait until it answers
            [ -f server.pid ] && kill $(cat server.pid) 2>/dev/null && sleep 0.5
            "\(exe.path)" -m "$1" --host 127.0.0.1 --port \(port) -c 4096 -np 4 --threads 2 --no-webui > server.log 2>&1 &
            echo $! > server.pid
            for i in $(seq 1 240); do
              curl -sf http://127.0.0.1:\(port)/health > /dev/null 2>&1 && exit 0
              wget -q -O /dev/null http://127.0.0.1:\(port)/health 2>/dev/null && exit 0
              sleep 0.25
            done
            echo "llama-server did not start" >&2; exit 1
            """
        try serve.write(to: tmp.appendingPathComponent("serve.sh"), atomically: true, encoding: .utf8)
        // the reload script gets π(t)'s file from the environment
        try #"exec sh serve.sh "$IDPO_POLICY_GGUF""#.write(to: tmp.appendingPathComponent("reload.sh"), atomically: true, encoding: .utf8)
    }

    func stopScriptServer() {
        if let pid = try? String(contentsOf: tmp.appendingPathComponent("server.pid"), encoding: .utf8), let n = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(n, SIGTERM) }
    }

    /// prompts.jsonl (8 prompts) and longer.py, a program judge for which the longer response wins
    /// (fast, so a test is about the hand-off).
    func writeIterationInputs() throws {
        let lines = ["What is the capital of France?", "Name a fruit that is yellow.", "Say hello in Spanish.", "What is 2 + 3?",
                     "Name a color.", "Count to three.", "What is water made of?", "Say goodbye."]
            .enumerated().map { #"{"id": \#($0.offset), "prompt": [{"role": "user", "content": "\#($0.element)"}]}"# }
        try (lines.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
        try "import sys, json\nfor line in sys.stdin:\n    print(json.dumps([len(r) for r in json.loads(line)['responses']]))\n"
            .write(to: tmp.appendingPathComponent("longer.py"), atomically: true, encoding: .utf8)
    }

    /// The real model as a float32 Hugging Face directory (idpo's dequantized weights), optionally
    /// as a LlamaForSequenceClassification reward model with a seeded random `score.weight` in a
    /// second shard.
    func writeHuggingFaceCopy(_ name: String, rewardHead: Bool = false) throws -> URL {
        let gguf = try RealModel.gguf()
        let dir = tmp.appendingPathComponent(name)
        let model = try XCTUnwrap(try RealModel.chat().model.float32Copy())
        try ModelDirectory.saveHuggingFace(model, to: dir, tokenizerSource: gguf)
        guard rewardHead else { return dir }
        let D = model.config.hiddenSize
        var rng = SplitMix64(seed: 11)
        let head = (0..<D).map { _ in Float(Double(rng.next() % 2001) / 1000 - 1) * 0.08 }
        try head.withUnsafeBufferPointer {
            try SafetensorsWriter.write([SafetensorsWriter.Tensor(name: "score.weight", shape: [1, D], data: $0.baseAddress!)], dtype: .f32,
                                        to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        }
        try FileManager.default.moveItem(at: dir.appendingPathComponent("model.safetensors"), to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        var map = Dictionary(uniqueKeysWithValues: model.layout.entries.map { ($0.name, "model-00001-of-00002.safetensors") })
        map["score.weight"] = "model-00002-of-00002.safetensors"
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map]).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        let configURL = dir.appendingPathComponent("config.json")
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        config["architectures"] = ["LlamaForSequenceClassification"]; config["num_labels"] = 1
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return dir
    }

    /// A scalar reward model through llama-server's pooling endpoint (`--embeddings --pooling last`:
    /// the last token's final-norm hidden state, score.weight applied by idpo) against the same
    /// reward model on idpo's engine: same rewards within the server's precision, same rankings.
    func testRemoteRewardModelAgreesWithTheLocalOne() throws {
        let rm = try writeHuggingFaceCopy("rm", rewardHead: true)
        let file = tmp.appendingPathComponent("rm.gguf")
        try GGUFWriter.llama(try RealModel.chat().model, weights: .f32, name: "rm", tokenizer: try GGUFTokenizerExport.from(rm)).write(to: file)
        try startServer(file, extra: ["--embeddings", "--pooling", "last"])
        var settings = RemoteEngineSettings(baseURL: "http://127.0.0.1:\(port)", server: .llamacpp)
        settings.attempts = 2
        let local = try RewardJudge(directory: rm, warnings: { _ in })
        let remote = try RewardJudge(directory: rm, engine: settings, warnings: { _ in })
        XCTAssertTrue(remote.inputSummary.contains("scored by http://127.0.0.1:\(port)"), remote.inputSummary)
        let cases: [([PromptMessage], [String])] = [
            ([PromptMessage(role: "user", content: "What is the capital of France?")], ["Paris.", "The capital of France is Paris.", "London.", "I do not know."]),
            ([PromptMessage(role: "user", content: "Say hello in Spanish.")], ["Hola.", "Bonjour.", "Hello!", "¡Hola! ¿Cómo estás?"]),
        ]
        var worst = 0.0, spread = 0.0
        for (messages, responses) in cases {
            let a = try local.rewards(messages: messages, responses: responses), b = try remote.rewards(messages: messages, responses: responses)
            print("rewards, idpo: \(a)\n         llama-server: \(b)")
            for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i])) }
            spread = max(spread, a.max()! - a.min()!)
            let ra = try local.judge(messages: messages, responses: responses, method: .scores).ranking
            let rb = try remote.judge(messages: messages, responses: responses, method: .scores).ranking
            XCTAssertEqual(ra.best, rb.best); XCTAssertEqual(ra.worst, rb.worst)
        }
        print("remote vs local reward model: max |Δr| = \(worst) (rewards spread over \(spread))")
        XCTAssertGreaterThan(spread, 0.05, "the head tells the responses apart")
        XCTAssertLessThan(worst, 2e-2)
        // a server started without --embeddings is a clear error
        server?.terminate(); server?.waitUntilExit()
        try startServer(file)
        settings.baseURL = "http://127.0.0.1:\(port)"
        let plain = try RewardJudge(directory: rm, engine: settings, warnings: { _ in })
        XCTAssertThrowsError(try plain.rewards(messages: cases[0].0, responses: ["Paris."])) {
            XCTAssertTrue("\($0)".contains("/embedding") && "\($0)".contains("--embeddings"), "\($0)")
        }
    }

    /// Two iterations training a LoRA adapter with the samples drawn by llama-server (which loads
    /// adapters only when it starts): π(1) is exported with its adapter merged, the reload_command
    /// restarts the server on it, the staleness check (idpo's base + adapter forward against the
    /// server's merged weights) passes and iteration 2 samples.
    func testALoRAPolicyIsServedMergedAfterTheHandOff() throws {
        let base = try writeHuggingFaceCopy("base")
        let pi0 = tmp.appendingPathComponent("pi0.gguf")
        try GGUFWriter.llama(try RealModel.chat().model, weights: .f32, name: "pi0", tokenizer: try GGUFTokenizerExport.from(base)).write(to: pi0)
        try writeServeScript()
        defer { stopScriptServer() }
        XCTAssertEqual(try Subprocess.run(["sh", "serve.sh", pi0.path], environment: ProcessInfo.processInfo.environment, directory: tmp), 0)
        try writeIterationInputs()
        let recipe = servedRecipe(name: "lora", policy: base, reload: "[sh, reload.sh]", learningRate: "5.0e-3", extraTraining: ", lora: {r: 8, alpha: 16}")
        let url = tmp.appendingPathComponent("recipe.yaml")
        try recipe.write(to: url, atomically: true, encoding: .utf8)
        let driver = try RunDriver(recipe: try Recipe.load(url: url))
        driver.quiet = true
        try driver.run()
        let run = tmp.appendingPathComponent("out/lora")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("iter-1/policy/adapter_config.json").path), "π(1) is an adapter")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("iter-1/policy.gguf").path), "exported merged for the server")
        let events = try String(contentsOf: run.appendingPathComponent("events.log"), encoding: .utf8)
        XCTAssertTrue(events.contains("LoRA adapter merged"), events)
        XCTAssertTrue(events.contains("iteration 2: the server at http://127.0.0.1:\(port)/completion serves π(1)"), events)
        XCTAssertEqual(try SampleRecord.read(run.appendingPathComponent("iter-2/samples.jsonl")).count, 4)
        // the adapter moved the policy: the server on π0's file would have been caught as stale
        let pi1 = try ChatModel(directory: run.appendingPathComponent("iter-1/policy"))
        XCTAssertNotNil(pi1.model.adapter)
        let probes = try StalenessCheck.probes(prompts, policy: pi1.text, maxTokens: 128)
        let served = try StalenessCheck.verify(model: pi1.model, engine: try engine(), probes: probes, tolerance: 0.05, serving: "π(1)")
        print("LoRA π(1) against the server on its merged export: max |Δ log p| = \(served.maxDifference)")
        XCTAssertEqual(try Subprocess.run(["sh", "serve.sh", pi0.path], environment: ProcessInfo.processInfo.environment, directory: tmp), 0)
        XCTAssertThrowsError(try StalenessCheck.verify(model: pi1.model, engine: try engine(), probes: probes, tolerance: 0.05, serving: "π(1)")) {
            print("LoRA π(1) against the server on π0: \($0)")
            XCTAssertTrue("\($0)".contains("is not serving π(1)"), "\($0)")
        }
    }

    /// The pairwise A/B judge read through the server (the log-probs of exactly the "A" and "B" ids
    /// among its top next tokens, both orders, the same round robin) against the same judge on
    /// idpo's engine: same verdicts, P within the server's precision (its f16 KV cache).
    func testRemotePairwiseJudgeAgreesWithTheLocalOne() throws {
        let gguf = try RealModel.gguf()
        let file = tmp.appendingPathComponent("judge.gguf")
        try GGUFWriter.llama(try RealModel.chat().model, weights: .f32, name: "judge", tokenizer: try GGUFTokenizerExport.from(gguf)).write(to: file)
        try startServer(file)
        var settings = RemoteEngineSettings(baseURL: "http://127.0.0.1:\(port)", server: .llamacpp)
        settings.attempts = 2
        let local = try PairwiseJudge(directory: gguf, stripBOS: .leading, warnings: { _ in })
        let remote = try PairwiseJudge(directory: gguf, stripBOS: .leading, engine: settings, warnings: { _ in })
        let cases: [([PromptMessage], [String])] = [
            ([PromptMessage(role: "user", content: "What is the capital of France?")], ["Paris.", "The capital of France is Paris.", "London."]),
            ([PromptMessage(role: "user", content: "Say hello in Spanish.")], ["Hola.", "Bonjour.", "Hello!"]),
        ]
        var worst = 0.0
        for (messages, responses) in cases {
            let a = try local.judge(messages: messages, responses: responses, method: .roundRobin)
            let b = try remote.judge(messages: messages, responses: responses, method: .roundRobin)
            let pa = try XCTUnwrap(a.ranking.probabilityMatrix), pb = try XCTUnwrap(b.ranking.probabilityMatrix)
            for i in 0..<responses.count { for j in 0..<responses.count where i != j {
                worst = max(worst, abs(pa[i][j] - pb[i][j]))
                // (a comparison within the server's precision of ½ may go either way: this untrained
                // judge has such near-ties)
                if abs(pa[i][j] - 0.5) > 5e-3 { XCTAssertEqual(pa[i][j] > 0.5, pb[i][j] > 0.5, "the verdict on \(i) vs \(j)") }
            } }
        }
        print("remote vs local pairwise judge: max |ΔP| = \(worst)")
        XCTAssertLessThan(worst, 5e-3)
        // both letters must be among what the server returns
        let narrow = try RemotePairwiseProbabilities(engine: try RemoteCompletions(settings), tokenA: 32, tokenB: 33, temperature: 1, topTokens: 1)
        XCTAssertThrowsError(try narrow.probabilityA([[1, 2, 3, 4]])) {
            XCTAssertTrue("\($0)".contains("not among the server's 1 most likely next tokens"), "\($0)")
        }
    }

    /// A server that dies mid-stage: the batch in flight fails with an error naming the URL and the
    /// prompt; the batches already written stay, and a rerun against a live server resumes.
    func testServerThatDiesIsAClearErrorAndTheStageResumes() throws {
        let gguf = try RealModel.gguf()
        try startServer(gguf)
        let policy = try PolicyText(directory: gguf)
        var s = GenerationStageSettings()
        s.samplesPerPrompt = 2; s.maxNewTokens = 8
        let many = (0..<40).map { PromptRecord(id: $0, prompt: .text("Count to \($0):")) }
        let out = tmp.appendingPathComponent("samples.jsonl")
        _ = try Stages.generateRemote(policy: policy, engine: try engine(), prompts: Array(many.prefix(16)), settings: s,
                                      out: tmp.appendingPathComponent("first.jsonl"), quiet: true)
        server?.terminate(); server?.waitUntilExit()
        XCTAssertThrowsError(try Stages.generateRemote(policy: policy, engine: try engine(), prompts: many, settings: s, out: out, quiet: true)) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("http://127.0.0.1:\(port)/completion") && text.contains("prompt 0"), text)
            XCTAssertTrue(text.contains("after 2 attempts"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no half-written samples file")
        try startServer(gguf)
        let resumed = try Stages.generateRemote(policy: policy, engine: try engine(), prompts: many, settings: s, out: out, quiet: true)
        XCTAssertEqual(resumed.map(\.id), Array(0..<40))
    }
}
