// Rankings of k responses from pairwise preference probabilities (knockout, king of the hill,
// round robin) or from scalar scores, with every comparison recorded.
//
// Tie rule (everywhere): a probability within `tieTolerance` of 0.5 is a tie, and a tie goes to the
// first-listed response (lower index) — it counts as the better one. Comparisons are memoised and
// P(j ≻ i) = 1 − P(i ≻ j), which is exact for a position-swapped pairwise judge.

import Foundation

/// |P − 0.5| below this is a tie (the seed's `avg == 0.5` test is fragile in floating point).
public let tieTolerance = 1e-6

/// One judged comparison: P(first ≻ second), and the raw per-order probabilities when the judge
/// reports them (P(A) with `first` shown as A, and P(A) with `second` shown as A).
public struct RecordedComparison: Codable, Equatable, Sendable {
    public let first: Int
    public let second: Int
    public let probability: Double
    public let probabilityFirstAsA: Double?
    public let probabilitySecondAsA: Double?
    /// Keys of a judgments file's comparisons.
    enum CodingKeys: String, CodingKey {
        case first, second, probability = "p_first_better"
        case probabilityFirstAsA = "p_a_first_shown_as_a", probabilitySecondAsA = "p_a_second_shown_as_a"
    }
    public init(first: Int, second: Int, probability: Double, probabilityFirstAsA: Double? = nil, probabilitySecondAsA: Double? = nil) {
        self.first = first; self.second = second; self.probability = probability
        self.probabilityFirstAsA = probabilityFirstAsA; self.probabilitySecondAsA = probabilitySecondAsA
    }
}

/// Something that can compare two responses of one prompt: returns the recorded comparison of i vs j.
public protocol ComparisonSource {
    mutating func compare(_ i: Int, _ j: Int) throws -> RecordedComparison
}

/// A comparison source from a closure (tests, synthetic judges).
public struct ClosureComparisons: ComparisonSource {
    let body: (Int, Int) throws -> Double
    public init(_ body: @escaping (Int, Int) throws -> Double) { self.body = body }
    public mutating func compare(_ i: Int, _ j: Int) throws -> RecordedComparison {
        RecordedComparison(first: i, second: j, probability: try body(i, j))
    }
}

public enum RankingMethod: String, Codable, CaseIterable, Sendable {
    case knockout
    case kingOfTheHill = "king-of-the-hill"
    case roundRobin = "round-robin"
    case scores
}

/// Why a prompt gives no preference pair.
public enum DropReason: Equatable, Sendable, CustomStringConvertible {
    case fewerThanTwoResponses
    /// Every response has the same score (reward model, GPM, round robin).
    case allScoredEqual
    /// A tournament's champion is also its loser (k = 1 after ties).
    case bestIsWorst
    /// The knockout's final check P(best ≻ worst) is within the tie tolerance of ½.
    case finalCheckFailed(probability: Double)
    /// The selection rule's chosen and rejected scored equal.
    case chosenEqualsRejected
    /// The length penalty left every response with the same penalised score.
    case equalAfterLengthPenalty

    /// The reason without its figure: the key drops are counted under.
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case fewerThanTwoResponses = "fewer than 2 responses"
        case allScoredEqual = "all responses scored equal"
        case bestIsWorst = "best and worst are the same response"
        case finalCheckFailed = "final check failed"
        case chosenEqualsRejected = "chosen and rejected scored equal"
        case equalAfterLengthPenalty = "all responses scored equal after the length penalty"
    }

    public var kind: Kind {
        switch self {
        case .fewerThanTwoResponses: return .fewerThanTwoResponses
        case .allScoredEqual: return .allScoredEqual
        case .bestIsWorst: return .bestIsWorst
        case .finalCheckFailed: return .finalCheckFailed
        case .chosenEqualsRejected: return .chosenEqualsRejected
        case .equalAfterLengthPenalty: return .equalAfterLengthPenalty
        }
    }

    /// The figure behind the reason, where it has one (the final check's P(best ≻ worst)).
    public var probability: Double? { if case .finalCheckFailed(let p) = self { return p } else { return nil } }

    /// The reason from its kind and figure (as a judgments file stores them).
    public init?(kind: Kind, probability: Double?) {
        switch kind {
        case .fewerThanTwoResponses: self = .fewerThanTwoResponses
        case .allScoredEqual: self = .allScoredEqual
        case .bestIsWorst: self = .bestIsWorst
        case .finalCheckFailed:
            guard let probability else { return nil }
            self = .finalCheckFailed(probability: probability)
        case .chosenEqualsRejected: self = .chosenEqualsRejected
        case .equalAfterLengthPenalty: self = .equalAfterLengthPenalty
        }
    }

    /// "final check failed: P(best ≻ worst) = 0.473100", or the kind's text.
    public var description: String {
        if case .finalCheckFailed(let p) = self { return String(format: "final check failed: P(best ≻ worst) = %.6f", p) }
        return kind.rawValue
    }
}

/// The outcome for one prompt's k responses.
public struct RankingResult: Equatable, Sendable {
    public var method: RankingMethod
    public var best: Int?
    public var worst: Int?
    /// Why no (best, worst) pair exists, when it does not.
    public var dropReason: DropReason?
    /// Per-response scores where the method defines them (round-robin win rates, reward scores).
    public var scores: [Double]?
    /// Round robin: P[i][j] = P(i ≻ j), with P[i][i] = 0.5.
    public var probabilityMatrix: [[Double]]?
    /// Every comparison asked of the judge, in order.
    public var comparisons: [RecordedComparison]
}

/// Memoises comparisons of one prompt and keeps the log.
struct ComparisonLog<Source: ComparisonSource> {
    var source: Source
    var log: [RecordedComparison] = []
    var memo: [Int: Double] = [:]     // key i * 65536 + j → P(i ≻ j)

    mutating func p(_ i: Int, _ j: Int) throws -> Double {
        if let v = memo[i << 16 | j] { return v }
        let c = try source.compare(i, j)
        log.append(c)
        memo[i << 16 | j] = c.probability
        memo[j << 16 | i] = 1 - c.probability
        return c.probability
    }

    /// Does i beat-or-tie j? (ties go to i only when i is listed first)
    mutating func iIsBetter(_ i: Int, _ j: Int) throws -> Bool {
        let v = try p(i, j)
        if abs(v - 0.5) < tieTolerance { return i < j }
        return v > 0.5
    }
}

public enum Ranking {
    /// Knockout (INPO): pairs (0,1), (2,3), … — the winners' bracket gives the best, a losers' bracket
    /// of the first-round losers (plus a bye entrant) gives the worst, then a final check
    /// P(best ≻ worst) > 0.5 or the prompt yields no pair. Costs ≤ (k − 1) + (⌈k/2⌉ − 1) + 1 ≤ 1.5k.
    public static func knockout<S: ComparisonSource>(count k: Int, judge: S) throws -> RankingResult {
        var log = ComparisonLog(source: judge)
        guard k >= 2 else { return RankingResult(method: .knockout, dropReason: .fewerThanTwoResponses, comparisons: []) }
        var round = Array(0..<k)
        var firstRoundLosers: [Int] = []
        var firstRound = true
        while round.count > 1 {
            var next: [Int] = []
            var i = 0
            while i + 1 < round.count {
                let a = round[i], b = round[i + 1]
                let aWins = try log.iIsBetter(a, b)
                next.append(aWins ? a : b)
                if firstRound { firstRoundLosers.append(aWins ? b : a) }
                i += 2
            }
            if i < round.count {                       // bye
                next.append(round[i])
                if firstRound { firstRoundLosers.append(round[i]) }
            }
            firstRound = false
            round = next
        }
        let best = round[0]
        // Losers' bracket: the worse of each pair advances.
        var losers = firstRoundLosers.sorted()
        while losers.count > 1 {
            var next: [Int] = []
            var i = 0
            while i + 1 < losers.count {
                let a = losers[i], b = losers[i + 1]
                next.append(try log.iIsBetter(a, b) ? b : a)
                i += 2
            }
            if i < losers.count { next.append(losers[i]) }
            losers = next
        }
        return try finish(.knockout, best: best, worst: losers[0], log: &log)
    }

    /// King of the hill: a linear scan keeps the best so far (a challenger must strictly win), and
    /// another keeps the worst so far. ≤ 2k − 2 comparisons (memoised pairs are not asked again).
    public static func kingOfTheHill<S: ComparisonSource>(count k: Int, judge: S) throws -> RankingResult {
        var log = ComparisonLog(source: judge)
        guard k >= 2 else { return RankingResult(method: .kingOfTheHill, dropReason: .fewerThanTwoResponses, comparisons: []) }
        var best = 0, worst = 0
        for i in 1..<k {
            if try !log.iIsBetter(best, i) { best = i }
            if try log.iIsBetter(worst, i) { worst = i }
        }
        return try finish(.kingOfTheHill, best: best, worst: worst, log: &log)
    }

    /// Round robin: all k(k − 1)/2 pairs; P[i][j] kept (for SPPO targets); a win scores 1, a tie 0.5;
    /// score = wins / (k − 1). Best = highest score (first-listed on ties), worst = lowest (last-listed
    /// on ties). Equal best and worst scores drop the prompt.
    public static func roundRobin<S: ComparisonSource>(count k: Int, judge: S) throws -> RankingResult {
        var log = ComparisonLog(source: judge)
        guard k >= 2 else { return RankingResult(method: .roundRobin, dropReason: .fewerThanTwoResponses, comparisons: []) }
        var P = [[Double]](repeating: [Double](repeating: 0.5, count: k), count: k)
        var wins = [Double](repeating: 0, count: k)
        for i in 0..<k {
            for j in (i + 1)..<k {
                let p = try log.p(i, j)
                P[i][j] = p; P[j][i] = 1 - p
                if abs(p - 0.5) < tieTolerance { wins[i] += 0.5; wins[j] += 0.5 }
                else if p > 0.5 { wins[i] += 1 } else { wins[j] += 1 }
            }
        }
        let scores = wins.map { $0 / Double(k - 1) }
        var result = fromScores(scores, method: .roundRobin)
        result.probabilityMatrix = P
        result.comparisons = log.log
        return result
    }

    /// Best = argmax of scores (first on ties), worst = argmin (last on ties); no pair when the
    /// best and worst scores are equal (never chosen == rejected by score).
    public static func fromScores(_ scores: [Double], method: RankingMethod = .scores) -> RankingResult {
        guard scores.count >= 2 else {
            return RankingResult(method: method, dropReason: .fewerThanTwoResponses, scores: scores, comparisons: [])
        }
        var best = 0, worst = 0
        for i in 1..<scores.count {
            if scores[i] > scores[best] { best = i }
            if scores[i] <= scores[worst] { worst = i }
        }
        let tied = scores[best] == scores[worst]
        return RankingResult(method: method, best: tied ? nil : best, worst: tied ? nil : worst,
                             dropReason: tied ? .allScoredEqual : nil, scores: scores, comparisons: [])
    }

    static func finish<S>(_ method: RankingMethod, best: Int, worst: Int, log: inout ComparisonLog<S>) throws -> RankingResult {
        if best == worst {
            return RankingResult(method: method, dropReason: .bestIsWorst, comparisons: log.log)
        }
        let p = try log.p(best, worst)
        if p - 0.5 < tieTolerance {
            return RankingResult(method: method, dropReason: .finalCheckFailed(probability: p),
                                 comparisons: log.log)
        }
        return RankingResult(method: method, best: best, worst: worst, comparisons: log.log)
    }
}
