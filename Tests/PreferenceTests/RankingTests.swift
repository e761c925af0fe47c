// Rankings against synthetic judges of known total order, tie rules, and pair selection.

import XCTest
import Llama
@testable import Preference
import Support

final class RankingTests: XCTestCase {
    /// All permutations for small k, a few hundred seeded shuffles beyond.
    func orders(_ k: Int) -> [[Int]] {
        if k <= 6 {
            var out: [[Int]] = []
            func permute(_ prefix: [Int], _ rest: [Int]) {
                if rest.isEmpty { out.append(prefix); return }
                for (i, x) in rest.enumerated() { var r = rest; r.remove(at: i); permute(prefix + [x], r) }
            }
            permute([], Array(0..<k))
            return out
        }
        var rng = SplitMix64(seed: UInt64(k))
        return (0..<300).map { _ in Array(0..<k).shuffled(using: &rng) }
    }

    /// quality[i] is the rank of response i; the judge prefers higher quality with P = 0.9.
    func judge(_ quality: [Int], counter: UnsafeMutablePointer<Int>) -> ClosureComparisons {
        ClosureComparisons { i, j in counter.pointee += 1; return quality[i] > quality[j] ? 0.9 : 0.1 }
    }

    func testKnockoutFindsBestAndWorstWithinOnePointFiveK() throws {
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { counter.deallocate() }
        for k in 2...16 {
            var most = 0
            for quality in orders(k) {
                counter.pointee = 0
                let r = try Ranking.knockout(count: k, judge: judge(quality, counter: counter))
                XCTAssertEqual(r.best, quality.firstIndex(of: k - 1), "k=\(k) order \(quality)")
                XCTAssertEqual(r.worst, quality.firstIndex(of: 0), "k=\(k) order \(quality)")
                XCTAssertEqual(counter.pointee, r.comparisons.count)
                most = max(most, counter.pointee)
            }
            XCTAssertLessThanOrEqual(most, Int((1.5 * Double(k)).rounded(.up)), "k=\(k)")
            if k == 8 { XCTAssertLessThanOrEqual(most, 11) }
        }
    }

    func testKingOfTheHillFindsBestAndWorstWithinTwoKMinusTwo() throws {
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { counter.deallocate() }
        for k in 2...16 {
            for quality in orders(k) {
                counter.pointee = 0
                let r = try Ranking.kingOfTheHill(count: k, judge: judge(quality, counter: counter))
                XCTAssertEqual(r.best, quality.firstIndex(of: k - 1))
                XCTAssertEqual(r.worst, quality.firstIndex(of: 0))
                XCTAssertLessThanOrEqual(counter.pointee, max(1, 2 * k - 2), "k=\(k)")
            }
        }
    }

    func testRoundRobinMatrixIsComplementaryAndRanksCorrectly() throws {
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { counter.deallocate() }
        var rng = SplitMix64(seed: 3)
        for k in [2, 5, 8] {
            let quality = Array(0..<k).shuffled(using: &rng)
            counter.pointee = 0
            let r = try Ranking.roundRobin(count: k, judge: judge(quality, counter: counter))
            XCTAssertEqual(counter.pointee, k * (k - 1) / 2)
            let P = try XCTUnwrap(r.probabilityMatrix)
            for i in 0..<k { for j in 0..<k { XCTAssertEqual(P[i][j] + P[j][i], 1, accuracy: 1e-12) } }
            XCTAssertEqual(r.best, quality.firstIndex(of: k - 1))
            XCTAssertEqual(r.worst, quality.firstIndex(of: 0))
            XCTAssertEqual(r.scores?[r.best!], 1)
        }
    }

    func testTiesGoToTheFirstListedAndAllTiesDropThePrompt() throws {
        // Identical responses: the PM returns 0.5 up to rounding (0.49999999999999994).
        let allTied = ClosureComparisons { _, _ in 0.49999999999999994 }
        for r in [try Ranking.knockout(count: 4, judge: allTied), try Ranking.kingOfTheHill(count: 4, judge: allTied)] {
            XCTAssertNil(r.best)
            XCTAssertNotNil(r.dropReason)
        }
        XCTAssertNil(try Ranking.roundRobin(count: 4, judge: allTied).best)
        // 0 and 1 tie, both beat 2: the tie goes to 0 (first listed).
        let quality = [1.0, 1.0, 0.0]
        let j = ClosureComparisons { a, b in quality[a] == quality[b] ? 0.5 : (quality[a] > quality[b] ? 0.8 : 0.2) }
        let r = try Ranking.knockout(count: 3, judge: j)
        XCTAssertEqual(r.best, 0)
        XCTAssertEqual(r.worst, 2)
        let s = Ranking.fromScores([0.3, 0.9, 0.9, 0.1, 0.1])
        XCTAssertEqual(s.best, 1, "first of the tied best")
        XCTAssertEqual(s.worst, 4, "last of the tied worst")
    }

    func testNonTransitiveJudgeNeverCrashes() throws {
        var rng = SplitMix64(seed: 9)
        for k in 2...12 {
            let noise = (0..<(k * k)).map { _ in Double(rng.nextUnitFloat()) }
            let j = ClosureComparisons { a, b in a < b ? noise[a * k + b] : 1 - noise[b * k + a] }
            for r in [try Ranking.knockout(count: k, judge: j), try Ranking.kingOfTheHill(count: k, judge: j)] {
                if let b = r.best, let w = r.worst { XCTAssertNotEqual(b, w) }
            }
        }
    }

    func testPairSelectionStrategies() throws {
        var rng = SplitMix64(seed: 1)
        let ranking = Ranking.fromScores([0.2, 0.9, 0.5, 0.1])
        func pick(_ s: PairSelection, lengths: [Int] = [10, 10, 10, 10], lambda: Double = 0) throws -> SelectedPair? {
            try s.select(ranking, lengths: lengths, lambda: lambda, rng: &rng).pair
        }
        XCTAssertEqual(try pick(.maxMin)?.chosen, 1)
        XCTAssertEqual(try pick(.maxMin)?.rejected, 3)
        XCTAssertEqual(try pick(.maxMax)?.rejected, 2)
        for _ in 0..<20 {
            let p = try XCTUnwrap(try pick(.maxRandom))
            XCTAssertEqual(p.chosen, 1); XCTAssertNotEqual(p.rejected, 1)
            let q = try XCTUnwrap(try pick(.random))
            XCTAssertGreaterThan(q.chosenScore!, q.rejectedScore!)
        }
        // Length penalty: response 1 is long, so 2 wins after the penalty.
        let lp = try XCTUnwrap(try pick(.maxMinLengthPenalty, lengths: [10, 100, 10, 10], lambda: 0.01))
        XCTAssertEqual(lp.chosen, 2)
        // Equal scores never make a pair.
        XCTAssertNil(try PairSelection.maxMax.select(Ranking.fromScores([0.5, 0.5, 0.1]), lengths: [1, 1, 1], rng: &rng).pair)
        // Tournaments give no scores: only max_min is possible.
        let ko = try Ranking.knockout(count: 4, judge: ClosureComparisons { a, b in a < b ? 0.9 : 0.1 })
        XCTAssertEqual(try PairSelection.maxMin.select(ko, lengths: [1, 1, 1, 1], rng: &rng).pair?.chosen, 0)
        XCTAssertThrowsError(try PairSelection.maxMax.select(ko, lengths: [1, 1, 1, 1], rng: &rng))
    }
}
