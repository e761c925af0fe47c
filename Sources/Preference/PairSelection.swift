// Choosing the (chosen, rejected) pair of one prompt from its ranking (RLHFlow's `choose_type`).

import Foundation
import Llama
import Support

public enum PairSelection: String, Codable, CaseIterable, Sendable {
    /// best vs worst (the online loop's default)
    case maxMin = "max_min"
    /// best vs second best
    case maxMax = "max_max"
    /// best vs a random other response
    case maxRandom = "max_random"
    /// two random distinct responses, the higher-scored one chosen
    case random
    /// argmax / argmin of score − λ · length (counters length bias)
    case maxMinLengthPenalty = "max_min_length_penalty"

    /// Whether this strategy needs a score for every response (tournaments give only best/worst).
    public var needsScores: Bool { self != .maxMin }
}

public struct SelectedPair: Codable, Equatable, Sendable {
    public let chosen: Int
    public let rejected: Int
    public let chosenScore: Double?
    public let rejectedScore: Double?
}

public enum PairSelectionError: Error, CustomStringConvertible {
    case needsScores(PairSelection, RankingMethod)
    public var description: String {
        switch self {
        case let .needsScores(s, m):
            return "pair selection '\(s.rawValue)' needs a score per response, which ranking '\(m.rawValue)' does not give (use round-robin or a reward model, or max_min)"
        }
    }
}

extension PairSelection {
    /// The pair for one prompt, or nil (with the reason) when none may be emitted — in particular
    /// never a pair whose two scores are equal, and never chosen == rejected.
    /// `lengths` (tokens per response) and `lambda` serve the length penalty; `rng` the random ones.
    public func select(_ ranking: RankingResult, lengths: [Int], lambda: Double = 0,
                       rng: inout SplitMix64) throws -> (pair: SelectedPair?, dropReason: DropReason?) {
        if self == .maxMin && ranking.scores == nil {
            guard let b = ranking.best, let w = ranking.worst else { return (nil, ranking.dropReason ?? .bestIsWorst) }
            return (SelectedPair(chosen: b, rejected: w, chosenScore: nil, rejectedScore: nil), nil)
        }
        guard let scores = ranking.scores else { throw PairSelectionError.needsScores(self, ranking.method) }
        let k = scores.count
        guard k >= 2 else { return (nil, .fewerThanTwoResponses) }
        func argmax(_ v: [Double], excluding: Int? = nil) -> Int {
            var best = -1
            for i in 0..<v.count where i != excluding { if best < 0 || v[i] > v[best] { best = i } }
            return best
        }
        func argmin(_ v: [Double]) -> Int {
            var w = 0
            for i in 1..<v.count where v[i] <= v[w] { w = i }
            return w
        }
        var chosen: Int, rejected: Int
        switch self {
        case .maxMin:
            chosen = argmax(scores); rejected = argmin(scores)
        case .maxMax:
            chosen = argmax(scores); rejected = argmax(scores, excluding: chosen)
        case .maxRandom:
            chosen = argmax(scores)
            var r = Int(rng.next() % UInt64(k - 1))
            if r >= chosen { r += 1 }
            rejected = r
        case .random:
            let a = Int(rng.next() % UInt64(k))
            var b = Int(rng.next() % UInt64(k - 1))
            if b >= a { b += 1 }
            (chosen, rejected) = scores[a] >= scores[b] ? (a, b) : (b, a)
        case .maxMinLengthPenalty:
            precondition(lengths.count == k)
            let penalised = (0..<k).map { scores[$0] - lambda * Double(lengths[$0]) }
            chosen = argmax(penalised); rejected = argmin(penalised)
            if penalised[chosen] == penalised[rejected] || chosen == rejected {
                return (nil, .equalAfterLengthPenalty)
            }
            return (SelectedPair(chosen: chosen, rejected: rejected, chosenScore: scores[chosen], rejectedScore: scores[rejected]), nil)
        }
        if chosen == rejected || scores[chosen] == scores[rejected] {
            return (nil, .chosenEqualsRejected)
        }
        return (SelectedPair(chosen: chosen, rejected: rejected, chosenScore: scores[chosen], rejectedScore: scores[rejected]), nil)
    }
}
