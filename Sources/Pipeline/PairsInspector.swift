// Inspecting what the loop trained on: pairs of a run (or one pairs file) with their judgments —
// listing with filters and sorting, one pair in full with the comparisons that decided it,
// statistics (drops, margins, length bias), and a self-contained HTML report with SVG plots.

import Foundation
import Checkpoints
import Optimization
import Support

public struct InspectedPair {
    public var record: PairRecord
    /// The judgment line of this prompt (comparisons, scores, drop reason), when available.
    public var judgment: JudgmentRecord?
    public var chosenTokens: Int { record.chosen.split(whereSeparator: \.isWhitespace).count }
    public var rejectedTokens: Int { record.rejected.split(whereSeparator: \.isWhitespace).count }
    /// A pairwise judge's P(chosen ≻ rejected): its comparison of the two (the knockout's final
    /// check), from the judgment line; nil without one.
    public var judgeConfidence: Double? { judgment?.probability(record.chosenIndex, over: record.rejectedIndex) }
}

public final class PairsInspector {
    public let source: URL
    public private(set) var pairs: [InspectedPair] = []
    /// Judgment lines per iteration (dropped prompts included).
    public private(set) var judgments: [Int: [JudgmentRecord]] = [:]
    /// metrics.jsonl step lines per iteration.
    public private(set) var metrics: [Int: [StepMetrics]] = [:]
    public private(set) var summaries: [IterationSummary] = []

    /// Reads a run directory (all iter-*/pairs.jsonl, judgments, metrics, summary.json) or a pairs file.
    public init(path: URL) throws {
        source = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDir) else {
            throw RunError("\(path.path): no such run directory or pairs file")
        }
        if !isDir.boolValue {
            pairs = try PairRecord.read(path).map { InspectedPair(record: $0, judgment: nil) }
            return
        }
        let iterations = (try FileManager.default.contentsOfDirectory(atPath: path.path))
            .compactMap { $0.hasPrefix("iter-") ? Int($0.dropFirst(5)) : nil }.filter { $0 > 0 }.sorted()
        guard !iterations.isEmpty else { throw RunError("\(path.path) has no iter-*/ folders; give a run directory or a pairs .jsonl file") }
        for t in iterations {
            let dir = path.appendingPathComponent("iter-\(t)")
            let js = (try? JSONLines.read(JudgmentRecord.self, from: dir.appendingPathComponent("judgments.jsonl")).map(\.record)) ?? []
            judgments[t] = js
            let byID = Dictionary(js.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            if let records = try? PairRecord.read(dir.appendingPathComponent("pairs.jsonl")) {
                pairs += records.map { var r = $0; r.iteration = t; return InspectedPair(record: r, judgment: byID[$0.id]) }
            }
            metrics[t] = (try? JSONLines.read(MetricsLine.self, from: dir.appendingPathComponent("metrics.jsonl")).compactMap(\.record.step)) ?? []
        }
        if let data = try? Data(contentsOf: path.appendingPathComponent("summary.json")),
           let list = try? JSONFormat.decoder.decode([IterationSummary].self, from: data) { summaries = list }
    }

    public enum SortKey: String, CaseIterable { case id, iteration, margin, confidence, length }

    public func filtered(iteration: Int? = nil, minMargin: Double? = nil, contains text: String? = nil,
                         sortBy: SortKey = .iteration, descending: Bool = false) -> [InspectedPair] {
        var out = pairs.filter { p in
            (iteration == nil || p.record.iteration == iteration) &&
            (minMargin == nil || (p.record.margin ?? -.infinity) >= minMargin!) &&
            (text == nil || p.record.prompt.contains { $0.content.localizedCaseInsensitiveContains(text!) }
                || p.record.chosen.localizedCaseInsensitiveContains(text!) || p.record.rejected.localizedCaseInsensitiveContains(text!))
        }
        out.sort { a, b in
            switch sortBy {
            case .id: return (a.record.iteration, a.record.id) < (b.record.iteration, b.record.id)
            case .iteration: return (a.record.iteration, a.record.id) < (b.record.iteration, b.record.id)
            case .margin: return (a.record.margin ?? -.infinity) < (b.record.margin ?? -.infinity)
            case .confidence: return (a.judgeConfidence ?? -.infinity) < (b.judgeConfidence ?? -.infinity)
            case .length: return a.chosenTokens - a.rejectedTokens < b.chosenTokens - b.rejectedTokens
            }
        }
        return descending ? out.reversed() : out
    }

    static func oneLine(_ s: String, _ width: Int) -> String {
        let flat = s.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "\t", with: " ")
        return flat.count > width ? String(flat.prefix(width - 1)) + "…" : flat.padding(toLength: width, withPad: " ", startingAt: 0)
    }

    public func listTable(_ list: [InspectedPair]) -> String {
        var lines = ["iter  id     margin   words c/r  prompt                          chosen                    rejected"]
        for p in list {
            let r = p.record
            // the margin cell padded by characters ("–" is one column, three UTF-8 bytes)
            let margin = r.margin.map { String(format: "%.3f", $0) } ?? "–"
            lines.append(String(format: "%4d  %-5d  ", r.iteration, r.id) + String(repeating: " ", count: max(0, 7 - margin.count)) + margin
                         + String(format: "  %4d/%-4d  ", p.chosenTokens, p.rejectedTokens)
                         + Self.oneLine(r.prompt.last?.content ?? "", 30) + "  " + Self.oneLine(r.chosen, 24) + "  " + Self.oneLine(r.rejected, 24))
        }
        return lines.joined(separator: "\n")
    }

    public func show(id: Int, iteration: Int?) throws -> String {
        guard let p = pairs.first(where: { $0.record.id == id && (iteration == nil || $0.record.iteration == iteration) }) else {
            throw RunError("no pair with id \(id)\(iteration.map { " in iteration \($0)" } ?? "") in \(source.path)")
        }
        let r = p.record
        var out = ["pair \(r.id) (iteration \(r.iteration))", "", "prompt:"]
        for m in r.prompt { out.append("  [\(m.role)] \(m.content)") }
        out.append("")
        out.append("responses (★ chosen, ✗ rejected):")
        for (i, text) in r.responses.enumerated() {
            let mark = i == r.chosenIndex ? "★" : (i == r.rejectedIndex ? "✗" : " ")
            let score = r.scores.map { String(format: "  score %.4f", $0[i]) } ?? ""
            out.append("  \(mark) [\(i)]\(score)  \(text.replacingOccurrences(of: "\n", with: "\n        "))")
        }
        if let j = p.judgment {
            out.append("")
            out.append("ranking: \(j.ranking.rawValue)  best \(j.best ?? -1)  worst \(j.worst ?? -1)")
            for c in j.comparisons {
                let f = c.first, s = c.second
                var line = String(format: "  [%d] vs [%d]: P([%d] ≻ [%d]) = %.4f", f, s, f, s, c.probability)
                if let a = c.probabilityFirstAsA, let b = c.probabilitySecondAsA {
                    line += String(format: "   (P(A) with [%d] as A %.4f, with [%d] as A %.4f)", f, a, s, b)
                }
                out.append(line)
            }
        }
        if let m = r.margin { out.append(String(format: "\nchosen_reward %.4f  rejected_reward %.4f  margin %.4f", r.chosenReward!, r.rejectedReward!, m)) }
        return out.joined(separator: "\n")
    }

    public struct Stats {
        public var prompts = 0
        public var pairs = 0
        public var dropped: [String: Int] = [:]
        public var margins: [Double] = []
        public var meanChosenWords = 0.0
        public var meanRejectedWords = 0.0
        public var chosenLongerFraction = 0.0
        /// True when the chosen response is longer in clearly more than half of the pairs.
        public var lengthBiasWarning: Bool { pairs >= 10 && chosenLongerFraction > 0.65 }
    }

    public func stats(iteration: Int? = nil) -> Stats {
        var s = Stats()
        let list = filtered(iteration: iteration)
        s.pairs = list.count
        for (t, js) in judgments where iteration == nil || t == iteration {
            s.prompts += js.count
            for j in js { if let reason = j.dropReason { s.dropped[reason.rawValue, default: 0] += 1 } }
        }
        if judgments.isEmpty { s.prompts = list.count }
        s.margins = list.compactMap(\.record.margin)
        if !list.isEmpty {
            s.meanChosenWords = Double(list.map(\.chosenTokens).reduce(0, +)) / Double(list.count)
            s.meanRejectedWords = Double(list.map(\.rejectedTokens).reduce(0, +)) / Double(list.count)
            s.chosenLongerFraction = Double(list.filter { $0.chosenTokens > $0.rejectedTokens }.count) / Double(list.count)
        }
        return s
    }

    public func statsText(iteration: Int? = nil) -> String {
        let s = stats(iteration: iteration)
        var out: [String]
        if judgments.isEmpty {   // a bare pairs file says nothing of the prompts the judge dropped
            out = ["pairs kept:     \(s.pairs)",
                   "dropped:        unknown (a pairs file lists kept pairs only; give the run directory to see the judgments)"]
        } else {
            out = ["prompts judged: \(s.prompts)", "pairs kept:     \(s.pairs)",
                   "dropped:        \(s.dropped.values.reduce(0, +))" + (s.dropped.isEmpty ? "" : " (" + s.dropped.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")]
        }
        out.append(String(format: "length (words): chosen %.1f, rejected %.1f; chosen longer in %.0f%% of pairs",
                          s.meanChosenWords, s.meanRejectedWords, 100 * s.chosenLongerFraction))
        if s.lengthBiasWarning {
            out.append("warning: the chosen response is systematically longer — the judge may reward length; consider pairs.selection max_min_length_penalty")
        }
        if let lo = s.margins.min(), let hi = s.margins.max(), hi - lo < 1e-9 {
            out.append(String(format: "margins: all %d equal to %.4f", s.margins.count, lo))
        } else if !s.margins.isEmpty {
            out.append("margin histogram:")
            let lo = s.margins.min()!, hi = s.margins.max()!, bins = 10
            let width = max((hi - lo) / Double(bins), 1e-12)
            var counts = [Int](repeating: 0, count: bins)
            for m in s.margins { counts[min(bins - 1, Int((m - lo) / width))] += 1 }
            let top = counts.max()!
            for (i, c) in counts.enumerated() {
                out.append(String(format: "  %9.3f … %9.3f  %4d  ", lo + Double(i) * width, lo + Double(i + 1) * width, c)
                           + String(repeating: "█", count: top > 0 ? c * 40 / top : 0))
            }
        }
        return out.joined(separator: "\n")
    }
}
