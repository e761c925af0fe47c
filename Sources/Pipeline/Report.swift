// `idpo pairs RUN report`: one self-contained HTML file (no external assets) with the per-iteration
// summary, training curves as inline SVG, and a browser of every pair with its responses, scores and
// the comparisons that decided it. All model-generated text is HTML-escaped.

import Foundation
import Checkpoints
import Optimization
import Support

public enum ReportWriter {
    /// A line chart of one or more series (x = step index across iterations) as inline SVG.
    static func svgChart(title: String, series: [(name: String, values: [Double])], width: Int = 520, height: Int = 220) -> String {
        let all = series.flatMap(\.values).filter(\.isFinite)
        guard !all.isEmpty else { return "<p>\(htmlEscape(title)): no data</p>" }
        var lo = all.min()!, hi = all.max()!
        if hi - lo < 1e-12 { lo -= 1; hi += 1 }
        let n = max(2, series.map(\.values.count).max()!)
        let left = 56.0, right = 12.0, top = 28.0, bottom = 30.0
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        func x(_ i: Int) -> Double { left + w * Double(i) / Double(n - 1) }
        func y(_ v: Double) -> Double { top + h * (1 - (v - lo) / (hi - lo)) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(width)' height='\(height)' role='img' aria-label='\(htmlEscape(title))'>"
        svg += "<text x='\(Int(left))' y='18' font-size='13' font-weight='bold'>\(htmlEscape(title))</text>"
        svg += "<line x1='\(left)' y1='\(top + h)' x2='\(left + w)' y2='\(top + h)' stroke='#999'/><line x1='\(left)' y1='\(top)' x2='\(left)' y2='\(top + h)' stroke='#999'/>"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            svg += String(format: "<text x='%.0f' y='%.1f' font-size='10' text-anchor='end'>%.3g</text>", left - 4, y(v) + 3, v)
            svg += String(format: "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#eee'/>", left, y(v), left + w, y(v))
        }
        svg += "<text x='\(Int(left + w / 2))' y='\(height - 6)' font-size='11' text-anchor='middle'>optimizer step</text>"
        for (si, s) in series.enumerated() {
            let pts = s.values.enumerated().filter { $0.element.isFinite }.map { String(format: "%.1f,%.1f", x($0.offset), y($0.element)) }
            svg += "<polyline fill='none' stroke='\(colors[si % colors.count])' stroke-width='1.8' points='\(pts.joined(separator: " "))'/>"
            svg += "<text x='\(Int(left + w - 4))' y='\(Int(top + 12 + Double(si) * 13))' font-size='11' text-anchor='end' fill='\(colors[si % colors.count])'>\(htmlEscape(s.name))</text>"
        }
        return svg + "</svg>"
    }

    public static func write(_ inspector: PairsInspector, to url: URL) throws {
        var html = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>idpo report</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px;text-align:left}
        th{background:#f4f4f4}details{border:1px solid #ddd;border-radius:6px;margin:6px 0;padding:6px 10px}
        summary{cursor:pointer}pre{white-space:pre-wrap;background:#fafafa;padding:6px;border-radius:4px;margin:4px 0}
        .chosen{border-left:4px solid #2ca02c;padding-left:6px}.rejected{border-left:4px solid #d62728;padding-left:6px}
        .other{border-left:4px solid #ccc;padding-left:6px}.charts{display:flex;flex-wrap:wrap;gap:16px}.muted{color:#777}
        </style></head><body>
        <h1>idpo report</h1><p class="muted">\(htmlEscape(inspector.source.path))</p>
        """
        // Per-iteration summary
        if !inspector.summaries.isEmpty {
            html += "<h2>Iterations</h2><table><tr><th>iteration</th><th>prompts</th><th>pairs</th><th>dropped</th><th>mean margin</th><th>final loss</th><th>win rate vs π0</th><th>oracle accuracy</th><th>mean response tokens</th><th>ended by EOS</th><th>KL(π‖π0)</th></tr>"
            for s in inspector.summaries {
                func f(_ v: Double?, _ fmt: String = "%.4f", scale: Double = 1) -> String { v.map { String(format: fmt, $0 * scale) } ?? "–" }
                html += "<tr><td>\(s.iteration)</td><td>\(s.prompts)</td><td>\(s.pairs)</td><td>\(s.dropped)</td>"
                html += "<td>\(f(s.meanMargin))</td><td>\(f(s.finalLoss))</td><td>\(f(s.winRateVsInitial, "%.1f%%", scale: 100))</td><td>\(f(s.oracleAccuracy, "%.1f%%", scale: 100))</td><td>\(f(s.meanResponseTokens, "%.1f"))</td><td>\(f(s.containEOSToken, "%.1f%%", scale: 100))</td><td>\(f(s.klFromInitial, "%.3f"))</td></tr>"
            }
            html += "</table>"
        }
        // Training curves
        let iterations = inspector.metrics.keys.sorted()
        if iterations.contains(where: { !(inspector.metrics[$0] ?? []).isEmpty }) {
            html += "<h2>Training</h2><div class='charts'>"
            let curves: [(String, (StepMetrics) -> Double)] = [("loss", \.loss), ("rewards/margins", \.rewardsMargins),
                                                               ("rewards/accuracies", \.rewardsAccuracies), ("grad_norm", \.gradNorm)]
            for (title, value) in curves {
                let series = iterations.map { t in ("iteration \(t)", (inspector.metrics[t] ?? []).map(value)) }
                html += svgChart(title: title, series: series)
            }
            html += "</div>"
        }
        // Statistics
        html += "<h2>Pairs</h2><pre>\(htmlEscape(inspector.statsText()))</pre>"
        html += "<p><input id='filter' placeholder='filter pairs by text…' size='40' oninput='filterPairs()'> <span class='muted'>\(inspector.pairs.count) pairs</span></p><div id='pairs'>"
        for p in inspector.filtered(sortBy: .iteration) {
            let r = p.record
            let margin = r.margin.map { String(format: "margin %.3f", $0) } ?? ""
            html += "<details class='pair'><summary>iteration \(r.iteration) · pair \(r.id) · \(margin) · \(htmlEscape(PairsInspector.oneLine(r.prompt.last?.content ?? "", 80)))</summary>"
            for m in r.prompt { html += "<div><b>\(htmlEscape(m.role))</b><pre>\(htmlEscape(m.content))</pre></div>" }
            for (i, text) in r.responses.enumerated() {
                let cls = i == r.chosenIndex ? "chosen" : (i == r.rejectedIndex ? "rejected" : "other")
                let label = i == r.chosenIndex ? "chosen" : (i == r.rejectedIndex ? "rejected" : "response")
                let score = r.scores.map { String(format: " · score %.4f", $0[i]) } ?? ""
                html += "<div class='\(cls)'><b>[\(i)] \(label)</b>\(score)<pre>\(htmlEscape(text))</pre></div>"
            }
            if let comparisons = p.judgment?.comparisons, !comparisons.isEmpty {
                html += "<table><tr><th>comparison</th><th>P(first ≻ second)</th><th>P(A) first as A</th><th>P(A) second as A</th></tr>"
                for c in comparisons {
                    func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "–" }
                    html += "<tr><td>[\(c.first)] vs [\(c.second)]</td><td>\(f(c.probability))</td><td>\(f(c.probabilityFirstAsA))</td><td>\(f(c.probabilitySecondAsA))</td></tr>"
                }
                html += "</table>"
            }
            html += "</details>"
        }
        html += """
        </div><script>
        function filterPairs(){var q=document.getElementById('filter').value.toLowerCase();
        document.querySelectorAll('.pair').forEach(function(d){d.style.display=d.textContent.toLowerCase().indexOf(q)>=0?'':'none';});}
        </script></body></html>
        """
        try AtomicFile.write(Data(html.utf8), to: url)
    }
}
