// End to end: `idpo iterate` on a tiny recipe (two iterations), killed with SIGKILL during
// generation, judging and training and resumed, ends with the same bytes as an uninterrupted run;
// a changed recipe is refused; a second driver is locked out.

import XCTest
import Foundation
@testable import Pipeline
import Optimization
import Checkpoints
import TestSupport
import Support

final class IterateTests: XCTestCase {
    var tmp: URL!
    var idpo: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/idpo") }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: idpo.path) else { throw XCTSkip("build idpo first (swift build --build-tests)") }
        tmp = try TinyModels.temporaryDirectory("iterate")
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 1)
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let words = ["red", "blue", "green", "two", "three", "sort", "count", "name", "say", "add", "one", "four"]
        let prompts = (0..<10).map { i in #"{"prompt": [{"role": "user", "content": "\#(words[i % 12]) \#(words[(i * 5) % 12]) \#(i)"}]}"# }
        try (prompts.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
        try (prompts.prefix(3).joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        try recipe(beta: 0.1).write(to: tmp.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)
    }
    override func tearDownWithError() throws { if let tmp { try? FileManager.default.removeItem(at: tmp) } }

    func recipe(beta: Double) -> String {
        """
        run:
          name: tiny
          output_root: out
          seed: 5
        policy: policy
        judge:
          model: pm
          kind: pairwise
          ranking: knockout
        prompts:
          file: prompts.jsonl
          max_prompt_tokens: 64
        iterations: 2
        generation:
          k: 4
          max_new_tokens: 6
        training:
          beta: \(beta)
          learning_rate: 1.0e-3
          batch_size: 2
          micro_batch_size: 1
          epochs: 2
          max_length: 22
          max_prompt_length: 16
          save_interval_seconds: 0      # the kill-and-resume test kills right after a save
        evaluation:
          prompts: eval.jsonl
          max_new_tokens: 6
        """
    }

    @discardableResult
    func iterate(root: String, kill: String? = nil, extra: [String] = []) throws -> (status: Int32, signalled: Bool, stderr: String) {
        let p = Process()
        p.executableURL = idpo
        p.arguments = ["iterate", tmp.appendingPathComponent("recipe.yaml").path, "--output-root", tmp.appendingPathComponent(root).path,
                       "--quiet", "--threads", "2"] + extra
        var env = ProcessInfo.processInfo.environment
        env["IDPO_PLAIN_PROGRESS"] = "1"
        if let kill { env["IDPO_KILL_AT"] = kill } else { env["IDPO_KILL_AT"] = nil }
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: data, as: UTF8.self))
    }

    /// The files that must be identical between runs.
    func outputs(_ root: String) throws -> [String: Data] {
        let base = tmp.appendingPathComponent(root).appendingPathComponent("tiny")
        var out: [String: Data] = [:]
        for t in 1...2 {
            for f in ["prompts.jsonl", "samples.jsonl", "judgments.jsonl", "pairs.jsonl", "reference-logps.jsonl", "metrics.jsonl",
                      "policy/model.h5", "policy/config.json", "evaluation.json", "eval-samples.jsonl"] {
                let url = base.appendingPathComponent("iter-\(t)/\(f)")
                out["iter-\(t)/\(f)"] = try Data(contentsOf: url)
            }
        }
        return out
    }

    /// "t/stage" of every stage the run's manifest.json marks done (none before it is written).
    func doneStages(_ run: URL) throws -> Set<String> {
        guard let data = try? Data(contentsOf: run.appendingPathComponent("manifest.json")) else { return [] }
        let o = try XCTUnwrap(try TestJSON.parse(data) as? [String: Any])
        let iterations = try XCTUnwrap(o["iterations"] as? [String: [String: [String: Any]]])
        return Set(iterations.flatMap { t, stages in stages.filter { $0.value["done"] as? Bool == true }.map { "\(t)/\($0.key)" } })
    }

    /// The output a run killed in `stage` at `point` leaves: the batches written so far beside a
    /// final file that does not exist yet, or the saved training state of step n and no π(t).
    func checkUnfinished(_ run: URL, stage: String, point: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let parts = stage.split(separator: "/"), t = Int(parts[0])!, name = String(parts[1])
        let iter = run.appendingPathComponent("iter-\(t)")
        func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }
        func partFiles(_ out: URL) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: out.path + ".parts")) ?? []).filter { !$0.hasPrefix(".") }
        }
        switch name {
        case "generate", "judge", "evaluate":
            let out = iter.appendingPathComponent(name == "generate" ? "samples.jsonl" : name == "judge" ? "judgments.jsonl" : "eval-samples.jsonl")
            XCTAssertFalse(exists(out), "\(point): \(out.lastPathComponent) must not be complete", file: file, line: line)
            XCTAssertFalse(partFiles(out).isEmpty, "\(point): the written batch of \(out.lastPathComponent) is kept", file: file, line: line)
            if name == "judge" { XCTAssertFalse(exists(iter.appendingPathComponent("pairs.jsonl")), file: file, line: line) }
            if name == "evaluate" { XCTAssertFalse(exists(iter.appendingPathComponent("evaluation.json")), file: file, line: line) }
        case "train":
            let n = Int(point.split(separator: ":")[1])!
            XCTAssertFalse(exists(iter.appendingPathComponent("policy")), "\(point): π(\(t)) must not be written", file: file, line: line)
            let state = try NativeCheckpoint.read(from: iter.appendingPathComponent("train-state/state.h5"))
            XCTAssertEqual(state.metadataJSON, "{\"step\":\(n)}", "\(point): the state saved last", file: file, line: line)
            XCTAssertEqual(state.optimizer?.step, n, file: file, line: line)
            let metrics = try String(contentsOf: iter.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(metrics.count, n, "\(point): the steps logged before the kill, no summary line", file: file, line: line)
        default:
            XCTFail("unknown stage \(stage)", file: file, line: line)
        }
    }

    func testKilledRunsResumeToIdenticalOutputs() throws {
        let clean = try iterate(root: "clean")
        XCTAssertEqual(clean.status, 0, clean.stderr)
        let expected = try outputs("clean")

        // Iteration 1 trains π0 against the reference π0 on pairs whose prompts are cut to 16 tokens:
        // step 1's loss is ln 2 exactly and its rewards 0 (reference and policy see the same tokens).
        let metrics = try RawJSONLines.read(tmp.appendingPathComponent("clean/tiny/iter-1/metrics.jsonl"))
        XCTAssertEqual(metrics.first?.object["loss"] as? Double, log(2.0))
        XCTAssertEqual((metrics.first?.object["rewards/chosen"] as? Int).map(Double.init) ?? metrics.first?.object["rewards/chosen"] as? Double, 0)
        XCTAssertGreaterThan(metrics.last?.object["prompts_truncated"] as? Int ?? 0, 0, "the recipe must cut prompts")
        // Timings are left out of a recipe run's metrics (not written as 0, which reads as measured).
        for line in metrics {
            for key in ["tokens_per_s", "train_runtime", "reference_runtime"] {
                XCTAssertNil(line.object[key], "\(key) in a recipe run's metrics.jsonl")
            }
        }

        // Each model is loaded once per iteration: π(t−1) samples and is trained in place, the judge
        // judges and evaluates, π(t) is handed to evaluation; π0 for the KL is a copy taken before
        // training in iteration 1 and the reference kept from training in iteration 2.
        let cleanSummary = try TestJSON.parse(Data(contentsOf: tmp.appendingPathComponent("clean/tiny/summary.json"))) as? [[String: Any]]
        let loads = (cleanSummary ?? []).map { ($0["loads"] as? [[String: Any]] ?? []).map { "\($0["model"] ?? "?") \($0["stage"] ?? "?")" } }
        XCTAssertEqual(loads, [["π(0) generate", "judge judge"], ["π(1) generate", "judge judge", "π0 (reference) train"]])

        // Each run is killed (SIGKILL, as `kill -9`) at its injected point; the next run resumes where it
        // died. Before resuming, check that it died there: killed by the signal, every stage before the
        // point finished in the manifest and none after, and the stage's partial output on disk.
        let order = ["1/generate", "1/judge", "1/train", "1/evaluate", "2/generate", "2/judge", "2/train", "2/evaluate"]
        let kills: [(point: String, stage: String)] = [
            ("generate-part:1", "1/generate"),   // the first batch of iteration 1's samples written
            ("judge-part:1", "1/judge"),
            ("train-step:2", "1/train"),         // right after the state of step 2 was saved
            ("generate-part:1", "1/evaluate"),   // π(1)'s evaluation samples
            ("generate-part:2", "2/generate"),   // π0's evaluation samples, then iteration 2's first batch
            ("judge-part:1", "2/judge"),
            ("train-step:1", "2/train"),
        ]
        let run = tmp.appendingPathComponent("killed/tiny")
        for (point, stage) in kills {
            let r = try iterate(root: "killed", kill: point)
            XCTAssertTrue(r.signalled && r.status == SIGKILL, "\(point) should kill the run in \(stage): exit \(r.status), signalled \(r.signalled)\n\(r.stderr)")
            let done = try doneStages(run)
            let position = order.firstIndex(of: stage)!
            XCTAssertEqual(done, Set(order.prefix(position)), "\(point): the run should die in \(stage) with every earlier stage finished")
            try checkUnfinished(run, stage: stage, point: point)
        }
        // A killed writer's temporaries (a pid that no longer runs) are removed when the run resumes.
        let dead = Process(); dead.executableURL = URL(fileURLWithPath: "/bin/true"); try dead.run(); dead.waitUntilExit()
        let stale = [tmp.appendingPathComponent("killed/tiny/.summary.json.tmp-\(dead.processIdentifier)"),
                     tmp.appendingPathComponent("killed/tiny/iter-2/.pairs.jsonl.tmp-\(dead.processIdentifier)")]
        for url in stale {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("partial".utf8).write(to: url)
        }
        let final = try iterate(root: "killed")
        for url in stale { XCTAssertFalse(FileManager.default.fileExists(atPath: url.path), "\(url.lastPathComponent) left behind") }
        XCTAssertEqual(final.status, 0, final.stderr)
        let resumed = try outputs("killed")
        XCTAssertEqual(Set(resumed.keys), Set(expected.keys))
        for (k, v) in expected { XCTAssertEqual(resumed[k], v, "\(k) differs after kill and resume") }

        // The summary reports each iteration.
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: tmp.appendingPathComponent("killed/tiny/summary.json"))) as? [[String: Any]]
        XCTAssertEqual(summary?.count, 2)
        // val/contain_eos_token: the fraction of samples that ended with a stop token, from samples.jsonl.
        let samples = try SampleRecord.read(tmp.appendingPathComponent("killed/tiny/iter-1/samples.jsonl"))
        let reasons = samples.flatMap(\.finishReasons)
        XCTAssertFalse(reasons.isEmpty)
        XCTAssertEqual(summary?.first?["containEOSToken"] as? Double,
                       Double(reasons.filter { $0 == "stop" }.count) / Double(reasons.count))

        // objective/kl: the mean over π(1)'s evaluation samples of Σ log π(1) − Σ log π0, recomputed here.
        let evalSamples = try SampleRecord.read(tmp.appendingPathComponent("killed/tiny/iter-1/eval-samples.jsonl"))
        let policy = try ChatModel(directory: tmp.appendingPathComponent("killed/tiny/iter-1/policy"))
        let initial = try ChatModel(directory: tmp.appendingPathComponent("policy"))
        var sequences: [(prompt: [Int32], response: [Int32])] = []
        var groups: [(prompt: [Int32], responses: [[Int32]])] = []
        for s in evalSamples {
            let prompt = try policy.promptTokens(s.prompt, maxTokens: 64).tokens
            sequences += s.responseTokens.map { (prompt, $0) }
            groups.append((prompt, s.responseTokens))
        }
        // The run scores each prompt once through the KV cache (recomputed here: the same bits), which
        // agrees with other call sizes (other products) and with whole-sequence forwards to rounding.
        func meanDifference(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) } / Double(a.count) }
        let now = try SequenceScoring.sharedPromptResponseLogProbs(model: policy.model, groups: groups).joined()
        let before = try SequenceScoring.sharedPromptResponseLogProbs(model: initial.model, groups: groups).joined()
        let kl = meanDifference(Array(now), Array(before))
        let reported = try XCTUnwrap(summary?.first?["klFromInitial"] as? Double)
        XCTAssertEqual(reported, kl, accuracy: 1e-12 * max(1, abs(kl)), "the run's KL, recomputed")
        let smallCalls = meanDifference(Array(try SequenceScoring.sharedPromptResponseLogProbs(model: policy.model, groups: groups, rowsPerCall: 7).joined()),
                                        Array(try SequenceScoring.sharedPromptResponseLogProbs(model: initial.model, groups: groups, rowsPerCall: 100).joined()))
        XCTAssertEqual(reported, smallCalls, accuracy: 1e-5 * max(1, abs(kl)), "other call sizes")
        let wholeNow = try SequenceScoring.responseLogProbs(model: policy.model, sequences: sequences, microBatch: 5)
        let wholeBefore = try SequenceScoring.responseLogProbs(model: initial.model, sequences: sequences, microBatch: 3)
        let wholeKL = meanDifference(wholeNow, wholeBefore)
        XCTAssertEqual(reported, wholeKL, accuracy: 1e-4 * max(1, abs(wholeKL)), "the KL of whole-sequence forwards")
        XCTAssertEqual(try SequenceScoring.responseLogProbs(model: initial.model, sequences: sequences, microBatch: 16), wholeBefore,
                       "other micro-batches, the same bits")
    }

    func testChangedRecipeIsRefusedUnlessForced() throws {
        XCTAssertEqual(try iterate(root: "r", extra: ["--iterations", "1"]).status, 0)
        try recipe(beta: 0.2).write(to: tmp.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)
        let refused = try iterate(root: "r")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("training.beta"), refused.stderr)
        XCTAssertEqual(try iterate(root: "r", extra: ["--force", "--only-iteration", "2"]).status, 0)
    }

    /// A finished stage is reused only when its output still has the recorded SHA-256: an edited
    /// pairs.jsonl or π(1) is refused naming the file, and used as it is with --force.
    func testEditedStageOutputsAreRefusedUnlessForced() throws {
        XCTAssertEqual(try iterate(root: "e", extra: ["--iterations", "1"]).status, 0)
        XCTAssertEqual(try iterate(root: "e", extra: ["--iterations", "1"]).status, 0, "unchanged outputs are reused")
        let iter = tmp.appendingPathComponent("e/tiny/iter-1")
        let pairs = iter.appendingPathComponent("pairs.jsonl")
        let original = try Data(contentsOf: pairs)
        let lines = String(decoding: original, as: UTF8.self).split(separator: "\n")
        try (lines.dropLast().joined(separator: "\n") + "\n").write(to: pairs, atomically: true, encoding: .utf8)
        let refused = try iterate(root: "e", extra: ["--iterations", "1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains(pairs.path) && refused.stderr.contains("changed since the judge stage"), refused.stderr)
        let forced = try iterate(root: "e", extra: ["--iterations", "1", "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stderr.contains("--force"), forced.stderr)
        XCTAssertEqual(try iterate(root: "e", extra: ["--iterations", "1"]).status, 0, "the new content is recorded")
        // a replaced π(1) checkpoint is refused too
        let weights = iter.appendingPathComponent("policy/model.h5")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: weights)
        let replaced = try iterate(root: "e", extra: ["--iterations", "1"])
        XCTAssertNotEqual(replaced.status, 0)
        XCTAssertTrue(replaced.stderr.contains("policy") && replaced.stderr.contains("changed since the train stage"), replaced.stderr)
    }

    func testMalformedRecipeChangesNothing() throws {
        try recipe(beta: -1).write(to: tmp.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)
        let r = try iterate(root: "bad")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("training.beta must be > 0"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("bad").path), "no run directory is created")
    }

    func testASecondDriverIsLockedOut() throws {
        let dir = tmp.appendingPathComponent("locked/tiny")
        let lock = try RunLock(directory: dir)
        let r = try iterate(root: "locked")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("another idpo process"), r.stderr)
        _ = lock
    }
}
