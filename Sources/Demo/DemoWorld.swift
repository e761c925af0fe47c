// The demo world: a synthetic instruction task ("sort: 7294" → "2479") with a programmatic
// oracle, and everything `make demo` needs built from one seed — disjoint prompt splits for the
// iterations, held-out evaluation prompts, chat SFT data whose answers are deliberately wrong in
// realistic ways (so the SFT policy has room to improve), oracle-labelled pairs for the pairwise
// preference model, and the shapes of the tiny demo models. Also the oracle evaluations the demo
// reports: a policy's accuracy on held-out prompts, and a judge's agreement with the oracle.

import Foundation
import Kernels
import Llama
import Checkpoints
import Generation
import Support
import Pipeline

// MARK: - The task and its oracle

/// Sorting 3–5 distinct digits. Prompts are "sort: 7294"; the one correct answer is the digits in
/// ascending order, "2479" (surrounding whitespace ignored).
public enum SortTask {
    public static let instruction = "sort:"

    /// The user message for `digits`.
    public static func prompt(_ digits: [Int]) -> String { instruction + " " + format(digits) }

    /// The digits of a prompt, or nil when it is not a sort prompt.
    public static func digits(ofPrompt prompt: String) -> [Int]? {
        let text = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix(instruction) else { return nil }
        return parseDigits(String(text.dropFirst(instruction.count)))
    }

    /// "247" → [2, 4, 7]; nil unless the text (trimmed) is one or more digits.
    public static func parseDigits(_ text: String) -> [Int]? {
        let body = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty else { return nil }
        var out: [Int] = []
        for c in body.unicodeScalars {
            guard ("0"..."9").contains(c) else { return nil }
            out.append(Int(c.value) - 48)
        }
        return out
    }

    /// The correct answer.
    public static func answer(_ digits: [Int]) -> String { format(digits.sorted()) }

    static func format(_ digits: [Int]) -> String { digits.map(String.init).joined() }

    /// The oracle: 1 when `response` is the correct answer to `prompt`, else 0.
    public static func score(prompt: String, response: String) -> Double {
        guard let digits = digits(ofPrompt: prompt) else { return 0 }
        return response.trimmingCharacters(in: .whitespacesAndNewlines) == answer(digits) ? 1 : 0
    }

    /// The oracle on a conversation: its last user message is the prompt.
    public static func score(messages: [PromptMessage], response: String) -> Double {
        guard let user = messages.last(where: { $0.role == "user" }) else { return 0 }
        return score(prompt: user.content, response: response)
    }

    /// What is wrong with a response, for reports: correct, unsorted, missing digit, extra digit,
    /// wrong digit, malformed.
    public static func verdict(prompt: String, response: String) -> String {
        guard let input = digits(ofPrompt: prompt) else { return "not a sort prompt" }
        guard let out = parseDigits(response) else { return "malformed" }
        if out == input.sorted() { return "correct" }
        if out.sorted() == input.sorted() { return "unsorted" }
        if !Set(out).isSubset(of: Set(input)) { return "wrong digit" }
        return out.count < input.count ? "missing digit" : "extra digit"
    }
}

/// The realistic ways the SFT data (and the preference model's negatives) get an answer wrong.
public enum SortMistake: String, CaseIterable, Codable, Sendable {
    /// Sorted except one adjacent pair.
    case swap
    /// The digits echoed in the prompt's order.
    case unsorted
    /// Sorted, one digit missing.
    case drop
    /// Sorted, one digit written twice.
    case duplicate
    /// Sorted, one digit replaced by one that is not in the prompt.
    case replace
    /// Descending order.
    case reverse
    /// One digit changed to another, in place (a sampling slip; preference-model data only).
    case slip
    /// Sorted, with an extra digit that is not in the prompt (preference-model data only).
    case insert
    /// Random digits (a policy's worst samples; preference-model data only).
    case random

    /// The mistakes of the SFT data: order slips and a forgotten digit. (Doubled and foreign digits are
    /// left out: a policy that learns to make them keeps sampling them, and they are what a judge as
    /// small as the demo's detects worst — its few misjudgements there are what DPO would amplify.)
    public static let sft: [SortMistake] = [.swap, .unsorted, .drop, .reverse]

    /// Applies the mistake to `answer` (digits of an answer to `input`).
    func apply(to answer: [Int], input: [Int], rng: inout SplitMix64) -> [Int] {
        var a = answer
        func index(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
        switch self {
        case .swap:
            guard a.count >= 2 else { return a + a }
            let i = index(a.count - 1)
            a.swapAt(i, i + 1)
        case .unsorted:
            a = input == a ? Array(input.reversed()) : input
        case .drop:
            guard a.count >= 2 else { return [] }
            a.remove(at: index(a.count))
        case .duplicate:
            let i = index(a.count)
            a.insert(a[i], at: i)
        case .replace:
            let absent = (0...9).filter { !input.contains($0) }
            guard !absent.isEmpty, !a.isEmpty else { return a + [a.first ?? 0] }
            a[index(a.count)] = absent[index(absent.count)]
            a.sort()
        case .reverse:
            a = a.sorted(by: >)
        case .insert:
            let absent = (0...9).filter { !input.contains($0) }
            guard !absent.isEmpty else { return a + a.prefix(1) }
            a.append(absent[index(absent.count)])
            a.sort()
        case .slip:
            guard !a.isEmpty else { return [index(10)] }
            let i = index(a.count)
            a[i] = (a[i] + 1 + index(9)) % 10
        case .random:
            a = (0..<(1 + index(input.count + 1))).map { _ in index(10) }
        }
        return a
    }
}

// MARK: - Settings

/// A demo model's shape (a small Llama with the demo tokenizer's vocabulary).
public struct DemoModelShape: Codable, Equatable, Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var maxPositions = 256
    /// Initialisation: matrices ~ N(0, std²).
    public var initStd: Float = 0.02

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int) {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize; self.layers = layers
        self.heads = heads; self.kvHeads = kvHeads
    }

    public func config() throws -> LlamaConfig {
        try LlamaConfig(hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: layers,
                        numAttentionHeads: heads, numKeyValueHeads: kvHeads, rmsNormEps: 1e-5, ropeTheta: 10000,
                        maxPositionEmbeddings: maxPositions, vocabSize: DemoTokenizer.modelVocabularySize, tieWordEmbeddings: true,
                        bosTokenID: .one(Int(DemoTokenizer.specialTokenId(DemoTokenizer.bosToken))),
                        eosTokenID: .many(DemoTokenizer.eosTokenIds.map(Int.init)))
    }
}

/// Everything that decides the demo world's files (all deterministic from `seed`).
public struct DemoWorldSettings: Codable, Equatable, Sendable {
    public var seed: UInt64 = 7
    public var minDigits = 3
    public var maxDigits = 5
    /// Online iterations and the prompts each one uses (disjoint splits).
    public var iterations = 3
    public var promptsPerIteration = 512
    /// Held-out prompts for the oracle accuracy (never trained on).
    public var evaluationPrompts = 200
    /// SFT conversations and the fraction of them with a wrong answer.
    public var sftExamples = 4000
    public var sftMistakeRate = 0.5
    /// The mistakes of wrong SFT answers, drawn uniformly from this list.
    public var sftMistakes: [SortMistake] = SortMistake.sft
    /// Oracle-labelled pairs (correct vs wrong) to train the preference model, and held-out ones
    /// (on the evaluation prompts) to measure its agreement with the oracle.
    public var judgePairs = 12000
    public var judgeEvaluationPairs = 400
    /// Fraction of preference-model negatives with two mistakes compounded.
    public var judgeCompoundRate = 0.25
    /// The mistakes of preference-model negatives, drawn uniformly from this list (repeats weigh more):
    /// the subtle ones (a doubled, extra, foreign or slipped digit), which a small judge learns last
    /// and a sampling policy makes most, come more often.
    public var judgeMistakes: [SortMistake] = [.swap, .unsorted, .drop, .duplicate, .duplicate, .duplicate, .insert, .insert,
                                               .replace, .reverse, .slip, .slip, .random]
    public var policy = DemoModelShape(hiddenSize: 64, intermediateSize: 256, layers: 2, heads: 4, kvHeads: 4)
    public var judge = DemoModelShape(hiddenSize: 64, intermediateSize: 256, layers: 2, heads: 4, kvHeads: 4)
    public init() {}

    public func validate() throws {
        guard minDigits >= 2, maxDigits <= 10, minDigits <= maxDigits else {
            throw DemoWorldError("digits per prompt must satisfy 2 ≤ min ≤ max ≤ 10 (got \(minDigits)…\(maxDigits))")
        }
        guard iterations >= 1, promptsPerIteration >= 1, evaluationPrompts >= 1, sftExamples >= 1, judgePairs >= 1,
              judgeEvaluationPairs >= 1 else { throw DemoWorldError("every count must be at least 1") }
        guard (0...1).contains(sftMistakeRate), (0...1).contains(judgeCompoundRate) else {
            throw DemoWorldError("rates must be in [0, 1]")
        }
        guard !judgeMistakes.isEmpty, !sftMistakes.isEmpty else { throw DemoWorldError("mistake lists must not be empty") }
        let distinct = (minDigits...maxDigits).reduce(0) { total, n in total + (0..<n).reduce(1) { $0 * (10 - $1) } }
        let needed = evaluationPrompts + iterations * promptsPerIteration + sftExamples + judgePairs
        guard needed <= distinct * 2 / 3 else {
            throw DemoWorldError("\(needed) distinct prompts requested; \(minDigits)–\(maxDigits) digits give \(distinct) (use at most two thirds)")
        }
    }
}

public struct DemoWorldError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - The world's data

/// A chat example for SFT: a user prompt and the (possibly wrong) assistant answer.
public struct DemoConversation: Equatable, Sendable {
    public var id: Int
    public var prompt: String
    public var answer: String
    /// The mistake made, nil when the answer is correct.
    public var mistake: SortMistake?
    /// The SFT record (TRL's conversational form).
    public var record: ChatExample {
        ChatExample(id: String(id), messages: [PromptMessage(role: "user", content: prompt), PromptMessage(role: "assistant", content: answer)])
    }
}

/// An oracle-labelled pair: `better` is correct, `worse` is not.
public struct DemoPair: Equatable, Sendable {
    public var id: Int
    public var prompt: String
    public var better: String
    public var worse: String
    public var mistakes: [SortMistake]
    /// TRL conversational preference pair (chosen = the oracle's choice) with the mistakes made.
    public var record: Line {
        Line(pair: PairRecord(id: id, iteration: 0, prompt: [PromptMessage(role: "user", content: prompt)], chosen: better, rejected: worse,
                              chosenIndex: 0, rejectedIndex: 1, chosenReward: 1, rejectedReward: 0, responses: [better, worse], scores: nil),
             mistakes: mistakes.map(\.rawValue))
    }

    public struct Line: Encodable {
        var pair: PairRecord
        var mistakes: [String]
        enum CodingKeys: String, CodingKey { case mistakes }
        public func encode(to encoder: Encoder) throws {
            try pair.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(mistakes, forKey: .mistakes)
        }
    }
}

/// The generated demo world.
public struct DemoWorld {
    public let settings: DemoWorldSettings
    /// Prompts of iteration i (0-based), as (id, user message).
    public let iterationPrompts: [[(id: Int, prompt: String)]]
    public let evaluationPrompts: [(id: Int, prompt: String)]
    public let sft: [DemoConversation]
    public let judgeTraining: [DemoPair]
    public let judgeEvaluation: [DemoPair]

    /// Builds the world from its settings (pure: the same settings give the same world).
    public init(settings: DemoWorldSettings) throws {
        try settings.validate()
        self.settings = settings
        var rng = SplitMix64(seed: settings.seed)
        // Distinct prompts, drawn until there are enough; the splits are disjoint slices.
        var seen = Set<[Int]>(), pool: [[Int]] = []
        let needed = settings.evaluationPrompts + settings.iterations * settings.promptsPerIteration
            + settings.sftExamples + settings.judgePairs
        while pool.count < needed {
            let n = settings.minDigits + Int(rng.next() % UInt64(settings.maxDigits - settings.minDigits + 1))
            var digits = Array(0...9)
            digits.shuffle(using: &rng)
            let d = Array(digits.prefix(n))
            if seen.insert(d).inserted { pool.append(d) }
        }
        var next = 0
        func take(_ n: Int) -> [[Int]] { defer { next += n }; return Array(pool[next..<(next + n)]) }
        // Ids: evaluation 0…, iteration i from 10000·(i+1), SFT 100000…, judge 200000… (stable, disjoint).
        let evaluation = take(settings.evaluationPrompts)
        evaluationPrompts = evaluation.enumerated().map { ($0.offset, SortTask.prompt($0.element)) }
        iterationPrompts = (0..<settings.iterations).map { i in
            take(settings.promptsPerIteration).enumerated().map { (10000 * (i + 1) + $0.offset, SortTask.prompt($0.element)) }
        }
        sft = take(settings.sftExamples).enumerated().map { j, digits in
            let wrong = Double(rng.nextUnitFloat()) < settings.sftMistakeRate
            var mistake: SortMistake? = nil
            var answer = digits.sorted()
            if wrong {
                let m = settings.sftMistakes[Int(rng.next() % UInt64(settings.sftMistakes.count))]
                answer = DemoWorld.wrongAnswer(digits, mistakes: [m], rng: &rng)
                mistake = m
            }
            return DemoConversation(id: 100000 + j, prompt: SortTask.prompt(digits), answer: SortTask.format(answer), mistake: mistake)
        }
        func pairs(_ prompts: [[Int]], firstID: Int, rng: inout SplitMix64) -> [DemoPair] {
            prompts.enumerated().map { j, digits in
                let kinds = settings.judgeMistakes
                var mistakes = [kinds[Int(rng.next() % UInt64(kinds.count))]]
                if Double(rng.nextUnitFloat()) < settings.judgeCompoundRate {
                    mistakes.append(kinds[Int(rng.next() % UInt64(kinds.count))])
                }
                let worse = DemoWorld.wrongAnswer(digits, mistakes: mistakes, rng: &rng)
                return DemoPair(id: firstID + j, prompt: SortTask.prompt(digits), better: SortTask.answer(digits),
                                worse: SortTask.format(worse), mistakes: mistakes)
            }
        }
        judgeTraining = pairs(take(settings.judgePairs), firstID: 200000, rng: &rng)
        // Held-out pairs: on the evaluation prompts (cycled), which neither model trains on.
        let heldOut = (0..<settings.judgeEvaluationPairs).map { evaluation[$0 % evaluation.count] }
        judgeEvaluation = pairs(heldOut, firstID: 300000, rng: &rng)
    }

    /// A wrong answer: the mistakes applied in turn to the sorted digits (redrawn until it differs
    /// from the correct answer).
    static func wrongAnswer(_ digits: [Int], mistakes: [SortMistake], rng: inout SplitMix64) -> [Int] {
        let correct = digits.sorted()
        for _ in 0..<16 {
            var a = correct
            for m in mistakes { a = m.apply(to: a, input: digits, rng: &rng) }
            if a != correct && !a.isEmpty { return a }
        }
        return Array(correct.reversed()) + [correct[0]]
    }

    // MARK: files

    /// Where `write` puts each file, relative to the demo directory.
    public enum Layout {
        public static let settings = "world.json"
        public static let sft = "data/sft.jsonl"
        public static let evaluationPrompts = "data/eval-prompts.jsonl"
        public static func iterationPrompts(_ i: Int) -> String { "data/prompts-iter\(i).jsonl" }
        public static let judgeTraining = "data/judge-pairs.jsonl"
        public static let judgeEvaluation = "data/judge-eval-pairs.jsonl"
        public static let tokenizer = "tokenizer"
        public static let policyInit = "models/policy-init"
        public static let judgeInit = "models/pm-init"
    }

    /// Writes the data files, the tokenizer, and the two randomly initialised model directories
    /// (policy and preference model) under `directory`. Byte-identical for the same settings.
    public func write(to directory: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        func url(_ path: String) -> URL { directory.appendingPathComponent(path) }
        func prompts(_ list: [(id: Int, prompt: String)]) -> [PromptRecord] {
            list.map { PromptRecord(id: $0.id, prompt: .messages([PromptMessage(role: "user", content: $0.prompt)])) }
        }
        try AtomicFile.write(try JSONFormat.pretty(settings), to: url(Layout.settings))
        try JSONLines.write(sft.map(\.record), to: url(Layout.sft))
        try JSONLines.write(prompts(evaluationPrompts), to: url(Layout.evaluationPrompts))
        for (i, split) in iterationPrompts.enumerated() {
            try JSONLines.write(prompts(split), to: url(Layout.iterationPrompts(i + 1)))
        }
        try JSONLines.write(judgeTraining.map(\.record), to: url(Layout.judgeTraining))
        try JSONLines.write(judgeEvaluation.map(\.record), to: url(Layout.judgeEvaluation))
        try DemoTokenizer.write(to: url(Layout.tokenizer))
        try Self.writeInitialModel(settings.policy, seed: settings.seed &+ 1, to: url(Layout.policyInit), tokenizer: url(Layout.tokenizer))
        try Self.writeInitialModel(settings.judge, seed: settings.seed &+ 2, to: url(Layout.judgeInit), tokenizer: url(Layout.tokenizer))
    }

    /// A randomly initialised demo model written as a Hugging Face model directory with the tokenizer.
    public static func writeInitialModel(_ shape: DemoModelShape, seed: UInt64, to directory: URL, tokenizer: URL) throws {
        let model = LlamaModel(config: try shape.config())
        model.randomize(seed: seed, std: shape.initStd)
        try ModelDirectory.saveHuggingFace(model, to: directory, tokenizerSource: tokenizer)
    }
}

// MARK: - Oracle evaluations

/// The demo's measurements against the oracle.
public enum DemoEvaluation {
    public struct PolicyReport: Codable, Equatable, Sendable {
        /// Fraction of sampled responses the oracle accepts.
        public var accuracy: Double
        /// Fraction of prompts whose samples are all correct.
        public var promptsAllCorrect: Double
        public var prompts: Int
        public var samples: Int
        /// Response counts by verdict (correct, unsorted, missing digit, …).
        public var verdicts: [String: Int]
        public var meanResponseTokens: Double
    }

    /// Samples `samplesPerPrompt` responses per prompt from `policy` (temperature 0: greedy) and
    /// scores them with the oracle. Deterministic for a seed.
    public static func policyAccuracy(policy: ChatModel, prompts: [PromptRecord], samplesPerPrompt: Int = 4,
                                      temperature: Double = 1.0, maxNewTokens: Int = 24, seed: UInt64 = 1234) throws -> PolicyReport {
        let generator = Generator(model: policy.model)
        let settings = GenerationSettings(samplesPerPrompt: temperature == 0 ? 1 : samplesPerPrompt, maxNewTokens: maxNewTokens,
                                          sampling: SamplingParameters(temperature: temperature), stopTokens: policy.stopTokens, seed: seed)
        let requests = try prompts.map { GenerationRequest(id: $0.id, tokens: try policy.promptTokens($0.prompt, maxTokens: Int.max).tokens) }
        let results = try generator.generate(requests, settings: settings)
        var correct = 0, total = 0, allCorrect = 0, tokens = 0
        var verdicts: [String: Int] = [:]
        for (p, samples) in zip(prompts, results) {
            let user = p.prompt.messages.last(where: { $0.role == "user" })?.content ?? ""
            var all = true
            for s in samples {
                let text = try policy.tokenizer.decode(s.tokens.filter(policy.tokenizer.isKnownId), skipSpecialTokens: true)
                let ok = SortTask.score(prompt: user, response: text) == 1
                correct += ok ? 1 : 0; total += 1; all = all && ok
                tokens += s.tokens.count
                verdicts[SortTask.verdict(prompt: user, response: text), default: 0] += 1
            }
            allCorrect += all ? 1 : 0
        }
        return PolicyReport(accuracy: Double(correct) / Double(max(1, total)),
                            promptsAllCorrect: Double(allCorrect) / Double(max(1, prompts.count)),
                            prompts: prompts.count, samples: total, verdicts: verdicts,
                            meanResponseTokens: Double(tokens) / Double(max(1, total)))
    }

    /// Agreement of a pairwise judge with the oracle on pairs whose `chosen` the oracle prefers,
    /// grouped by what is wrong with the rejected response (its `SortTask.verdict`).
    public static func judgeAgreement(judge: PairwiseJudge, pairs: [PairRecord]) throws -> JudgeAgreement {
        try judge.agreement(with: pairs) { p in
            SortTask.verdict(prompt: p.prompt.last(where: { $0.role == "user" })?.content ?? "", response: p.rejected)
        }
    }

    /// The judge's agreement with the oracle on pairs from the policy's own samples: `k`
    /// temperature-1 samples per prompt (kept in memory), one correct and one wrong per prompt.
    public static func judgeAgreementOnOwnSamples(judge: PairwiseJudge, policy: ChatModel, prompts: [PromptRecord],
                                                  k: Int, seed: UInt64, maxNewTokens: Int) throws -> JudgeAgreement {
        var s = GenerationStageSettings()
        s.samplesPerPrompt = k; s.maxNewTokens = maxNewTokens; s.seed = seed &+ 1
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-demo-eval-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: out) }
        let samples = try Stages.generate(policy: policy, prompts: prompts, settings: s, out: out, quiet: true)
        return try judgeAgreement(judge: judge, pairs: samplePairs(samples))
    }

    /// Registers the demo world's oracle ("sort-digits": "sort: 7294" → "2479" is correct) for
    /// recipes' `evaluation.oracle`.
    public static func registerOracle() { Oracles.register("sort-digits", SortTaskOracle()) }

    /// Held-out pairs from a policy's own samples: for each prompt, one correct and one wrong sample
    /// (when both occur), so the judge is measured on the responses it will actually rank.
    public static func samplePairs(_ samples: [SampleRecord]) -> [PairRecord] {
        samples.compactMap { s in
            let messages = s.prompt.messages
            guard let good = s.responses.first(where: { SortTask.score(messages: messages, response: $0) == 1 }),
                  let bad = s.responses.first(where: { SortTask.score(messages: messages, response: $0) == 0 }) else { return nil }
            return PairRecord(id: s.id, iteration: 0, prompt: messages, chosen: good, rejected: bad, chosenIndex: 0, rejectedIndex: 1,
                              chosenReward: 1, rejectedReward: 0, responses: [good, bad], scores: nil)
        }
    }
}

/// The demo world's oracle ("sort: 7294" → "2479" is correct).
struct SortTaskOracle: ResponseOracle {
    func score(prompt: PromptInput, response: String) -> Double { SortTask.score(messages: prompt.messages, response: response) }
}
