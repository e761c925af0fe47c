// The three stages of an iteration on files — generate, judge, train — shared by the single-stage
// commands (`idpo generate`, `idpo judge`, `idpo train`) and the iterative driver. Generation and
// judging write their output in batches of prompts (`<out>.parts/`), so an interrupted stage
// resumes at the first missing batch and ends byte-identical to an uninterrupted one.

import Foundation
import Kernels
import Llama
import Checkpoints
import Generation
import Preference
import Optimization
import Support

public struct GenerationStageSettings: Sendable {
    public var samplesPerPrompt = 8
    public var sampling = SamplingParameters()
    public var maxNewTokens = 256
    public var maxPromptTokens = 1024
    public var seed: UInt64 = 42
    /// Prompts per resumable batch (default: enough prompts to fill the decoder's
    /// `SmallMatmul.maxRows` rows with their k samples, at least 16). Samples do not depend on it.
    public var batchPrompts: Int?
    var promptsPerBatch: Int { batchPrompts ?? max(16, SmallMatmul.maxRows / max(1, samplesPerPrompt)) }
    public init() {}
}

/// Output written in batches under `<out>.parts/part-NNNNN.jsonl`, concatenated into `out` at the end.
struct BatchedOutput {
    let out: URL
    init(out: URL) {
        self.out = out
        // Temporaries an interrupted run left beside the output or among its parts.
        _ = AtomicFile.removeStaleTemporaries(in: out.deletingLastPathComponent(), recursive: false)
        _ = AtomicFile.removeStaleTemporaries(in: URL(fileURLWithPath: out.path + ".parts"), recursive: false)
    }
    var parts: URL { URL(fileURLWithPath: out.path + ".parts") }
    func part(_ i: Int) -> URL { parts.appendingPathComponent(String(format: "part-%05d.jsonl", i)) }
    func has(_ i: Int) -> Bool { FileManager.default.fileExists(atPath: part(i).path) }
    func write<T: Encodable>(_ i: Int, _ records: [T]) throws {
        try FileManager.default.createDirectory(at: parts, withIntermediateDirectories: true)
        try JSONLines.write(records, to: part(i))
    }
    func finish(batches: Int) throws {
        var all = Data()
        for i in 0..<batches { all.append(try Data(contentsOf: part(i))) }
        try AtomicFile.write(all, to: out)
        try? FileManager.default.removeItem(at: parts)
    }
}

public enum Stages {
    /// Fraction of all samples whose finish reason is a stop token ("stop"), or nil without samples
    /// that record one (TRL's val/contain_eos_token).
    public static func stoppedFraction(_ samples: [SampleRecord]) -> Double? {
        let reasons = samples.flatMap(\.finishReasons)
        guard !reasons.isEmpty else { return nil }
        return Double(reasons.filter { $0 == FinishReason.stop.rawValue }.count) / Double(reasons.count)
    }

    /// Samples k responses per prompt with the policy; writes RLHFlow-style JSONL to `out`.
    @discardableResult
    public static func generate(policy: ChatModel, prompts: [PromptRecord], settings s: GenerationStageSettings,
                                out: URL, quiet: Bool = false) throws -> [SampleRecord] {
        let output = BatchedOutput(out: out)
        let limit = min(s.maxPromptTokens, policy.model.config.maxPositionEmbeddings - s.maxNewTokens)
        guard limit >= 1 else {
            throw ChatModelError("max_new_tokens \(s.maxNewTokens) leaves no room for a prompt in max_position_embeddings \(policy.model.config.maxPositionEmbeddings)")
        }
        let perBatch = s.promptsPerBatch
        let batches = (prompts.count + perBatch - 1) / perBatch
        let bar = quiet ? nil : ProgressBar("generate", total: prompts.count, unit: "prompts")
        let generator = Generator(model: policy.model)
        let settings = GenerationSettings(samplesPerPrompt: s.samplesPerPrompt, maxNewTokens: s.maxNewTokens, sampling: s.sampling,
                                          stopTokens: policy.stopTokens, seed: s.seed)
        if !quiet {
            note("generate memory plan (prompts up to \(limit) tokens): \(Generator.memoryPlan(config: policy.model.config, longestPrompt: limit, requests: min(perBatch, prompts.count), settings: settings, weightBytes: policy.model.weightBytes))")
        }
        var truncatedPrompts = 0
        var tokens = 0
        for b in 0..<batches where !output.has(b) {
            let chunk = Array(prompts[(b * perBatch)..<min(prompts.count, (b + 1) * perBatch)])
            var requests: [GenerationRequest] = [], cut: [Int] = []
            for p in chunk {
                let (ids, truncated) = try policy.promptTokens(p.prompt, maxTokens: limit)
                if truncated > 0 { truncatedPrompts += 1 }
                requests.append(GenerationRequest(id: p.id, tokens: ids)); cut.append(truncated)
            }
            let results = try generator.generate(requests, settings: settings) { _, samples in
                tokens += samples.reduce(0) { $0 + $1.tokens.count }
                bar?.update((bar?.done ?? 0) + 1, extra: "\(tokens) tokens")
            }
            let records = try zip(chunk, results).enumerated().map { i, pr in
                SampleRecord(id: pr.0.id, prompt: pr.0.prompt,
                             responses: try pr.1.map { try policy.tokenizer.decode($0.tokens.filter(policy.tokenizer.isKnownId), skipSpecialTokens: true) },
                             responseTokens: pr.1.map(\.tokens), finishReasons: pr.1.map(\.finishReason.rawValue),
                             promptTokensTruncated: cut[i])
            }
            try output.write(b, records)
            FaultInjection.checkpoint("generate-part")
        }
        bar?.update(prompts.count)
        if truncatedPrompts > 0 { warn("\(truncatedPrompts) prompt(s) were longer than \(limit) tokens and kept their last \(limit) tokens") }
        try output.finish(batches: batches)
        return try SampleRecord.read(out)
    }

    /// The generation stage through a remote engine (`RemoteCompletions`): prompts rendered, cut and
    /// tokenized as `generate` does, k samples per prompt with a seed derived from the stage's seed and
    /// the prompt id, up to `max_concurrency` requests at once, written by resumable batch in the same
    /// samples format.
    @discardableResult
    public static func generateRemote(policy: PolicyText, engine: RemoteCompletions, prompts: [PromptRecord],
                                      settings s: GenerationStageSettings, out: URL, quiet: Bool = false) throws -> [SampleRecord] {
        let output = BatchedOutput(out: out)
        let limit = min(s.maxPromptTokens, policy.config.maxPositionEmbeddings - s.maxNewTokens)
        guard limit >= 1 else {
            throw ChatModelError("max_new_tokens \(s.maxNewTokens) leaves no room for a prompt in max_position_embeddings \(policy.config.maxPositionEmbeddings)")
        }
        let perBatch = max(16, engine.settings.maxConcurrency)
        let batches = (prompts.count + perBatch - 1) / perBatch
        let bar = quiet ? nil : ProgressBar("generate", total: prompts.count, unit: "prompts")
        if !quiet { note("generate: \(engine.url.absoluteString) (\(engine.settings.server.rawValue)), up to \(engine.settings.maxConcurrency) requests at once") }
        let stops = policy.stopTokens.sorted()
        var truncatedPrompts = 0, retokenized = 0
        for b in 0..<batches where !output.has(b) {
            let chunk = Array(prompts[(b * perBatch)..<min(prompts.count, (b + 1) * perBatch)])
            var inputs: [(ids: [Int32], cut: Int)] = []
            for p in chunk {
                let (ids, cut) = try policy.promptTokens(p.prompt, maxTokens: limit)
                if cut > 0 { truncatedPrompts += 1 }
                inputs.append((ids, cut))
            }
            nonisolated(unsafe) var results = [Result<RemoteSamples, Error>?](repeating: nil, count: chunk.count)
            let gate = DispatchSemaphore(value: max(1, engine.settings.maxConcurrency)), group = DispatchGroup(), lock = NSLock()
            for (i, p) in chunk.enumerated() {
                gate.wait(); group.enter()
                let seed = (s.seed ^ UInt64(bitPattern: Int64(p.id)) &* 0x9E37_79B9_7F4A_7C15) >> 1
                DispatchQueue.global().async {
                    let r = Result { try engine.sample(promptID: p.id, prompt: inputs[i].ids, k: s.samplesPerPrompt, maxNewTokens: s.maxNewTokens,
                                                       sampling: s.sampling, seed: seed, stopTokens: stops, tokenizer: policy.tokenizer) }
                    lock.lock(); results[i] = r; lock.unlock()
                    gate.signal(); group.leave()
                }
            }
            group.wait()
            var records: [SampleRecord] = []
            for (i, p) in chunk.enumerated() {
                let samples = try results[i]!.get()
                var record = SampleRecord(id: p.id, prompt: p.prompt, responses: samples.texts, responseTokens: samples.tokens,
                                          finishReasons: samples.finishReasons, promptTokensTruncated: inputs[i].cut)
                record.responseTokensRetokenized = samples.retokenized
                if samples.retokenized { retokenized += 1 }
                records.append(record)
            }
            bar?.update(min(prompts.count, (b + 1) * perBatch))
            try output.write(b, records)
            FaultInjection.checkpoint("generate-part")
        }
        bar?.update(prompts.count)
        if truncatedPrompts > 0 { warn("\(truncatedPrompts) prompt(s) were longer than \(limit) tokens and kept their last \(limit) tokens") }
        if retokenized > 0 { warn("\(retokenized) prompt(s): the server returned text only; their response tokens are re-tokenized (response_tokens_retokenized in the samples file)") }
        try output.finish(batches: batches)
        return try SampleRecord.read(out)
    }

    public struct JudgeSummary: Codable, Equatable, Sendable {
        public var prompts = 0
        public var pairs = 0
        public var dropped = 0
        /// Dropped prompts per reason (`DropReason.Kind`'s text).
        public var dropReasons: [String: Int] = [:]
        /// The first few dropped prompts with their full reason and figure ("prompt 12: final check
        /// failed: P(best ≻ worst) = 0.4731"), for the terminal and events.log.
        public var dropExamples: [String]? = nil
        public var comparisons = 0
        /// Mean over pairs of the judge's P(chosen ≻ rejected) from its own comparisons (pairwise
        /// judges; nil when no pair has one).
        public var meanChosenProbability: Double?
        public var tokensComputed = 0
        public var tokensNaive = 0

        /// "3 dropped (final check failed: 2, all responses scored equal: 1)".
        public var droppedText: String {
            let reasons = dropReasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "\(dropped) dropped" + (reasons.isEmpty ? "" : " (\(reasons))")
        }
    }

    /// Ranks every prompt's responses, writes judgments (every comparison recorded) and TRL pairs.
    @discardableResult
    public static func judge(judge: any Judge, samples: [SampleRecord], method: RankingMethod, selection: PairSelection,
                             lengthPenalty: Double = 0, seed: UInt64 = 42, iteration: Int = 0,
                             judgmentsOut: URL, pairsOut: URL, batchPrompts: Int = 16, quiet: Bool = false,
                             samplesFile: String = "the samples") throws -> JudgeSummary {
        if selection.needsScores && (method == .knockout || method == .kingOfTheHill) {
            throw PairSelectionError.needsScores(selection, method)
        }
        let output = BatchedOutput(out: judgmentsOut)
        let batches = (samples.count + batchPrompts - 1) / batchPrompts
        let bar = quiet ? nil : ProgressBar("judge", total: samples.count, unit: "prompts")
        for b in 0..<batches where !output.has(b) {
            var records: [JudgmentRecord] = []
            let batch = Array(samples[(b * batchPrompts)..<min(samples.count, (b + 1) * batchPrompts)])
            try judge.prefetch(batch)
            for (offset, sample) in batch.enumerated() {
                let judged: JudgedPrompt
                do { judged = try judge.judge(messages: sample.prompt.messages, responses: sample.responses, method: method) } catch {
                    throw JudgeError("judging prompt \(sample.id) of \(samplesFile): \(error)")
                }
                var rng = SplitMix64(seed: seed ^ UInt64(bitPattern: Int64(sample.id)) &* 0x9E37_79B9_7F4A_7C15)
                let lengths = sample.responseTokens.isEmpty ? sample.responses.map(\.count) : sample.responseTokens.map(\.count)
                let (pair, reason) = try selection.select(judged.ranking, lengths: lengths, lambda: lengthPenalty, rng: &rng)
                let r = judged.ranking
                records.append(JudgmentRecord(id: sample.id, prompt: sample.prompt, responses: sample.responses, ranking: r.method,
                                              comparisons: r.comparisons, scores: r.scores, targets: judged.targets,
                                              probabilityMatrix: r.probabilityMatrix, best: r.best, worst: r.worst,
                                              chosenIndex: pair?.chosen, rejectedIndex: pair?.rejected,
                                              chosenScore: pair?.chosenScore, rejectedScore: pair?.rejectedScore,
                                              dropReason: pair == nil ? (reason ?? .bestIsWorst).kind : nil,
                                              dropProbability: pair == nil ? reason?.probability : nil))
                bar?.update(b * batchPrompts + offset + 1)
            }
            try output.write(b, records)
            FaultInjection.checkpoint("judge-part")
        }
        bar?.update(samples.count)
        try output.finish(batches: batches)
        // Pairs and summary from the judgments file (so a resumed run derives them identically).
        var summary = JudgeSummary()
        var pairs: [PairRecord] = []
        var probabilities: [Double] = []
        let byID = Dictionary(samples.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (_, j) in try JSONLines.read(JudgmentRecord.self, from: judgmentsOut) {
            summary.prompts += 1
            summary.comparisons += j.comparisons.count
            guard let sample = byID[j.id] else { continue }
            guard let c = j.chosenIndex, let r = j.rejectedIndex else {
                summary.dropped += 1
                let reason = j.drop
                summary.dropReasons[reason?.kind.rawValue ?? "unknown", default: 0] += 1
                if (summary.dropExamples?.count ?? 0) < Self.dropExamplesShown {
                    summary.dropExamples = (summary.dropExamples ?? []) + ["prompt \(j.id): \(reason.map(String.init(describing:)) ?? "no pair")"]
                }
                continue
            }
            if let p = j.probability(c, over: r) { probabilities.append(p) }
            pairs.append(PairRecord(id: j.id, iteration: iteration, prompt: sample.prompt.messages,
                                    chosen: sample.responses[c], rejected: sample.responses[r], chosenIndex: c, rejectedIndex: r,
                                    chosenReward: j.chosenScore ?? j.scores?[c], rejectedReward: j.rejectedScore ?? j.scores?[r],
                                    responses: sample.responses, scores: j.scores,
                                    chosenTarget: j.targets?[c], rejectedTarget: j.targets?[r]))
            summary.pairs += 1
        }
        summary.meanChosenProbability = probabilities.isEmpty ? nil : probabilities.reduce(0, +) / Double(probabilities.count)
        try JSONLines.write(pairs, to: pairsOut)
        let counts = judge.tokenCounts
        summary.tokensComputed = counts.computed; summary.tokensNaive = counts.naive
        return summary
    }

    /// How many dropped prompts a judge summary names with their reasons.
    static let dropExamplesShown = 3
}
