// `idpo pairs` on a real (tiny) run: list, show, stats and the HTML report, with model and prompt
// text HTML-escaped; the report's plots (outcomes over iterations, training curves: ticked axes,
// legends outside the plot), pair headers, and — in headless Chromium when installed — its
// sorting and filters, on a hand-written three-iteration run.

import XCTest
import Foundation
import Kernels
@testable import Pipeline
import Support
import TestSupport

final class PairsInspectorTests: XCTestCase {
    func testInspectorOnARun() throws {
        Parallel.setThreads(2)
        let tmp = try TinyModels.temporaryDirectory("pairs")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 1)
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let prompts = (0..<6).map { #"{"prompt": [{"role": "user", "content": "<script>alert(\#($0))</script> & more"}]}"# }
        try (prompts.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
        let yaml = """
        run: {name: p, output_root: out, seed: 3}
        policy: policy
        judge: {model: pm, ranking: round-robin}
        prompts: {file: prompts.jsonl, max_prompt_tokens: 64}
        iterations: 1
        generation: {k: 3, max_new_tokens: 5}
        training: {batch_size: 2, micro_batch_size: 2, epochs: 1, max_length: 128, max_prompt_length: 64, learning_rate: 1.0e-3}
        """
        try yaml.write(to: tmp.appendingPathComponent("r.yaml"), atomically: true, encoding: .utf8)
        let recipe = try Recipe.load(url: tmp.appendingPathComponent("r.yaml"))
        let driver = try RunDriver(recipe: recipe)
        driver.quiet = true
        try driver.run()

        let ins = try PairsInspector(path: driver.directory)
        XCTAssertFalse(ins.pairs.isEmpty)
        let table = ins.listTable(ins.filtered(sortBy: .margin, descending: true))
        XCTAssertTrue(table.contains("iter"))
        // fixed-width rows (4+2+5+2 + margin 7 + 2+4+1+4+2 + 30+2+24+2+24 characters), "–" margins included
        for row in table.split(separator: "\n").dropFirst() { XCTAssertEqual(row.count, 115, String(row)) }
        let shown = try ins.show(id: ins.pairs[0].record.id, iteration: 1)
        XCTAssertTrue(shown.contains("★") && shown.contains("✗") && shown.contains("vs"))
        let stats = ins.stats()
        XCTAssertEqual(stats.prompts, 6)
        XCTAssertEqual(stats.pairs + stats.dropped.values.reduce(0, +), 6)
        XCTAssertTrue(ins.statsText().contains("pairs kept"))
        // the pairwise judge's P(chosen ≻ rejected), read from its comparisons, sorts the pairs
        let byConfidence = ins.filtered(sortBy: .confidence, descending: true).map { try? XCTUnwrap($0.judgeConfidence) }
        XCTAssertFalse(byConfidence.contains { $0 == nil })
        XCTAssertEqual(byConfidence.map { $0! }, byConfidence.map { $0! }.sorted(by: >))
        XCTAssertTrue(byConfidence.allSatisfy { $0! >= 0.5 }, "chosen is the judge's winner")
        // a bare pairs file cannot know what the judge dropped, and says so
        let bare = try PairsInspector(path: driver.directory.appendingPathComponent("iter-1/pairs.jsonl"))
        XCTAssertTrue(bare.statsText().contains("dropped:        unknown"), bare.statsText())
        XCTAssertFalse(bare.statsText().contains("prompts judged"))
        XCTAssertThrowsError(try ins.show(id: 999, iteration: nil))

        let report = tmp.appendingPathComponent("report.html")
        try ReportWriter.write(ins, to: report)
        let html = try String(contentsOf: report, encoding: .utf8)
        // The report is a function of the run's files: a second rendering, by a fresh inspector of
        // the same run, is the same bytes (no clock, no dictionary order, no random ids in it).
        let again = tmp.appendingPathComponent("report-again.html")
        try ReportWriter.write(try PairsInspector(path: driver.directory), to: again)
        XCTAssertEqual(try Data(contentsOf: again), try Data(contentsOf: report), "the report renders the same bytes twice")
        XCTAssertTrue(html.contains("&lt;script&gt;alert("), "prompt text is escaped")
        XCTAssertFalse(html.contains("<script>alert("), "no raw model or prompt markup")
        XCTAssertTrue(html.contains("<svg"), "training curves are inline SVG")
        XCTAssertFalse(html.contains("http://") && html.contains("<link"), "no external assets")
        XCTAssertEqual(htmlEscape("a<b>&\"'"), "a&lt;b&gt;&amp;&#34;&#39;")
        let training = charts(html).filter { ["loss", "rewards/margins", "rewards/accuracies", "grad_norm"].contains($0.title) }
        XCTAssertEqual(training.count, 4)
        for c in training { XCTAssertFalse(c.xTicks.isEmpty, "\(c.title): x tick values"); XCTAssertEqual(c.xTicks.first, "1", c.title) }
        assertLegendsOutsidePlots(html)
        assertHeadersHaveNoEmptyFields(html)
        try checkInBrowser(report)
    }

    /// A hand-written three-iteration run: outcome plots over iterations, concatenated training curves
    /// with iteration boundaries, dropped prompts grouped by reason, and the browser's sort and filters.
    func testReportPlotsAndBrowser() throws {
        let tmp = try TinyModels.temporaryDirectory("report")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let run = tmp.appendingPathComponent("run")
        // pair ids 1…6 (two per iteration) with these P(chosen ≻ rejected); pair 4 has no margin
        let confidence = [1: 0.6, 2: 0.9, 3: 0.7, 4: 0.55, 5: 0.95, 6: 0.8]
        let drops: [Int: [[String: Any]]] = [1: [["drop_reason": "all responses scored equal"]],
                                             2: [["drop_reason": "final check failed", "drop_p_best_better": 0.4],
                                                 ["drop_reason": "final check failed", "drop_p_best_better": 0.3]], 3: []]
        func json(_ o: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self) }
        var summaries: [[String: Any]] = []
        for t in 1...3 {
            let dir = run.appendingPathComponent("iter-\(t)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var pairs: [String] = [], judgments: [String] = []
            for id in [2 * t - 1, 2 * t] {
                let prompt = [["role": "user", "content": "sort: <b>\(id)</b>"]]
                var pair: [String: Any] = ["id": id, "prompt": prompt, "chosen": [["role": "assistant", "content": "good \(id)"]],
                                           "rejected": [["role": "assistant", "content": "bad"]], "chosen_index": 0, "rejected_index": 1,
                                           "responses": ["good \(id)", "bad"]]
                if id != 4 { pair["chosen_reward"] = Double(id); pair["rejected_reward"] = 0.0 }
                pairs.append(json(pair))
                judgments.append(json(["id": id, "prompt": prompt, "responses": ["good \(id)", "bad"], "ranking": "round-robin",
                                       "comparisons": [["first": 0, "second": 1, "p_first_better": confidence[id]!]], "chosen_index": 0, "rejected_index": 1]))
            }
            for (k, reason) in drops[t]!.enumerated() {
                judgments.append(json(["id": 100 * t + k, "prompt": [["role": "user", "content": "<img src=x onerror=alert(\(t))>"]],
                                       "responses": ["same", "same"], "ranking": "round-robin", "comparisons": []].merging(reason) { a, _ in a }))
            }
            var metrics: [String] = []
            for k in 1...3 {
                let loss = 0.7 - 0.1 * Double(k + t), margin = 0.1 * Double(k)
                metrics.append(json(["step": k, "epoch": 1.0, "loss": loss, "rewards/margins": margin, "rewards/accuracies": 0.5, "grad_norm": 1.0,
                                     "learning_rate": 1e-6, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "logps/chosen": -1.0,
                                     "logps/rejected": -1.0, "logits/chosen": 0.0, "logits/rejected": 0.0, "tokens_per_s": 0.0, "pairs": 2]))
            }
            metrics.append(json(["summary": true, "steps": 3]))
            try (pairs.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("pairs.jsonl"), atomically: true, encoding: .utf8)
            try (judgments.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("judgments.jsonl"), atomically: true, encoding: .utf8)
            try (metrics.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
            summaries.append(["iteration": t, "prompts": 2 + drops[t]!.count, "pairs": 2, "dropped": drops[t]!.count,
                              "oracleAccuracy": 0.4 + 0.1 * Double(t), "initialOracleAccuracy": 0.4,
                              "winRateVsInitial": 0.5 + 0.1 * Double(t), "winRateVsPrevious": 0.55, "klFromInitial": 0.2 * Double(t),
                              "comparisonsPerPrompt": 1.0, "meanResponseTokens": 2.0, "seconds": [String: Double]()])
        }
        try json(summaries).write(to: run.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)

        let report = tmp.appendingPathComponent("report.html")
        try ReportWriter.write(try PairsInspector(path: run), to: report)
        let html = try String(contentsOf: report, encoding: .utf8)
        XCTAssertTrue(html.contains("sort: &lt;b&gt;1&lt;/b&gt;") && html.contains("&lt;img src=x"), "prompt text is escaped")
        XCTAssertFalse(html.contains("<img") || html.contains("sort: <b>"), "no raw prompt markup")
        let all = charts(html)
        for title in ["oracle accuracy", "win rate", "KL(π(t) ‖ π0)"] {
            let c = try XCTUnwrap(all.first { $0.title == title }, "outcome chart \(title)")
            XCTAssertEqual(c.xTicks, ["1", "2", "3"], "\(title): one tick per iteration")
        }
        XCTAssertEqual(all.first { $0.title == "oracle accuracy" }?.legend, ["π(t)", "π0"], "π0 as the reference")
        XCTAssertEqual(all.first { $0.title == "win rate" }?.legend, ["vs π0", "vs π(t−1)"])
        XCTAssertTrue(all.first { $0.title == "win rate" }!.yTicks.allSatisfy { $0.hasSuffix("%") }, "win rates in %")
        let loss = try XCTUnwrap(all.first { $0.title == "loss" })
        XCTAssertEqual(loss.markers, 2, "iteration boundaries of 9 concatenated steps")
        XCTAssertEqual(loss.legend, ["iteration 1", "iteration 2", "iteration 3"])
        XCTAssertEqual(loss.xTicks, ["2", "4", "6", "8"], "round steps over the 9 steps")
        assertLegendsOutsidePlots(html)
        assertHeadersHaveNoEmptyFields(html)
        XCTAssertTrue(html.contains("pair 4 · P(chosen ≻ rejected) 0.550 · sort:"), "no margin field for a pair without one")
        XCTAssertTrue(html.contains("final check failed (2)") && html.contains("all responses scored equal (1)"), "dropped prompts grouped by reason with counts")
        XCTAssertLessThan(html.range(of: "final check failed (2)")!.lowerBound, html.range(of: "all responses scored equal (1)")!.lowerBound, "most frequent first")

        guard Self.chromium != nil else { return }
        // the browser's initial state from the URL fragment; the DOM after the script ran
        func pairs(_ fragment: String) throws -> [(id: Int, shown: Bool)] {
            try matches(#"<details class="pair"[^>]*>"#, in: browser(report, fragment, ["--dump-dom"])).map { tag in
                (Int(try XCTUnwrap(matches(#"data-id="(\d+)""#, in: tag[0]).first)[1])!, !tag[0].contains("display: none"))
            }
        }
        XCTAssertEqual(try pairs("").map(\.id), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try pairs("sort=confidence&desc=1").map(\.id), [5, 2, 6, 3, 1, 4])
        XCTAssertEqual(try pairs("sort=margin&desc=1").map(\.id), [6, 5, 3, 2, 1, 4], "a pair without margin last")
        XCTAssertEqual(try pairs("sort=confidence&minConfidence=0.75").filter(\.shown).map(\.id), [6, 2, 5])
        XCTAssertEqual(try pairs("minMargin=3").filter(\.shown).map(\.id), [3, 5, 6])
        let dom = try browser(report, "reason=all%20responses%20scored%20equal", ["--dump-dom"])
        let groups = matches(#"<div class="dropped-group" data-reason="([^"]*)"([^>]*)>"#, in: dom).map { m -> (String, Bool) in (m[1], !m[2].contains("display: none")) }
        XCTAssertEqual(groups.map(\.0), ["final check failed", "all responses scored equal"])
        XCTAssertEqual(groups.map(\.1), [false, true], "only the chosen reason's prompts")
        XCTAssertTrue(dom.contains("6 of 6 pairs shown"))
    }

    /// Loads the report in headless Chromium (when installed): the DOM has the pairs and the charts,
    /// no injected script ran, and a screenshot is produced (kept at $IDPO_REPORT_SCREENSHOT if set).
    func checkInBrowser(_ report: URL) throws {
        guard Self.chromium != nil else { return }
        let dom = try browser(report, "", ["--dump-dom"])
        XCTAssertTrue(dom.contains("<svg"), "charts render")
        XCTAssertTrue(dom.contains("class=\"pair\""), "pairs are listed")
        XCTAssertFalse(dom.contains("<script>alert("), "escaped prompt text stays text")
        let shot = ProcessInfo.processInfo.environment["IDPO_REPORT_SCREENSHOT"]
            ?? report.deletingLastPathComponent().appendingPathComponent("report.png").path
        _ = try browser(report, "", ["--screenshot=\(shot)", "--window-size=1200,1400"])
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG screenshot")
    }

    /// Debian's chromium (or another Chrome), nil when none is installed (the browser checks are skipped).
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Runs headless Chromium on `report` with a URL fragment; its standard output.
    func browser(_ report: URL, _ fragment: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try XCTUnwrap(Self.chromium))
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"] + args
            + [report.absoluteString + (fragment.isEmpty ? "" : "#" + fragment)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The capture groups of each match of `pattern`.
    func matches(_ pattern: String, in s: String) -> [[String]] {
        let re = try! NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
        return re.matches(in: s, range: NSRange(s.startIndex..., in: s)).map { m in
            (0..<m.numberOfRanges).map { Range(m.range(at: $0), in: s).map { String(s[$0]) } ?? "" }
        }
    }

    /// What a report's SVG charts show: title, tick labels, legend entries (with their y), the plotted rectangle.
    struct Chart { var title: String; var xTicks: [String]; var yTicks: [String]; var legend: [String]; var legendYs: [Double]; var plot: ClosedRange<Double>; var markers: Int }

    func charts(_ html: String) -> [Chart] {
        matches(#"<svg [^>]*aria-label='([^']*)'>(.*?)</svg>"#, in: html).map { m in
            let body = m[2]
            let plot = matches(#"<rect class='plot' x='[^']*' y='([^']*)' width='[^']*' height='([^']*)'"#, in: body).first.map { Double($0[1])!...(Double($0[1])! + Double($0[2])!) } ?? 0...0
            let legend = matches(#"<g class='legend'>(.*?)</g>"#, in: body).map(\.[1])
            return Chart(title: m[1].replacingOccurrences(of: "&#39;", with: "'"),
                         xTicks: matches(#"<text class='xtick'[^>]*>([^<]*)<"#, in: body).map(\.[1]),
                         yTicks: matches(#"<text class='ytick'[^>]*>([^<]*)<"#, in: body).map(\.[1]),
                         legend: legend.compactMap { matches(#"<text[^>]*>([^<]*)<"#, in: $0).first?[1] },
                         legendYs: legend.flatMap { matches(#" y\d?='([^']*)'"#, in: $0).map { Double($0[1])! } },
                         plot: plot, markers: body.components(separatedBy: "class='marker'").count - 1)
        }
    }

    /// Every chart has a plotted rectangle and a legend whose elements all lie above or below it.
    func assertLegendsOutsidePlots(_ html: String, file: StaticString = #filePath, line: UInt = #line) {
        let list = charts(html)
        XCTAssertFalse(list.isEmpty, file: file, line: line)
        for c in list {
            XCTAssertGreaterThan(c.plot.upperBound, c.plot.lowerBound, c.title, file: file, line: line)
            XCTAssertFalse(c.legend.isEmpty, c.title, file: file, line: line)
            for y in c.legendYs { XCTAssertFalse(c.plot.contains(y - 10) || c.plot.contains(y + 2), "\(c.title): legend at y \(y) in \(c.plot)", file: file, line: line) }
        }
    }

    /// Pair and dropped-prompt headers are fields joined by " · ", none of them empty.
    func assertHeadersHaveNoEmptyFields(_ html: String, file: StaticString = #filePath, line: UInt = #line) {
        let headers = matches(#"<summary>([^<]*)</summary>"#, in: html).map(\.[1])
        XCTAssertFalse(headers.isEmpty, file: file, line: line)
        for h in headers {
            XCTAssertFalse(h.components(separatedBy: " · ").contains { $0.trimmingCharacters(in: .whitespaces).isEmpty }, h, file: file, line: line)
            XCTAssertEqual(h, h.trimmingCharacters(in: .whitespaces), file: file, line: line)
        }
    }
}
