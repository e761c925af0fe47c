// Judges on text, one type per kind behind the `Judge` protocol: the seed's pairwise A/B preference
// model (plain-template context, the "[CONTEXT] … [RESPONSE A] … [RESPONSE B] … \n" prompt as the
// single user turn of the PM's chat template, BOS text removed, no special tokens added, position
// swap), the scalar reward model and the general preference model — each turning a prompt's k
// responses into a RankingResult. `Judges.load` opens the kind a recipe or command names.

import Foundation
import Kernels
import Llama
import Checkpoints
import Preference
import Tokenizers
import ChatTemplates

/// pairwise, reward and gpm judges are models; a command judge is a user program (`CommandJudge`).
public enum JudgeKind: String, Codable, CaseIterable, Sendable { case pairwise, reward, gpm, command }

public struct JudgeError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Which BOS strings a judge removes from its rendered input (see `JudgeText.removingBOS`).
public enum BOSStripping: String, Codable, CaseIterable, Sendable {
    /// Every occurrence, as RLHFlow's `text.replace(tokenizer.bos_token, "")` (the seed procedure).
    case all
    /// Only an occurrence at the very start of the text.
    case leading
}

/// One prompt's ranking and, for pairwise judges, the per-response SPPO targets p̂; for GPM the
/// GPO targets ĝ (row means of s/τ).
public struct JudgedPrompt {
    public var ranking: RankingResult
    public var targets: [Double]?
}

/// A loaded judge that ranks the k responses of a prompt.
public protocol Judge: AnyObject {
    var kind: JudgeKind { get }
    var directory: URL { get }
    /// Ranks one prompt's responses with `method` (pairwise: a tournament; others: `scores`).
    func judge(messages: [PromptMessage], responses: [String], method: RankingMethod) throws -> JudgedPrompt
    /// Tokens the judge computed, and what computing every comparison from scratch would cost.
    var tokenCounts: (computed: Int, naive: Int) { get }
    /// How the judge reads its input, in one line (recorded in the run's manifest).
    var inputSummary: String { get }
    /// Called with each batch of prompts before they are judged one by one (a command judge runs
    /// its program once over the batch here); nothing by default.
    func prefetch(_ samples: [SampleRecord]) throws
}

extension Judge {
    public var tokenCounts: (computed: Int, naive: Int) { (0, 0) }
    public func prefetch(_ samples: [SampleRecord]) throws {}
    /// How this judge compares two responses (evaluation's win rates).
    public var comparisonMethod: RankingMethod { kind == .pairwise ? .roundRobin : .scores }
}

public enum Judges {
    /// Loads the judge of `kind` at `directory`; `warnings` receives the BOS warning, `notes` the
    /// memory plan it checked.
    public static func load(directory: URL, kind: JudgeKind, temperature: Double = 1, tau: Double = 0.1,
                            stripBOS: BOSStripping = .all, gpmInput: GPMInput = .ranker, command: [String] = [],
                            engine: RemoteEngineSettings? = nil,
                            warnings: (String) -> Void = { warnOnce($0) },
                            notes: (String) -> Void = { _ in }) throws -> any Judge {
        switch kind {
        case .command: return try CommandJudge(command: command, workingDirectory: directory)
        case .pairwise: return try PairwiseJudge(directory: directory, temperature: temperature, stripBOS: stripBOS, engine: engine,
                                                 warnings: warnings, notes: notes)
        case .reward: return try RewardJudge(directory: directory, stripBOS: stripBOS, engine: engine, warnings: warnings, notes: notes)
        case .gpm: return try GPMJudge(directory: directory, tau: tau, stripBOS: stripBOS, input: gpmInput, warnings: warnings, notes: notes)
        }
    }

    /// Peak memory of judging with `model` inputs of up to `maxLength` tokens: its weights, the KV
    /// cache and the inference scratch the scorer allocates (the pairwise model keeps several scored
    /// sequences to continue from — see `PairwiseScorer.keptSlots` — and reads 2 rows of logits).
    public static func plan(config c: LlamaConfig, kind: JudgeKind, maxLength: Int = 4096, bytesPerWeight: Int = 4) -> MemoryPlan {
        let length = min(maxLength, c.maxPositionEmbeddings)
        var plan = MemoryPlan()
        plan.add("weights", MemoryPlan.product(c.parameterCount(languageModelHead: kind == .pairwise), bytesPerWeight))
        if kind == .pairwise {
            let (cache, scratch) = PairwiseScorer.estimatedBytes(config: c, length: length)
            plan.add("KV cache", cache)
            plan.add("inference scratch", scratch)
        } else {
            plan.add("KV cache", KVCache.estimatedBytes(config: c, slots: 1, maxLength: length))
            plan.add("inference scratch", InferenceSession.estimatedBytes(config: c, maxRows: min(length, PairwiseScorer.rowsPerCall), maxKeys: length, logitRows: 0))
        }
        return plan
    }

    /// Checks the plan for `model` before judging with it, and passes it to `notes`.
    static func requirePlan(_ model: LlamaModel, kind: JudgeKind, what: String, notes: (String) -> Void) throws {
        let plan = plan(config: model.config, kind: kind, bytesPerWeight: model.isFloat32 ? 4 : 2)
        try plan.require(what)
        notes("judge memory plan: \(plan)")
    }
}

/// What every judge reads text with: the tokenizer, the chat template and the BOS rule.
struct JudgeText {
    let directory: URL
    let tokenizer: Tokenizer
    let template: ChatTemplate?
    let stripBOS: BOSStripping

    init(directory: URL, stripBOS: BOSStripping, warnings: (String) -> Void) throws {
        self.directory = directory; self.stripBOS = stripBOS
        tokenizer = try Tokenizer(model: directory)
        template = try tokenizer.configuration.chatTemplate.map {
            try ChatTemplate(source: $0, name: Tokenizer.chatTemplateName(model: directory))
        }
        if stripBOS == .all, let warning = try Self.bosTurnMarkerWarning(template: template, tokenizer: tokenizer, directory: directory) {
            warnings(warning)
        }
    }

    /// `text` without the BOS string: every occurrence (`.all`, the seed's `str.replace`) or a leading
    /// one (`.leading`). Removed by code points, like Python's str.replace (Character matching would
    /// miss a BOS whose ">" is followed by a combining mark).
    func removingBOS(_ text: String) -> String {
        guard let bos = tokenizer.bosToken, !bos.isEmpty else { return text }
        switch stripBOS {
        case .all: return text.replacingOccurrences(of: bos, with: "", options: .literal)
        case .leading: return text.unicodeScalars.starts(with: bos.unicodeScalars) ? String(text.unicodeScalars.dropFirst(bos.unicodeScalars.count)) : text
        }
    }

    /// A warning when the judge's chat template uses its BOS token as a turn marker (it appears more
    /// than once in a rendered two-turn conversation): the seed procedure deletes every occurrence.
    static func bosTurnMarkerWarning(template: ChatTemplate?, tokenizer: Tokenizer, directory: URL) throws -> String? {
        guard let template, let bos = tokenizer.bosToken, !bos.isEmpty else { return nil }
        let text = try template.render(conversation: [("user", "a"), ("assistant", "b")], addGenerationPrompt: false,
                                       bosToken: bos, eosToken: tokenizer.eosToken)
        let count = text.components(separatedBy: bos).count - 1
        guard count > 1 else { return nil }
        return "the judge \(directory.path) uses its BOS token \(bos) as a turn marker (\(count) times in a two-turn conversation); RLHFlow's procedure, followed here, deletes every occurrence from the judge's input. Set judge.strip_bos: leading (idpo judge --strip-bos leading) to remove only a leading one."
    }

    /// Reward / GPM input: the full conversation in the judge's template, BOS text removed, then
    /// encoded with the tokenizer's special tokens (as the seed's reward pipeline does).
    func conversationTokens(_ messages: [PromptMessage], response: String) throws -> [Int32] {
        let all = messages + [PromptMessage(role: "assistant", content: response)]
        guard let template else {
            return try tokenizer.encode(all.map(\.content).joined(separator: "\n"), addSpecialTokens: true)
        }
        let text = try template.render(conversation: all.map { ($0.role, $0.content) }, addGenerationPrompt: false,
                                       bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
        return try tokenizer.encode(removingBOS(text), addSpecialTokens: true)
    }
}

/// The seed's pairwise A/B preference model: P(A) of a causal LM shown both responses, averaged
/// over both orders; tournaments (knockout, king of the hill, round robin) rank k responses.
public final class PairwiseJudge: Judge {
    public var kind: JudgeKind { .pairwise }
    public var inputSummary: String { "pairwise: seed 001 prompt in the judge's chat template, BOS strings removed (\(stripBOS.rawValue)), no special tokens added" }
    public var directory: URL { text.directory }
    public var tokenizer: Tokenizer { text.tokenizer }
    public var stripBOS: BOSStripping { text.stripBOS }
    let text: JudgeText
    let scorer: any PairwiseProbabilities
    let plainContext = try! ChatTemplate(source: ChatTemplate.pairPMPlain, name: "pair-PM plain context template")

    /// - Parameter engine: read P(A) from a serving engine's next-token log-probs instead of idpo's
    ///   engine (the directory then gives the tokenizer and template only; no weights are loaded).
    public init(directory: URL, temperature: Double = 1, stripBOS: BOSStripping = .all, engine: RemoteEngineSettings? = nil,
                warnings: (String) -> Void = { warnOnce($0) }, notes: (String) -> Void = { _ in }) throws {
        text = try JudgeText(directory: directory, stripBOS: stripBOS, warnings: warnings)
        let a = try text.tokenizer.encode("A", addSpecialTokens: false), b = try text.tokenizer.encode("B", addSpecialTokens: false)
        guard a.count == 1, b.count == 1 else {
            throw JudgeError("\(directory.path): the pairwise preference model needs \"A\" and \"B\" to be single tokens (they encode to \(a) and \(b))")
        }
        guard text.template != nil else { throw JudgeError("\(directory.path): the pairwise preference model needs a chat_template in tokenizer_config.json") }
        if let engine {
            scorer = try RemotePairwiseProbabilities(engine: try RemoteCompletions(engine), tokenA: a[0], tokenB: b[0], temperature: temperature)
            notes("pairwise judge: P(A) from \(engine.baseURL) (\(engine.server.rawValue)), the log-probs of \"A\" (\(a[0])) and \"B\" (\(b[0]))")
        } else {
            let model = try ModelDirectory.load(directory, frozen: true)
            try Judges.requirePlan(model, kind: .pairwise, what: "judging with the pairwise model \(directory.path)", notes: notes)
            scorer = PairwiseScorer(model: model, tokenA: a[0], tokenB: b[0], temperature: temperature)
        }
    }

    /// The preference model's weights, for training it in place (a judge on idpo's engine).
    public var model: LlamaModel {
        guard let local = scorer as? PairwiseScorer else { preconditionFailure("a judge read through a server has no local weights") }
        return local.model
    }

    public var tokenCounts: (computed: Int, naive: Int) { (scorer.computedTokens, scorer.naiveTokens) }

    /// The PM's input ids for context and responses shown as A and B (seed 001, REFERENCE §2).
    public func pairwiseTokens(context: String, a: String, b: String) throws -> [Int32] {
        let prompt = "[CONTEXT] \(context) [RESPONSE A] \(a) [RESPONSE B] \(b) \n"
        let rendered = try text.template!.render(conversation: [("user", prompt)], addGenerationPrompt: false,
                                                 bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
        return try tokenizer.encode(text.removingBOS(rendered), addSpecialTokens: false)
    }

    /// The context string: the conversation in the plain pair-PM template.
    public func pairwiseContext(_ messages: [PromptMessage]) throws -> String {
        try plainContext.render(conversation: messages.map { ($0.role, $0.content) })
    }

    /// P(r1 ≻ r2) with the position swap: mean of P(A | r1 first) and 1 − P(A | r2 first).
    /// (Call `scorer.setSharedPrefix` for the context first, as `judge` does, to reuse its prefill.)
    public func pairwiseProbability(context: String, _ r1: String, _ r2: String) throws -> RecordedComparison {
        let s1 = try pairwiseTokens(context: context, a: r1, b: r2), s2 = try pairwiseTokens(context: context, a: r2, b: r1)
        let p = try scorer.probabilityA([s1, s2])
        return RecordedComparison(first: 0, second: 1, probability: (p[0] + (1 - p[1])) / 2,
                                  probabilityFirstAsA: p[0], probabilitySecondAsA: p[1])
    }

    public func judge(messages: [PromptMessage], responses: [String], method: RankingMethod) throws -> JudgedPrompt {
        let context = try pairwiseContext(messages)
        // The text every comparison of this prompt shares (template header, context, "[RESPONSE A]")
        // is prefilled once and kept in the KV cache; each comparison continues from the longest
        // prefix its own tokens share with it.
        try scorer.setSharedPrefix(try pairwiseTokens(context: context, a: "", b: ""))
        struct Source: ComparisonSource {
            let judge: PairwiseJudge, context: String, responses: [String]
            mutating func compare(_ i: Int, _ j: Int) throws -> RecordedComparison {
                let c = try judge.pairwiseProbability(context: context, responses[i], responses[j])
                return RecordedComparison(first: i, second: j, probability: c.probability,
                                          probabilityFirstAsA: c.probabilityFirstAsA, probabilitySecondAsA: c.probabilitySecondAsA)
            }
        }
        let source = Source(judge: self, context: context, responses: responses)
        let k = responses.count
        switch method {
        case .knockout: return JudgedPrompt(ranking: try Ranking.knockout(count: k, judge: source), targets: nil)
        case .kingOfTheHill: return JudgedPrompt(ranking: try Ranking.kingOfTheHill(count: k, judge: source), targets: nil)
        case .roundRobin:
            let r = try Ranking.roundRobin(count: k, judge: source)
            // SPPO: p̂_i = mean_j P(i ≻ j) over all k (self included, P(i ≻ i) = ½)
            let targets = r.probabilityMatrix.map { P in P.map { $0.reduce(0, +) / Double(k) } }
            return JudgedPrompt(ranking: r, targets: targets)
        case .scores: throw JudgeError("ranking 'scores' needs a reward model or GPM judge, not a pairwise one")
        }
    }
}

/// A scalar reward model (sequence classification, num_labels = 1): r(x, y) per response — on
/// idpo's engine, or through a serving engine's pooling endpoint (`RemoteRewards`).
public final class RewardJudge: Judge {
    public var kind: JudgeKind { .reward }
    public var inputSummary: String {
        "reward: the conversation in the judge's chat template, BOS strings removed (\(text.stripBOS.rawValue)), special tokens added" + (remote.map { "; scored by \($0.engine.settings.baseURL) (\($0.engine.settings.server.rawValue))" } ?? "")
    }
    public var directory: URL { text.directory }
    let text: JudgeText
    let scorer: RewardScorer?
    let remote: RemoteRewards?

    /// - Parameter engine: score through a serving engine (see `RemoteRewards`); only the judge's
    ///   config, tokenizer, template and `score.weight` are read from `directory`.
    public init(directory: URL, stripBOS: BOSStripping = .all, engine: RemoteEngineSettings? = nil,
                warnings: (String) -> Void = { warnOnce($0) }, notes: (String) -> Void = { _ in }) throws {
        text = try JudgeText(directory: directory, stripBOS: stripBOS, warnings: warnings)
        if let engine {
            let (config, heads) = try ModelDirectory.readHeads(directory, head: [["score.weight"]])
            try Self.requireScalarHead(heads[0].shape, hidden: config.hiddenSize, directory: directory)
            remote = RemoteRewards(engine: try RemoteCompletions(engine), head: heads[0].values)
            scorer = nil
            notes("reward judge: scored by \(engine.baseURL) (\(engine.server.rawValue))\(engine.server == .llamacpp ? ": the last token's hidden state from its /embedding, score.weight applied by idpo" : ", its classification head")")
        } else {
            let (model, heads) = try ModelDirectory.loadWithHead(directory, head: [["score.weight"]], frozen: true)
            try Self.requireScalarHead(heads[0].shape, hidden: model.config.hiddenSize, directory: directory)
            try Judges.requirePlan(model, kind: .reward, what: "judging with the reward model \(directory.path)", notes: notes)
            scorer = RewardScorer(model: model, scoreWeight: heads[0].values)
            remote = nil
        }
    }

    static func requireScalarHead(_ shape: [Int], hidden: Int, directory: URL) throws {
        guard shape == [1, hidden] else {
            throw JudgeError("\(directory.path): score.weight has shape \(shape); a reward model has num_labels = 1, so [1, \(hidden)]")
        }
    }

    /// r(x, y) of each response: the head on the last token's final hidden state.
    public func rewards(messages: [PromptMessage], responses: [String]) throws -> [Double] {
        try responses.map { r in
            let tokens = try text.conversationTokens(messages, response: r)
            if let remote { return try remote.reward(tokens) }
            return try scorer!.reward(tokens)
        }
    }

    public func judge(messages: [PromptMessage], responses: [String], method: RankingMethod) throws -> JudgedPrompt {
        guard method == .scores else { throw JudgeError("a reward model ranks by 'scores', not '\(method.rawValue)'") }
        return JudgedPrompt(ranking: Ranking.fromScores(try rewards(messages: messages, responses: responses)), targets: nil)
    }
}

/// A scalar reward model run by a serving engine: vLLM and SGLang apply the model's own
/// classification head and return r; llama-server (which runs no such head) returns the last token's
/// final-norm hidden state h, and r = score.weight · h here (float64 sum).
public final class RemoteRewards {
    let engine: RemoteCompletions
    let head: [Float]     // (D)

    public init(engine: RemoteCompletions, head: [Float]) { self.engine = engine; self.head = head }

    public func reward(_ tokens: [Int32]) throws -> Double {
        let what = "a reward (\(tokens.count) tokens)"
        switch try engine.pooled(tokens: tokens, what: what) {
        case .score(let r):
            guard r.isFinite else { throw RemoteEngineError("\(engine.settings.baseURL) answered \(what) with \(r)") }
            return r
        case .hidden(let h):
            guard h.count == head.count else {
                throw RemoteEngineError("\(engine.settings.baseURL) answered \(what) with a hidden state of \(h.count) values; the reward model's score.weight has \(head.count) (is the server running this reward model's backbone?)")
            }
            var r = 0.0
            for i in 0..<h.count { r += Double(head[i]) * Double(h[i]) }
            guard r.isFinite else { throw RemoteEngineError("\(engine.settings.baseURL) answered \(what) with a non-finite hidden state") }
            return r
        }
    }
}

/// How a GPM judge turns a conversation into tokens. The GPM repository's two inference code paths
/// disagree (REFERENCE §3), so this is a judge option, recorded in the run's recipe.json and manifest.
public enum GPMInput: String, Codable, CaseIterable, Sendable {
    /// GPO's ranker (LLM-Alignment/scripts/RMs/reward_model.py, what GPO's iterations used): the
    /// rendered conversation with its BOS string removed (`strip_bos`), no special tokens added, the
    /// last token kept.
    case ranker
    /// gpm_example_usage.py: the template's BOS kept, the tokenizer's special tokens added (a template
    /// that writes its BOS then starts with two), cut to the judge's length limit, and the last token
    /// overwritten with EOS.
    case example

    /// What this convention does, in words (logs, manifest).
    public var summary: String {
        switch self {
        case .ranker: return "ranker (GPO's ranker: BOS string removed, no special tokens added, last token kept)"
        case .example: return "example (gpm_example_usage.py: BOS kept, special tokens added, last token replaced by EOS)"
        }
    }
}

/// The general preference model (the GPM repository's inference): per response, a unit vector v_i
/// at its last token and, with a prompt head, block weights w at the prompt's last token;
/// s(i ≻ j) = Σ_b w_b (v_i[2b]·v_j[2b+1] − v_i[2b+1]·v_j[2b]), P(i ≻ j) = σ(s/τ). One forward pass per
/// response, then the k × k table; responses are ranked by ĝ_i = mean_j s(i ≻ j)/τ (GPO's targets).
/// d (value_head rows) and the prompt head are read from the checkpoint, never assumed.
public final class GPMJudge: Judge {
    public var kind: JudgeKind { .gpm }
    public var directory: URL { text.directory }
    public let input: GPMInput
    public var inputSummary: String {
        "gpm: input \(input.summary)\(input == .ranker ? ", BOS strings removed (\(text.stripBOS.rawValue))" : ""); d = \(dimension), \(hasPromptHead ? "prompt head" : "no prompt head")"
    }
    let text: JudgeText
    let scorer: GeneralPreferenceScorer

    /// d, the length of the preference vectors, and whether the checkpoint has a prompt head.
    public var dimension: Int { scorer.dimension }
    public let hasPromptHead: Bool

    public init(directory: URL, tau: Double = 0.1, stripBOS: BOSStripping = .all, input: GPMInput = .ranker,
                warnings: (String) -> Void = { warnOnce($0) }, notes: (String) -> Void = { _ in }) throws {
        text = try JudgeText(directory: directory, stripBOS: stripBOS, warnings: input == .ranker ? warnings : { _ in })
        self.input = input
        let (model, heads) = try ModelDirectory.loadWithHead(directory, head: [["value_head.weight", "score.weight"]],
                                                             optional: ["prompt_head.weight"], frozen: true)
        let D = model.config.hiddenSize
        let value = heads[0]
        guard value.shape.count == 2, value.shape[1] == D, value.shape[0] >= 2, value.shape[0] % 2 == 0 else {
            throw JudgeError("\(directory.path): \(value.name) has shape \(value.shape); a general preference model's value head is (d, \(D)) with d even (2, 4, 6 or 8 in the public checkpoints)")
        }
        let d = value.shape[0]
        let prompt = heads.first { $0.name == "prompt_head.weight" }
        if let prompt, prompt.shape != [d / 2, D] {
            throw JudgeError("\(directory.path): prompt_head.weight has shape \(prompt.shape); with value_head d = \(d) it must be [\(d / 2), \(D)]")
        }
        if input == .example && text.tokenizer.eosTokenId == nil {
            throw JudgeError("\(directory.path): gpm_input example overwrites the last token with EOS, but the tokenizer names no eos_token")
        }
        guard text.template != nil else {
            throw JudgeError("\(directory.path): the general preference model needs a chat_template in tokenizer_config.json (it reads the conversation through it)")
        }
        hasPromptHead = prompt != nil
        try Judges.requirePlan(model, kind: .gpm, what: "judging with the general preference model \(directory.path)", notes: notes)
        scorer = GeneralPreferenceScorer(model: model, valueHead: value.values, promptHead: prompt?.values, tau: tau)
        notes("general preference model: d = \(d), \(prompt == nil ? "no prompt head (every block weight 1)" : "prompt head (d/2 = \(d / 2) block weights)"), input \(input.summary)")
    }

    /// The judge's input for one response: the conversation's tokens and the prompt's length in them
    /// (the prompt rendered alone, read the same way), by the input convention.
    public func inputTokens(_ messages: [PromptMessage], response: String) throws -> (tokens: [Int32], promptLength: Int) {
        let template = text.template!, tok = text.tokenizer
        func render(_ m: [PromptMessage]) throws -> String {
            try template.render(conversation: m.map { ($0.role, $0.content) }, addGenerationPrompt: false,
                                bosToken: tok.bosToken, eosToken: tok.eosToken)
        }
        let full = try render(messages + [PromptMessage(role: "assistant", content: response)]), prompt = try render(messages)
        switch input {
        case .ranker:
            return (try tok.encode(text.removingBOS(full), addSpecialTokens: false),
                    try tok.encode(text.removingBOS(prompt), addSpecialTokens: false).count)
        case .example:
            let limit = scorer.lengthLimit
            var ids = Array(try tok.encode(full, addSpecialTokens: true).prefix(limit))
            guard !ids.isEmpty else { throw JudgeError("\(directory.path): the conversation encodes to no tokens") }
            ids[ids.count - 1] = tok.eosTokenId!
            return (ids, min(limit, try tok.encode(prompt, addSpecialTokens: true).count))
        }
    }

    /// The preference embeddings of one prompt's responses (one forward pass each; the prompt's
    /// tokens are computed once and reused through the KV cache).
    public func embeddings(messages: [PromptMessage], responses: [String]) throws -> [PreferenceEmbedding] {
        try responses.map { r in
            let (ids, p) = try inputTokens(messages, response: r)
            guard !hasPromptHead || p < ids.count else {
                throw JudgeError("\(directory.path): the prompt head reads the prompt's last token, but a response adds no token after the prompt (\(ids.count) tokens, prompt \(p))")
            }
            return try scorer.embedding(ids, promptLength: hasPromptHead ? p : nil)
        }
    }

    /// The k × k scores s(i ≻ j) and probabilities σ(s/τ) of one prompt's responses.
    public func table(messages: [PromptMessage], responses: [String]) throws -> (scores: [[Double]], probabilities: [[Double]]) {
        scorer.matrices(try embeddings(messages: messages, responses: responses))
    }

    public var tokenCounts: (computed: Int, naive: Int) { (scorer.computedTokens, scorer.naiveTokens) }

    public func judge(messages: [PromptMessage], responses: [String], method: RankingMethod) throws -> JudgedPrompt {
        guard method == .scores else { throw JudgeError("a general preference model ranks by 'scores', not '\(method.rawValue)'") }
        let (s, P) = try table(messages: messages, responses: responses)
        let k = Double(responses.count)
        // ĝ_i = mean_j s(i ≻ j)/τ (GPO targets and the ranking score)
        let g = s.map { row in row.reduce(0, +) / k / scorer.tau }
        var ranking = Ranking.fromScores(g)
        ranking.probabilityMatrix = P
        return JudgedPrompt(ranking: ranking, targets: g)
    }
}

/// How often a pairwise judge agrees with labelled pairs (chosen is the better response).
public struct JudgeAgreement: Codable, Equatable, Sendable {
    /// Fraction of pairs where P(chosen ≻ rejected) > ½ (both orders averaged).
    public var agreement: Double
    /// The same with the chosen response shown first only (position A), and second only.
    public var agreementChosenAsA: Double
    public var agreementChosenAsB: Double
    public var pairs: Int
    /// Mean P(chosen ≻ rejected).
    public var meanProbability: Double
    /// Agreement per group (`agreement(with:groupedBy:)`): [agreed, pairs].
    public var byGroup: [String: [Int]]
}

extension PairwiseJudge {
    /// Agreement with `pairs` by the judge's own procedure (the seed's prompt, both orders averaged),
    /// optionally counted per group of pairs.
    public func agreement(with pairs: [PairRecord], groupedBy group: ((PairRecord) -> String)? = nil) throws -> JudgeAgreement {
        var agree = 0, asA = 0, asB = 0, sum = 0.0
        var byGroup: [String: [Int]] = [:]
        for p in pairs {
            let c = try pairwiseProbability(context: try pairwiseContext(p.prompt), p.chosen, p.rejected)
            if let key = group?(p) {
                byGroup[key, default: [0, 0]][0] += c.probability > 0.5 ? 1 : 0
                byGroup[key, default: [0, 0]][1] += 1
            }
            if c.probability > 0.5 { agree += 1 }
            if (c.probabilityFirstAsA ?? 0) > 0.5 { asA += 1 }
            if (c.probabilitySecondAsA ?? 1) < 0.5 { asB += 1 }
            sum += c.probability
        }
        let n = Double(max(1, pairs.count))
        return JudgeAgreement(agreement: Double(agree) / n, agreementChosenAsA: Double(asA) / n, agreementChosenAsB: Double(asB) / n,
                              pairs: pairs.count, meanProbability: sum / n, byGroup: byGroup)
    }
}
