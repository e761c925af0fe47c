// `idpo pairs RUN report`: one self-contained HTML file (no external assets) with the per-iteration
// summary and outcome plots (oracle accuracy, win rates, KL), training curves, a browser of every
// pair (sortable, filterable by margin, judge confidence and text) with its responses and the
// comparisons that decided it, and the dropped prompts grouped by reason. Charts are inline SVG
// (ReportCharts.swift); all model-generated text is HTML-escaped.

import Foundation
import Checkpoints
import Optimization
import Support


public enum ReportWriter {
    /// Writes the report of `inspector` to `url`. The pairs browser takes its initial state from the
    /// URL fragment, keys named as its controls: `#sort=confidence&desc=1&minMargin=0.5&minConfidence=0.7&filter=text&reason=no%20pair`.
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
        .controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;font-size:13px;margin:8px 0}
        </style></head><body>
        <h1>idpo report</h1><p class="muted">\(htmlEscape(inspector.source.path))</p>
        """
        html += iterations(inspector.summaries) + training(inspector.metrics) + pairs(inspector) + dropped(inspector.judgments)
        html += "<script>\(script)</script></body></html>"
        try AtomicFile.write(Data(html.utf8), to: url)
    }

    static func charts(_ list: [SVGChart]) -> String {
        "<div class='charts'>" + list.filter { !$0.series.isEmpty }.map { $0.svg() }.joined() + "</div>"
    }

    static let percent: (Double) -> String = { String(format: "%g%%", $0) }

    /// The per-iteration table and the outcome plots over iterations.
    static func iterations(_ summaries: [Summary]) -> String {
        guard !summaries.isEmpty else { return "" }
        var html = "<h2>Iterations</h2><table><tr><th>iteration</th><th>prompts</th><th>pairs</th><th>dropped</th><th>mean margin</th><th>final loss</th><th>win rate vs π0</th><th>win rate vs π(t−1)</th><th>oracle accuracy</th><th>mean response tokens</th><th>ended by EOS</th><th>KL(π‖π0)</th></tr>"
        for s in summaries {
            func f(_ k: String, _ fmt: String = "%.4f", scale: Double = 1) -> String { figure(s, k).map { String(format: fmt, $0 * scale) } ?? "–" }
            html += "<tr><td>\(count(s, "iteration"))</td><td>\(count(s, "prompts"))</td><td>\(count(s, "pairs"))</td><td>\(count(s, "dropped"))</td>"
            html += "<td>\(f("meanMargin"))</td><td>\(f("finalLoss"))</td><td>\(f("winRateVsInitial", "%.1f%%", scale: 100))</td><td>\(f("winRateVsPrevious", "%.1f%%", scale: 100))</td><td>\(f("oracleAccuracy", "%.1f%%", scale: 100))</td><td>\(f("meanResponseTokens", "%.1f"))</td><td>\(f("containEOSToken", "%.1f%%", scale: 100))</td><td>\(f("klFromInitial", "%.3f"))</td></tr>"
        }
        html += "</table>"
        // Which policy sampled each iteration and what it trained (a full model or a LoRA adapter).
        let policies = summaries.compactMap { s -> String? in
            guard case .string(let by)? = field(s, "sampledBy") else { return nil }
            var line = "<tr><td>\(count(s, "iteration"))</td><td>\(htmlEscape(by))</td>"
            if case .string(let trained)? = field(s, "trainedPolicy") { line += "<td>\(htmlEscape(trained))</td>" } else { line += "<td>–</td>" }
            return line + "</tr>"
        }
        if !policies.isEmpty {
            html += "<table><tr><th>iteration</th><th>sampled by π(t−1)</th><th>trained π(t)</th></tr>" + policies.joined() + "</table>"
        }
        /// One outcome over iterations (nil when no summary has it).
        func series(_ name: String, _ key: String, scale: Double = 1, dashed: Bool = false) -> SVGChart.Series? {
            let points = summaries.compactMap { s in figure(s, key).map { (x: Double(count(s, "iteration")), y: $0 * scale) } }
            return points.isEmpty ? nil : SVGChart.Series(name: name, points: points, dots: true, dashed: dashed)
        }
        let outcome = [
            SVGChart(title: "oracle accuracy", xLabel: "iteration",
                     series: [series("π(t)", "oracleAccuracy", scale: 100), series("π0", "initialOracleAccuracy", scale: 100, dashed: true)].compactMap { $0 },
                     yFormat: percent),
            SVGChart(title: "win rate", xLabel: "iteration",
                     series: [series("vs π0", "winRateVsInitial", scale: 100), series("vs π(t−1)", "winRateVsPrevious", scale: 100)].compactMap { $0 },
                     yFormat: percent),
            SVGChart(title: "KL(π(t) ‖ π0)", xLabel: "iteration", series: [series("KL(π‖π0)", "klFromInitial")].compactMap { $0 }),
        ]
        if outcome.contains(where: { !$0.series.isEmpty }) { html += "<h2>Outcome</h2>" + charts(outcome) }
        return html
    }

    /// Training curves: the iterations' optimizer steps one after another, one series per iteration,
    /// dashed lines where an iteration begins.
    static func training(_ metrics: [Int: [Line]]) -> String {
        let iterations = metrics.keys.sorted().filter { !steps(metrics[$0]!).isEmpty }
        guard !iterations.isEmpty else { return "" }
        var offsets: [Int: Int] = [:], total = 0
        for t in iterations { offsets[t] = total; total += steps(metrics[t]!).count }
        let xLabel = iterations.count > 1 ? "optimizer step (iterations one after another)" : "optimizer step"
        let markers = iterations.dropFirst().map { Double(offsets[$0]!) + 0.5 }
        let list = ["loss", "rewards/margins", "rewards/accuracies", "grad_norm"].map { key -> SVGChart in
            let series = iterations.map { t -> SVGChart.Series in
                let points = steps(metrics[t]!).enumerated().map { i, line -> (x: Double, y: Double) in (Double(offsets[t]! + i + 1), metric(line, key) ?? .nan) }
                return SVGChart.Series(name: "iteration \(t)", points: points)
            }
            return SVGChart(title: key, xLabel: xLabel, series: series, markers: markers)
        }
        return "<h2>Training</h2>" + charts(list)
    }

    /// The statistics and the pairs browser.
    static func pairs(_ inspector: PairsInspector) -> String {
        var html = "<h2>Pairs</h2><pre>\(htmlEscape(inspector.statsText()))</pre><div class='controls'>"
        html += "<label>sort <select id='sort' onchange='apply()'><option value='iteration'>iteration, id</option><option value='margin'>margin</option>"
        html += "<option value='confidence'>judge confidence P(chosen ≻ rejected)</option><option value='length'>length difference (chosen − rejected words)</option></select></label>"
        html += "<label><input type='checkbox' id='desc' onchange='apply()'> descending</label>"
        html += "<label>min margin <input id='minMargin' type='number' step='any' style='width:6em' oninput='apply()'></label>"
        html += "<label>min confidence <input id='minConfidence' type='number' step='any' min='0' max='1' style='width:6em' oninput='apply()'></label>"
        html += "<input id='filter' placeholder='filter pairs by text…' size='30' oninput='apply()'> <span id='shown' class='muted'>\(inspector.pairs.count) pairs</span></div><div id='pairs'>"
        for (order, p) in inspector.filtered(sortBy: .iteration).enumerated() {
            let r = p.record
            func attr(_ v: Double?) -> String { v.map { String($0) } ?? "" }
            let header = ["iteration \(r.iteration)", "pair \(r.id)",
                          r.margin.map { String(format: "margin %.3f", $0) },
                          p.judgeConfidence.map { String(format: "P(chosen ≻ rejected) %.3f", $0) },
                          oneLine(r.prompt.last?.content)].compactMap { $0 }.filter { !$0.isEmpty }
            html += "<details class='pair' data-order='\(order)' data-iteration='\(r.iteration)' data-id='\(r.id)' data-margin='\(attr(r.margin))' data-confidence='\(attr(p.judgeConfidence))' data-length='\(p.chosenTokens - p.rejectedTokens)'>"
            html += "<summary>\(htmlEscape(header.joined(separator: " · ")))</summary>"
            for m in r.prompt { html += "<div><b>\(htmlEscape(m.role))</b><pre>\(htmlEscape(m.content))</pre></div>" }
            for (i, text) in r.responses.enumerated() {
                let cls = i == r.chosenIndex ? "chosen" : (i == r.rejectedIndex ? "rejected" : "other")
                let label = i == r.chosenIndex ? "chosen" : (i == r.rejectedIndex ? "rejected" : "response")
                let score = r.scores.map { String(format: " · score %.4f", $0[i]) } ?? ""
                html += "<div class='\(cls)'><b>[\(i)] \(label)</b>\(score)<pre>\(htmlEscape(text))</pre></div>"
            }
            let list = comparisons(p.judgment)
            if !list.isEmpty {
                html += "<table><tr><th>comparison</th><th>P(first ≻ second)</th><th>P(A) first as A</th><th>P(A) second as A</th></tr>"
                for c in list {
                    func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "–" }
                    html += "<tr><td>[\(c.first)] vs [\(c.second)]</td><td>\(f(c.p))</td><td>\(f(c.firstAsA))</td><td>\(f(c.secondAsA))</td></tr>"
                }
                html += "</table>"
            }
            html += "</details>"
        }
        return html + "</div>"
    }

    /// The prompts the judge dropped, grouped by kind of reason (most frequent first), with a reason filter.
    static func dropped(_ judgments: [Int: [JudgmentRecord]]) -> String {
        let drops = judgments.keys.sorted().flatMap { t in judgments[t]!.compactMap { drop($0).map { (iteration: t, drop: $0) } } }
        guard !drops.isEmpty else { return "" }
        let groups = Dictionary(grouping: drops) { $0.drop.kind }.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }
        var html = "<h2>Dropped prompts (\(drops.count))</h2><div class='controls'><label>reason <select id='reason' onchange='apply()'><option value=''>all reasons</option>"
        for (kind, list) in groups { html += "<option value='\(htmlEscape(kind))'>\(htmlEscape(kind)) (\(list.count))</option>" }
        html += "</select></label></div>"
        for (kind, list) in groups {
            html += "<div class='dropped-group' data-reason='\(htmlEscape(kind))'><h3>\(htmlEscape(kind)) (\(list.count))</h3>"
            for (t, d) in list {
                let header = ["iteration \(t)", "prompt \(d.id)", oneLine(d.prompt.last?.content)].filter { !$0.isEmpty }
                html += "<details class='dropped' data-iteration='\(t)' data-id='\(d.id)'><summary>\(htmlEscape(header.joined(separator: " · ")))</summary>"
                html += "<p>\(htmlEscape(d.reason))</p>"
                for m in d.prompt { html += "<div><b>\(htmlEscape(m.role))</b><pre>\(htmlEscape(m.content))</pre></div>" }
                for (i, text) in d.responses.enumerated() { html += "<div class='other'><b>[\(i)]</b><pre>\(htmlEscape(text))</pre></div>" }
                html += "</details>"
            }
            html += "</div>"
        }
        return html
    }

    /// A header's one-line excerpt (unpadded; empty without text).
    static func oneLine(_ s: String?) -> String {
        PairsInspector.oneLine(s ?? "", 80).trimmingCharacters(in: .whitespaces)
    }

    /// Sorts and filters the pairs (data-* attributes; a missing number sorts lowest and fails a
    /// minimum, as in `idpo pairs list`) and the dropped groups, from the controls, whose initial
    /// values come from the URL fragment.
    static let script = """
    function val(id){var e=document.getElementById(id);return e?e.value:'';}
    function num(d,k){var v=parseFloat(d.dataset[k]);return isNaN(v)?-Infinity:v;}
    function apply(){
    var P=document.getElementById('pairs'),key=val('sort'),desc=document.getElementById('desc').checked,q=val('filter').toLowerCase(),
    mm=parseFloat(val('minMargin')),mc=parseFloat(val('minConfidence')),r=val('reason'),list=[].slice.call(P.children),shown=0;
    list.sort(function(a,b){var d=key==='iteration'?0:num(a,key)-num(b,key);if(!d)d=num(a,'order')-num(b,'order');return desc?-d:d;});
    list.forEach(function(d){P.appendChild(d);var ok=(isNaN(mm)||num(d,'margin')>=mm)&&(isNaN(mc)||num(d,'confidence')>=mc)&&d.textContent.toLowerCase().indexOf(q)>=0;
    d.style.display=ok?'':'none';if(ok)shown++;});
    document.getElementById('shown').textContent=shown+' of '+list.length+' pairs shown';
    document.querySelectorAll('.dropped-group').forEach(function(g){g.style.display=!r||g.dataset.reason===r?'':'none';});}
    location.hash.slice(1).split('&').forEach(function(kv){var i=kv.indexOf('='),e=i>0&&document.getElementById(decodeURIComponent(kv.slice(0,i)));
    if(e){var v=decodeURIComponent(kv.slice(i+1));if(e.type==='checkbox')e.checked=v==='1';else e.value=v;}});
    apply();
    """
}

// MARK: - Reading the typed records
// One accessor per kind of field: the report names summary and metric figures by their JSON keys.

extension ReportWriter {
    typealias Summary = IterationSummary
    typealias Line = StepMetrics

    /// A record's field by its JSON key.
    static func field(_ value: some Encodable, _ key: String) -> JSONValue? {
        guard case .object(let o)? = try? JSONFormat.tree(value) else { return nil }
        return o[key]
    }
    static func double(_ v: JSONValue?) -> Double? {
        switch v { case .double(let d)?: return d; case .int(let i)?: return Double(i); default: return nil }
    }
    /// A summary.json figure (nil when absent).
    static func figure(_ s: Summary, _ key: String) -> Double? { double(field(s, key)) }
    /// A summary.json count (0 when absent).
    static func count(_ s: Summary, _ key: String) -> Int { if case .int(let i)? = field(s, key) { return i } else { return 0 } }
    /// metrics.jsonl's optimizer-step lines (the inspector reads no summary line).
    static func steps(_ lines: [Line]) -> [Line] { lines }
    /// One metric of a step line, by its TRL name ("rewards/margins").
    static func metric(_ line: Line, _ key: String) -> Double? { double(field(line, key)) }

    /// A judgment's comparisons.
    static func comparisons(_ judgment: JudgmentRecord?) -> [(first: Int, second: Int, p: Double?, firstAsA: Double?, secondAsA: Double?)] {
        (judgment?.comparisons ?? []).map { ($0.first, $0.second, $0.probability, $0.probabilityFirstAsA, $0.probabilitySecondAsA) }
    }

    /// A dropped prompt's judgment: its id, the reason's kind and full text, prompt and responses.
    static func drop(_ judgment: JudgmentRecord) -> (id: Int, kind: String, reason: String, prompt: [PromptMessage], responses: [String])? {
        guard let kind = judgment.dropReason else { return nil }
        return (judgment.id, kind.rawValue, judgment.drop.map(String.init(describing:)) ?? kind.rawValue, judgment.prompt.messages, judgment.responses)
    }
}
