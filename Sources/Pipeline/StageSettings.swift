// The rules of the generation and judging stages' settings, and the judging defaults, stated once:
// `idpo generate`, `idpo judge` and a recipe's generation, prompts, judge and pairs sections all
// take their defaults and checks from here (README.md, "Defaults").

import Optimization
import Preference

extension GenerationStageSettings {
    /// Each generation setting on its own (`k`, `temperature`, `top_p`, `top_k`, `max_new_tokens`,
    /// `max_prompt_tokens`), named through `name`.
    public func rangeIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.require("k", samplesPerPrompt, "≥ 1") { $0 >= 1 }
        issues.require("temperature", sampling.temperature, "≥ 0", hint: "0 is greedy decoding; RLHFlow samples at 1.0") { $0 >= 0 }
        issues.require("top_p", sampling.topP, "in (0, 1]", hint: "top_p is a probability mass; 1.0 keeps every token") { $0 > 0 && $0 <= 1 }
        issues.require("top_k", sampling.topK, "≥ 0", hint: "0 keeps every token") { $0 >= 0 }
        issues.require("max_new_tokens", maxNewTokens, "≥ 1") { $0 >= 1 }
        issues.require("max_prompt_tokens", maxPromptTokens, "≥ 1") { $0 >= 1 }
        return issues.list
    }
}

/// How the judge reads and ranks responses and which pair is kept. Its defaults are those of
/// `idpo judge` and of a recipe's judge and pairs sections.
public struct JudgeSettings: Equatable, Sendable {
    public var kind: JudgeKind = .pairwise
    /// Softmax temperature of the pairwise A/B logits.
    public var temperature = 1.0
    /// GPM temperature τ in P(i ≻ j) = σ(s / τ).
    public var tau = 0.1
    public var stripBOS: BOSStripping = .all
    /// How a GPM judge reads the conversation (the GPM repository's ranker or its example).
    public var gpmInput: GPMInput = .ranker
    public var selection: PairSelection = .maxMin
    /// λ of `max_min_length_penalty` (score − λ·length).
    public var lengthPenalty = 0.0
    public init() {}

    /// The ranking a judge of `kind` uses unless told: a knockout for a pairwise judge, its scores otherwise.
    public static func defaultRanking(for kind: JudgeKind) -> RankingMethod { kind == .pairwise ? .knockout : .scores }

    /// Each setting on its own (`temperature`, `tau`, `length_penalty`), named through `name`.
    public func rangeIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.require("temperature", temperature, "> 0") { $0 > 0 }
        issues.require("tau", tau, "> 0") { $0 > 0 }
        issues.require("length_penalty", lengthPenalty, "≥ 0") { $0 >= 0 }
        return issues.list
    }
}
