// `idpo demo-world` (writes the demo task's data, tokenizer and randomly initialised models) and
// `idpo demo-eval` (the oracle's view of a demo policy and a demo preference model).

import ArgumentParser
import Foundation
import Kernels
import Llama
import Pipeline
import Demo
import Support

struct DemoWorldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-world",
        abstract: "Write the demo world: sorting prompts, SFT data, preference pairs, tokenizer, initial models.",
        discussion: """
        The task: "sort: 7294" → "2479" (3–5 distinct digits); the oracle accepts only the ascending digits. Writes, all deterministic from --seed:
          world.json                 the settings
          data/sft.jsonl             chat conversations, --sft-mistake-rate of them
                                     answered wrongly (adjacent swap, unsorted, a
                                     digit missing, descending)
          data/prompts-iter{1,2,3}.jsonl
                                     disjoint TRL prompt-only splits, one per iteration
          data/eval-prompts.jsonl    held-out prompts for the oracle accuracy
          data/judge-pairs.jsonl     oracle-labelled TRL pairs (correct vs wrong)
                                     for the preference model
          data/judge-eval-pairs.jsonl
                                     held-out pairs on the evaluation prompts
          tokenizer/                 tokenizer.json (byte-level BPE),
                                     tokenizer_config.json (Llama 3 template)
          models/policy-init, models/pm-init
                                     random Llamas as Hugging Face model directories

        Example:
          idpo demo-world --out runs/demo/world
        """)

    @Option(help: "Output directory.") var out: String
    @Option(help: "Seed of everything written.") var seed: UInt64 = DemoWorldSettings().seed
    @Option(name: .customLong("prompts-per-iteration"), help: "Prompts in each iteration's split.") var promptsPerIteration = DemoWorldSettings().promptsPerIteration
    @Option(help: "Iteration splits.") var iterations = DemoWorldSettings().iterations
    @Option(name: .customLong("eval-prompts"), help: "Held-out evaluation prompts.") var evalPrompts = DemoWorldSettings().evaluationPrompts
    @Option(name: .customLong("sft-examples"), help: "SFT conversations.") var sftExamples = DemoWorldSettings().sftExamples
    @Option(name: .customLong("sft-mistake-rate"), help: "Fraction of SFT answers that are wrong.") var sftMistakeRate = DemoWorldSettings().sftMistakeRate
    @Option(name: .customLong("judge-pairs"), help: "Oracle-labelled pairs for the preference model.") var judgePairs = DemoWorldSettings().judgePairs
    @Option(name: .customLong("judge-eval-pairs"), help: "Held-out oracle-labelled pairs.") var judgeEvalPairs = DemoWorldSettings().judgeEvaluationPairs
    @Option(name: .customLong("sft-mistakes"), help: "Comma-separated mistakes of wrong SFT answers (\(SortMistake.allCases.map(\.rawValue).joined(separator: ", "))).")
    var sftMistakes: String?
    @Option(name: .customLong("judge-mistakes"), help: "Comma-separated mistakes of the judge's negatives (repeats weigh more).")
    var judgeMistakes: String?
    @Option(name: .customLong("policy-shape"), help: "Policy shape: hidden,intermediate,layers,heads,kv-heads.") var policyShape: String?
    @Option(name: .customLong("judge-shape"), help: "Preference model shape: hidden,intermediate,layers,heads,kv-heads.") var judgeShape: String?

    static func shape(_ text: String?, default fallback: DemoModelShape) throws -> DemoModelShape {
        guard let text else { return fallback }
        let v = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 5 else { throw ValidationError("a shape is five integers: hidden,intermediate,layers,heads,kv-heads (got '\(text)')") }
        var s = fallback
        s.hiddenSize = v[0]; s.intermediateSize = v[1]; s.layers = v[2]; s.heads = v[3]; s.kvHeads = v[4]
        _ = try s.config()
        return s
    }

    static func mistakes(_ text: String?, default fallback: [SortMistake]) throws -> [SortMistake] {
        guard let text else { return fallback }
        return try text.split(separator: ",").map { name in
            let n = name.trimmingCharacters(in: .whitespaces)
            guard let m = SortMistake(rawValue: n) else {
                throw ValidationError("unknown mistake '\(n)'; choose from \(SortMistake.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
    }

    var settings: DemoWorldSettings {
        get throws {
            var s = DemoWorldSettings()
            s.seed = seed; s.promptsPerIteration = promptsPerIteration; s.iterations = iterations
            s.evaluationPrompts = evalPrompts; s.sftExamples = sftExamples; s.sftMistakeRate = sftMistakeRate
            s.judgePairs = judgePairs; s.judgeEvaluationPairs = judgeEvalPairs
            s.policy = try Self.shape(policyShape, default: s.policy)
            s.judge = try Self.shape(judgeShape, default: s.judge)
            s.sftMistakes = try Self.mistakes(sftMistakes, default: s.sftMistakes)
            s.judgeMistakes = try Self.mistakes(judgeMistakes, default: s.judgeMistakes)
            return s
        }
    }

    func validate() throws {
        do { try settings.validate() } catch let e as DemoWorldError { throw ValidationError(e.message) }
    }

    func run() throws {
        let t0 = Date()
        let world = try DemoWorld(settings: try settings)
        try world.write(to: URL(fileURLWithPath: out))
        let wrong = world.sft.filter { $0.mistake != nil }.count
        print(String(format: "demo world in %.1f s → %@: %d SFT conversations (%d wrong), %d × %d iteration prompts, %d evaluation prompts, %d + %d judge pairs; vocabulary %d tokens",
                     Date().timeIntervalSince(t0), out, world.sft.count, wrong, world.iterationPrompts.count, world.settings.promptsPerIteration,
                     world.evaluationPrompts.count, world.judgeTraining.count, world.judgeEvaluation.count, DemoTokenizer.vocabularySize))
    }
}

struct DemoEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-eval",
        abstract: "Measure demo models against the sorting oracle.",
        discussion: """
        --policy: samples --k responses per held-out prompt (temperature --temperature; 0 = greedy, one response) and prints the fraction the oracle accepts, with counts by kind of mistake.

        --judge with --pairs: the pairwise preference model's agreement with the oracle on labelled pairs, with the judging procedure itself (both orders averaged). --judge with --policy also measures it on pairs made of the policy's own correct and wrong samples.

        Example:
          idpo demo-eval --policy runs/demo/sft \\
                         --prompts runs/demo/world/data/eval-prompts.jsonl \\
                         --judge runs/demo/pm \\
                         --pairs runs/demo/world/data/judge-eval-pairs.jsonl
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Policy model directory.") var policy: String?
    @Option(help: "Evaluation prompts (TRL prompt-only JSONL).") var prompts: String?
    @Option(help: "Samples per prompt.") var k: Int = 4
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Double = 1.0
    @Option(name: .customLong("max-new-tokens"), help: "Most tokens per response.") var maxNewTokens: Int = 24
    @Option(help: "Random seed of the samples.") var seed: UInt64 = 1234
    @Option(help: "Pairwise preference model directory.") var judge: String?
    @Option(help: "Labelled pairs for the judge (TRL JSONL; chosen is better).") var pairs: String?
    @Option(help: "Also write the results as JSON to this file.") var json: String?

    func validate() throws {
        guard policy != nil || judge != nil else { throw ValidationError("give --policy, --judge, or both") }
        if policy != nil && prompts == nil { throw ValidationError("--policy needs --prompts") }
        if judge != nil && pairs == nil && policy == nil { throw ValidationError("--judge needs --pairs (or --policy and --prompts)") }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
    }

    func run() throws {
        compute.apply()
        var results = DemoEvalResults()
        let judgeModel = try judge.map { try PairwiseJudge(directory: URL(fileURLWithPath: $0)) }
        if let policy, let prompts {
            let t0 = Date()
            let chat = try ChatModel(directory: URL(fileURLWithPath: policy))
            let records = try PromptFile.read(URL(fileURLWithPath: prompts))
            let r = try DemoEvaluation.policyAccuracy(policy: chat, prompts: records, samplesPerPrompt: k, temperature: temperature,
                                                      maxNewTokens: maxNewTokens, seed: seed)
            let kinds = r.verdicts.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print(String(format: "oracle accuracy %.1f%% (%d prompts × %d, temperature %g; all-correct prompts %.1f%%) in %.1f s: %@",
                         100 * r.accuracy, r.prompts, r.samples / max(1, r.prompts), temperature, 100 * r.promptsAllCorrect,
                         Date().timeIntervalSince(t0), kinds))
            results.policy = r; results.temperature = temperature
            if let judgeModel {
                // Pairs from the policy's own samples: one correct and one wrong response per prompt.
                let j = try DemoEvaluation.judgeAgreementOnOwnSamples(judge: judgeModel, policy: chat, prompts: records,
                                                                      k: max(k, 8), seed: seed, maxNewTokens: maxNewTokens)
                print(String(format: "judge agreement on the policy's own samples: %.1f%% of %d pairs", 100 * j.agreement, j.pairs) + "; by mistake: " + j.byGroupDescription)
                results.judgeOnPolicySamples = j
            }
        }
        if let judgeModel, let pairs {
            let t0 = Date()
            let r = try DemoEvaluation.judgeAgreement(judge: judgeModel, pairs: try PairRecord.read(URL(fileURLWithPath: pairs)))
            print(String(format: "judge agreement with the oracle: %.1f%% of %d pairs (chosen as A %.1f%%, as B %.1f%%; mean P %.3f) in %.1f s",
                         100 * r.agreement, r.pairs, 100 * r.agreementChosenAsA, 100 * r.agreementChosenAsB, r.meanProbability,
                         Date().timeIntervalSince(t0)))
            print("  by the rejected response's mistake: " + r.byGroupDescription)
            results.judge = r
        }
        if let json {
            try AtomicFile.write(try JSONFormat.pretty(results), to: URL(fileURLWithPath: json))
        }
    }
}

/// `idpo demo-eval --json`: the policy's oracle accuracy and the judge's agreement, as measured.
struct DemoEvalResults: Encodable {
    var policy: DemoEvaluation.PolicyReport?
    var temperature: Double?
    var judgeOnPolicySamples: JudgeAgreement?
    var judge: JudgeAgreement?
    enum CodingKeys: String, CodingKey { case policy, temperature, judge, judgeOnPolicySamples = "judge_on_policy_samples" }
}

extension JudgeAgreement {
    /// "missing-digit 93.1% of 58, …": agreement per group, groups in name order.
    var byGroupDescription: String {
        byGroup.sorted { $0.key < $1.key }
            .map { String(format: "%@ %.1f%% of %d", $0.key, 100 * Double($0.value[0]) / Double(max(1, $0.value[1])), $0.value[1]) }
            .joined(separator: ", ")
    }
}
