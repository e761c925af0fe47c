// End to end through `idpo iterate`'s library entry (RunDriver) with every kind of judge and the
// losses that need targets: a scalar reward model (ranking by scores), a general preference model
// with the GPO loss, a pairwise model in round robin with the SPPO loss, and `reference: previous`
// against `reference: initial` over two iterations. Outputs are read back from disk as plain JSON
// (TestJSON, exact numbers), and the step-1 losses are recomputed here from the loss definitions.

import XCTest
import Foundation
import Kernels
import Llama
import Checkpoints
@testable import Pipeline
import TestSupport

final class JudgeKindsIterateTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        Parallel.setThreads(2)
        tmp = try TinyModels.temporaryDirectory("judge-kinds")
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 1)
        let words = ["red", "blue", "green", "two", "three", "sort", "count", "name", "say", "add", "one", "four"]
        let prompts = (0..<8).map { i in #"{"prompt": [{"role": "user", "content": "\#(words[i % 12]) \#(words[(i * 5) % 12]) \#(i)"}]}"# }
        try (prompts.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
    }
    override func tearDownWithError() throws { if let tmp { try? FileManager.default.removeItem(at: tmp) } }

    // MARK: helpers

    /// A tiny Llama backbone with a head tensor (`score.weight` [1, 64] for a reward model,
    /// `value_head.weight` [d, 64] for a GPM) beside it in model.safetensors, random values.
    func makeHeadModel(_ name: String, seed: UInt64, head: String, rows: Int) throws {
        let dir = tmp.appendingPathComponent(name)
        try TinyModels.make(at: dir, seed: seed, layers: 1)
        let model = try ModelDirectory.load(dir)
        var random = TestRandom(seed: seed &+ 1000)
        let weights = random.gaussian(rows * model.config.hiddenSize, std: 0.5)
        try withExtendedLifetime(model) {
            var tensors = model.layout.entries.filter { $0.name != "lm_head.weight" }.map {
                SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: model.parameters.pointer + $0.offset)
            }
            try weights.withUnsafeBufferPointer { w in
                tensors.append(.init(name: head, shape: [rows, model.config.hiddenSize], data: w.baseAddress!))
                try SafetensorsWriter.write(tensors, dtype: .f32, to: dir.appendingPathComponent("model.safetensors"))
            }
        }
    }

    /// Writes the recipe and runs it to the end in this process; returns the run directory.
    @discardableResult
    func iterate(_ yaml: String, file: String = "recipe.yaml") throws -> URL {
        let url = tmp.appendingPathComponent(file)
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        let driver = try RunDriver(recipe: try Recipe.load(url: url))
        driver.quiet = true
        try driver.run()
        return driver.directory
    }

    func recipe(name: String, judge: String, loss: String = "sigmoid", beta: Double = 0.1, iterations: Int = 1,
                reference: String = "initial", epochs: Int = 2, optimizer: String = "adamw", learningRate: String = "1.0e-3") -> String {
        """
        run: {name: \(name), output_root: out, seed: 7}
        policy: policy
        reference: \(reference)
        judge: \(judge)
        prompts: {file: prompts.jsonl, max_prompt_tokens: 64}
        iterations: \(iterations)
        generation: {k: 4, max_new_tokens: 6}
        training:
          loss: \(loss)
          beta: \(beta)
          optimizer: \(optimizer)
          learning_rate: \(learningRate)
          batch_size: 16          # every pair in each step: step 1 covers all of them
          micro_batch_size: 4
          epochs: \(epochs)
          max_length: 128         # nothing is cut
          max_prompt_length: 64
          save_interval_seconds: 0
        """
    }

    // Exact numbers (JSONSerialization reads decimals inexactly on Linux: see TestJSON).
    func jsonLines(_ url: URL) throws -> [[String: Any]] { try TestJSON.lines(url) }
    func doubles(_ value: Any?) -> [Double]? { TestJSON.doubles(value) }
    func double(_ value: Any?) -> Double? { TestJSON.double(value) }

    /// Step lines of metrics.jsonl (the last line is the summary).
    func steps(_ iteration: URL) throws -> [[String: Any]] {
        try jsonLines(iteration.appendingPathComponent("metrics.jsonl")).filter { $0["step"] != nil }
    }
    func metricsSummary(_ iteration: URL) throws -> [String: Any] {
        try XCTUnwrap(try jsonLines(iteration.appendingPathComponent("metrics.jsonl")).last { $0["summary"] as? Bool == true })
    }
    func summary(_ run: URL) throws -> [[String: Any]] {
        try XCTUnwrap(try TestJSON.read(run.appendingPathComponent("summary.json")) as? [[String: Any]])
    }

    /// Pairs against their judgment lines: chosen is the argmax and rejected the argmin of the
    /// judge's scores, the rewards are those scores, the texts are those responses; every prompt is
    /// either a pair or a recorded drop. Returns the pairs and judgments by id.
    func checkBestVsWorst(_ iteration: URL, prompts: Int, file: StaticString = #filePath, line: UInt = #line) throws
        -> (pairs: [[String: Any]], judgments: [Int: [String: Any]]) {
        let judgments = try jsonLines(iteration.appendingPathComponent("judgments.jsonl"))
        XCTAssertEqual(judgments.count, prompts, file: file, line: line)
        let byID = Dictionary(uniqueKeysWithValues: judgments.map { ($0["id"] as! Int, $0) })
        let pairs = try jsonLines(iteration.appendingPathComponent("pairs.jsonl"))
        XCTAssertFalse(pairs.isEmpty, "no pairs kept", file: file, line: line)
        XCTAssertEqual(pairs.count + judgments.filter { $0["drop_reason"] != nil }.count, prompts, file: file, line: line)
        for p in pairs {
            let id = try XCTUnwrap(p["id"] as? Int)
            let j = try XCTUnwrap(byID[id])
            let scores = try XCTUnwrap(doubles(j["scores"]), "judgment \(id) has no scores")
            let responses = try XCTUnwrap(j["responses"] as? [String])
            XCTAssertEqual(scores.count, 4, file: file, line: line)
            XCTAssertEqual(doubles(p["scores"]), scores, "the pair carries the judge's scores", file: file, line: line)
            let c = try XCTUnwrap(p["chosen_index"] as? Int), r = try XCTUnwrap(p["rejected_index"] as? Int)
            XCTAssertEqual(scores[c], scores.max(), "pair \(id): chosen is the best-scored response", file: file, line: line)
            XCTAssertEqual(scores[r], scores.min(), "pair \(id): rejected is the worst-scored response", file: file, line: line)
            XCTAssertLessThan(scores[r], scores[c], file: file, line: line)
            XCTAssertEqual(double(p["chosen_reward"]), scores[c], file: file, line: line)
            XCTAssertEqual(double(p["rejected_reward"]), scores[r], file: file, line: line)
            XCTAssertEqual(double(p["margin"]), scores[c] - scores[r], file: file, line: line)
            XCTAssertEqual(((p["chosen"] as? [[String: String]])?.first?["content"]), responses[c], file: file, line: line)
            XCTAssertEqual(((p["rejected"] as? [[String: String]])?.first?["content"]), responses[r], file: file, line: line)
        }
        return (pairs, byID)
    }

    /// summary.json's figures for iteration `t` agree with the files they summarise.
    func checkSummary(_ run: URL, iteration t: Int, pairs: [[String: Any]], prompts: Int,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let s = try XCTUnwrap(try summary(run).first { $0["iteration"] as? Int == t }, file: file, line: line)
        XCTAssertEqual(s["prompts"] as? Int, prompts, file: file, line: line)
        XCTAssertEqual(s["pairs"] as? Int, pairs.count, file: file, line: line)
        XCTAssertEqual(s["dropped"] as? Int, prompts - pairs.count, file: file, line: line)
        let margins = pairs.compactMap { double($0["margin"]) }
        XCTAssertEqual(margins.count, pairs.count, file: file, line: line)
        XCTAssertEqual(try XCTUnwrap(double(s["meanMargin"]), file: file, line: line), margins.reduce(0, +) / Double(margins.count),
                       accuracy: 1e-12, file: file, line: line)
        let last = try XCTUnwrap(try steps(run.appendingPathComponent("iter-\(t)")).last, file: file, line: line)
        XCTAssertEqual(double(s["finalLoss"]), double(last["loss"]), file: file, line: line)
        XCTAssertEqual(double(s["finalRewardAccuracy"]), double(last["rewards/accuracies"]), file: file, line: line)
    }

    /// Step 1 trains every pair (batch ≥ pairs, none skipped) at policy == reference.
    func firstStepAtReference(_ iteration: URL, pairs: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let summary = try metricsSummary(iteration)
        XCTAssertEqual(summary["pairs"] as? Int, pairs, file: file, line: line)
        XCTAssertEqual(summary["pairs_skipped_identical"] as? Int, 0, file: file, line: line)
        XCTAssertEqual(summary["responses_truncated"] as? Int, 0, file: file, line: line)
        let all = try steps(iteration)
        XCTAssertEqual(all.count, 2, "2 epochs of one step each", file: file, line: line)
        let first = try XCTUnwrap(all.first)
        XCTAssertEqual(first["pairs"] as? Int, pairs, file: file, line: line)
        XCTAssertEqual(double(first["rewards/chosen"]), 0, "policy == reference at step 1", file: file, line: line)
        XCTAssertEqual(double(first["rewards/rejected"]), 0, file: file, line: line)
        XCTAssertTrue(FileManager.default.fileExists(atPath: iteration.appendingPathComponent("policy/model.h5").path), file: file, line: line)
        return first
    }

    // MARK: reward model

    func testRewardModelJudgeRanksByScoresAndTrains() throws {
        try makeHeadModel("rm", seed: 2, head: "score.weight", rows: 1)
        let run = try iterate(recipe(name: "rm", judge: "{model: rm, kind: reward, ranking: scores}"))
        let iter = run.appendingPathComponent("iter-1")
        let (pairs, judgments) = try checkBestVsWorst(iter, prompts: 8)
        for (_, j) in judgments {
            XCTAssertEqual(j["ranking"] as? String, "scores")
            XCTAssertEqual((j["comparisons"] as? [Any])?.count, 0, "a reward model compares nothing")
            XCTAssertNil(j["targets"])
            // a scalar reward: the same response text of a prompt gets the same score
            let responses = j["responses"] as! [String], scores = doubles(j["scores"])!
            for a in 0..<4 { for b in 0..<4 where responses[a] == responses[b] { XCTAssertEqual(scores[a], scores[b]) } }
        }
        XCTAssertGreaterThan(Set(judgments.values.flatMap { doubles($0["scores"])! }).count, 8, "the scores vary")
        XCTAssertTrue(pairs.allSatisfy { $0["chosen_target"] == nil && $0["rejected_target"] == nil })
        try checkSummary(run, iteration: 1, pairs: pairs, prompts: 8)
        let first = try firstStepAtReference(iter, pairs: pairs.count)
        XCTAssertEqual(double(first["loss"]), log(2.0), "DPO at policy == reference")
    }

    // MARK: GPM + GPO

    func testGeneralPreferenceJudgeGivesGPOTargetsAndTheFirstLossIsTheFormula() throws {
        try makeHeadModel("gpm", seed: 3, head: "value_head.weight", rows: 4)
        let beta = 0.5
        let run = try iterate(recipe(name: "gpm", judge: "{model: gpm, kind: gpm}", loss: "gpo", beta: beta, optimizer: "sgd"))
        let iter = run.appendingPathComponent("iter-1")
        let (pairs, judgments) = try checkBestVsWorst(iter, prompts: 8)
        for (id, j) in judgments {
            // P(i ≻ j) = σ(s_ij / τ) with s skew-symmetric: P_ii = ½, P_ij + P_ji = 1; the score and
            // the GPO target of response i are mean_j s_ij / τ = mean_j logit(P_ij) (τ cancels).
            let P = try XCTUnwrap((j["probability_matrix"] as? [Any])?.compactMap(doubles), "judgment \(id)")
            XCTAssertEqual(P.count, 4)
            let scores = try XCTUnwrap(doubles(j["scores"])), targets = try XCTUnwrap(doubles(j["targets"]))
            XCTAssertEqual(targets, scores, "GPO targets are the ranking scores")
            for a in 0..<4 {
                XCTAssertEqual(P[a][a], 0.5, accuracy: 1e-12)
                for b in 0..<4 { XCTAssertEqual(P[a][b] + P[b][a], 1, accuracy: 1e-12) }
                let g = (0..<4).map { b in log(P[a][b] / (1 - P[a][b])) }.reduce(0, +) / 4
                XCTAssertEqual(scores[a], g, accuracy: 1e-9 * max(1, abs(g)), "judgment \(id), response \(a)")
            }
        }
        try checkSummary(run, iteration: 1, pairs: pairs, prompts: 8)
        // the manifest records how the GPM read its input (the default convention: GPO's ranker)
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: run.appendingPathComponent("manifest.json")))
        XCTAssertTrue(manifest.judgeInput?.hasPrefix("gpm: input ranker") == true, manifest.judgeInput ?? "none")
        XCTAssertTrue(manifest.judgeInput?.contains("d = 4, no prompt head") == true, manifest.judgeInput ?? "none")
        // pairs carry the targets of their two responses
        var expected = 0.0
        let η = 1 / beta
        for p in pairs {
            let j = judgments[p["id"] as! Int]!
            let targets = doubles(j["targets"])!
            let tw = try XCTUnwrap(double(p["chosen_target"])), tl = try XCTUnwrap(double(p["rejected_target"]))
            XCTAssertEqual(tw, targets[p["chosen_index"] as! Int])
            XCTAssertEqual(tl, targets[p["rejected_index"] as! Int])
            // GPO at a = b = 0: ½[(0 − η·clamp(ĝ_w))² + (0 − η·clamp(ĝ_l))²], clamp ±1000
            let cw = η * min(max(tw, -1000), 1000), cl = η * min(max(tl, -1000), 1000)
            expected += 0.5 * (cw * cw + cl * cl)
        }
        expected /= Double(pairs.count)
        let first = try firstStepAtReference(iter, pairs: pairs.count)
        let loss = try XCTUnwrap(double(first["loss"]))
        XCTAssertEqual(loss, expected, accuracy: 1e-12 * expected)
        XCTAssertNotEqual(loss, log(2.0))
        XCTAssertLessThan(try XCTUnwrap(double(try steps(iter).last?["loss"])), loss, "the step moves toward the targets")
    }

    // MARK: pairwise round robin + SPPO

    func testRoundRobinGivesSPPOTargetsAndTheFirstLossIsTheFormula() throws {
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let beta = 0.5
        let run = try iterate(recipe(name: "sppo", judge: "{model: pm, kind: pairwise, ranking: round-robin}", loss: "sppo", beta: beta, optimizer: "sgd",
                                    learningRate: "1.0e-5"))   // the targets are near 0 here: a larger step overshoots them
        let iter = run.appendingPathComponent("iter-1")
        let judgments = try jsonLines(iter.appendingPathComponent("judgments.jsonl"))
        XCTAssertEqual(judgments.count, 8)
        let byID = Dictionary(uniqueKeysWithValues: judgments.map { ($0["id"] as! Int, $0) })
        for j in judgments {
            XCTAssertEqual(j["ranking"] as? String, "round-robin")
            let P = try XCTUnwrap((j["probability_matrix"] as? [Any])?.compactMap(doubles))
            let comparisons = try XCTUnwrap(j["comparisons"] as? [[String: Any]])
            XCTAssertEqual(comparisons.count, 6, "round robin: all k(k−1)/2 pairs")
            for c in comparisons {
                let f = c["first"] as! Int, s = c["second"] as! Int
                XCTAssertEqual(P[f][s], try XCTUnwrap(double(c["p_first_better"])), accuracy: 1e-12)
                XCTAssertEqual(P[s][f], 1 - P[f][s], accuracy: 1e-12)
            }
            // SPPO: p̂_i = mean over all k of P(y_i ≻ y_j), self included (P_ii = ½)
            let targets = try XCTUnwrap(doubles(j["targets"]))
            for a in 0..<4 {
                XCTAssertEqual(P[a][a], 0.5)
                XCTAssertEqual(targets[a], P[a].reduce(0, +) / 4, accuracy: 1e-12)
            }
        }
        let pairs = try jsonLines(iter.appendingPathComponent("pairs.jsonl"))
        XCTAssertFalse(pairs.isEmpty)
        var expected = 0.0
        let η = 1 / beta
        for p in pairs {
            let j = try XCTUnwrap(byID[p["id"] as! Int])
            let targets = doubles(j["targets"])!
            let c = p["chosen_index"] as! Int, r = p["rejected_index"] as! Int
            let tw = try XCTUnwrap(double(p["chosen_target"])), tl = try XCTUnwrap(double(p["rejected_target"]))
            XCTAssertEqual(tw, targets[c]); XCTAssertEqual(tl, targets[r])
            // best vs worst by win counts (the round robin's scores)
            let wins = try XCTUnwrap(doubles(j["scores"]))
            XCTAssertEqual(wins.reduce(0, +), 2, accuracy: 1e-12, "win rates: one win per comparison (ties split) over k − 1 = 3 each")
            XCTAssertEqual(wins[c], wins.max()); XCTAssertEqual(wins[r], wins.min())
            XCTAssertEqual(double(p["chosen_reward"]), wins[c]); XCTAssertEqual(double(p["rejected_reward"]), wins[r])
            // SPPO at a = b = 0: ½[(0 − η(p̂_w − ½))² + (0 − η(p̂_l − ½))²]
            let rw = η * (tw - 0.5), rl = η * (tl - 0.5)
            expected += 0.5 * (rw * rw + rl * rl)
        }
        expected /= Double(pairs.count)
        let first = try firstStepAtReference(iter, pairs: pairs.count)
        let loss = try XCTUnwrap(double(first["loss"]))
        XCTAssertEqual(loss, expected, accuracy: 1e-12 * expected)
        XCTAssertNotEqual(loss, log(2.0))
        XCTAssertLessThan(try XCTUnwrap(double(try steps(iter).last?["loss"])), loss, "the step moves toward the targets")
        try checkSummaryCounts(run, pairs: pairs.count, prompts: 8)
    }

    func checkSummaryCounts(_ run: URL, pairs: Int, prompts: Int) throws {
        let s = try XCTUnwrap(try summary(run).first)
        XCTAssertEqual(s["prompts"] as? Int, prompts)
        XCTAssertEqual(s["pairs"] as? Int, pairs)
    }

    // MARK: reference: previous

    /// With `reference: previous`, iteration 2's reference is π(1) — the policy it starts from — so its
    /// first loss is ln 2 exactly and its cache names iter-1/policy; with `reference: initial` it is π0
    /// and the first loss of iteration 2 is not ln 2. Iteration 1 and iteration 2's pairs do not depend
    /// on the choice.
    func testReferencePreviousUsesTheLastPolicyInIterationTwo() throws {
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let judge = "{model: pm, kind: pairwise, ranking: knockout}"
        let previous = try iterate(recipe(name: "previous", judge: judge, iterations: 2, reference: "previous"), file: "previous.yaml")
        let initial = try iterate(recipe(name: "initial", judge: judge, iterations: 2, reference: "initial"), file: "initial.yaml")
        func data(_ run: URL, _ path: String) throws -> Data { try Data(contentsOf: run.appendingPathComponent(path)) }
        for f in ["iter-1/pairs.jsonl", "iter-1/reference-logps.jsonl", "iter-1/metrics.jsonl", "iter-1/policy/model.h5", "iter-2/pairs.jsonl"] {
            XCTAssertEqual(try data(previous, f), try data(initial, f), "\(f) does not depend on the reference choice")
        }
        func cacheHeader(_ run: URL, _ t: Int) throws -> [String: Any] {
            try XCTUnwrap(try jsonLines(run.appendingPathComponent("iter-\(t)/reference-logps.jsonl")).first)
        }
        func same(_ a: Any?, _ b: URL) -> Bool {
            guard let a = a as? String else { return false }
            return URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path
        }
        let pi0 = tmp.appendingPathComponent("policy")
        let headers = try [(previous, 1), (previous, 2), (initial, 2)].map { try cacheHeader($0.0, $0.1) }
        XCTAssertTrue(same(headers[0]["reference"], pi0), "\(headers[0])")
        XCTAssertTrue(same(headers[1]["reference"], previous.appendingPathComponent("iter-1/policy")), "iteration 2 of reference: previous is scored by π(1): \(headers[1])")
        XCTAssertTrue(same(headers[2]["reference"], pi0), "iteration 2 of reference: initial is scored by π0: \(headers[2])")
        // iteration 1: π0 against π0 in both runs
        for run in [previous, initial] { XCTAssertEqual(double(try steps(run.appendingPathComponent("iter-1")).first?["loss"]), log(2.0)) }
        // iteration 2 starts from π(1): against π(1) the first loss is ln 2 and the rewards 0 …
        let p2 = try XCTUnwrap(try steps(previous.appendingPathComponent("iter-2")).first)
        XCTAssertEqual(double(p2["loss"]), log(2.0))
        XCTAssertEqual(double(p2["rewards/chosen"]), 0)
        XCTAssertEqual(double(p2["rewards/rejected"]), 0)
        // … against π0 it is not: π(1) has moved away from π0
        let i2 = try XCTUnwrap(try steps(initial.appendingPathComponent("iter-2")).first)
        XCTAssertGreaterThan(abs(try XCTUnwrap(double(i2["loss"])) - log(2.0)), 1e-6, "\(i2)")
        XCTAssertNotEqual(double(i2["rewards/chosen"]), 0)
        // the same iteration-2 pairs, scored by different references
        let refs = try [previous, initial].map { try jsonLines($0.appendingPathComponent("iter-2/reference-logps.jsonl")).dropFirst().map { double($0["chosen_logp"])! } }
        XCTAssertEqual(refs[0].count, refs[1].count)
        XCTAssertNotEqual(refs[0], refs[1])
        // π(1)'s log-probs of the iteration-2 pairs are what iteration 2's policy computes at step 1
        XCTAssertEqual(double(p2["logps/chosen"])!, refs[0].reduce(0, +) / Double(refs[0].count), accuracy: 1e-9 * max(1, abs(refs[0][0])))
    }
}

extension JudgeKindsIterateTests {
    // MARK: a program judge

    /// `judge: {kind: command, command: [...]}`: a program in the recipe's folder scores every
    /// response from the sample records on its stdin (here, from each record's id: [id, id + 2,
    /// id − 1, id + 1], so response 1 is the best and 2 the worst), once per batch of prompts, and the
    /// pairs, rewards and training follow from those scores.
    func testCommandJudgeScoresWithAProgramAndTrains() throws {
        let script = #"""
        echo run >> runs.log
        awk '{ match($0, /"id":[0-9]+/); id = substr($0, RSTART + 5, RLENGTH - 5) + 0; print "[" id ", " id + 2 ", " id - 1 ", " id + 1 "]" }'
        """#
        try script.write(to: tmp.appendingPathComponent("score.sh"), atomically: true, encoding: .utf8)
        let run = try iterate(recipe(name: "command", judge: "{kind: command, command: [sh, score.sh]}"))
        let iter = run.appendingPathComponent("iter-1")
        let (pairs, judgments) = try checkBestVsWorst(iter, prompts: 8)
        XCTAssertEqual(pairs.count, 8)
        for (id, j) in judgments {
            let x = Double(id)
            XCTAssertEqual(doubles(j["scores"]), [x, x + 2, x - 1, x + 1], "prompt \(id): the program's scores")
        }
        XCTAssertTrue(pairs.allSatisfy { $0["chosen_index"] as? Int == 1 && $0["rejected_index"] as? Int == 2 })
        let runs = try String(contentsOf: tmp.appendingPathComponent("runs.log"), encoding: .utf8)
        XCTAssertEqual(runs, "run\n", "one program run for the stage's one batch of 8 prompts")
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: run.appendingPathComponent("manifest.json")))
        XCTAssertTrue(manifest.judgeInput?.hasPrefix("command: sh score.sh") == true, manifest.judgeInput ?? "none")
        try checkSummary(run, iteration: 1, pairs: pairs, prompts: 8)
    }
}
