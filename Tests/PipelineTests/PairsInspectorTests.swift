// `idpo pairs` on a real (tiny) run: list, show, stats and the HTML report, with model and prompt
// text HTML-escaped.

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
        try checkInBrowser(report)
    }

    /// Loads the report in headless Chromium (when installed): the DOM has the pairs and the charts,
    /// no injected script ran, and a screenshot is produced (kept at $IDPO_REPORT_SCREENSHOT if set).
    func checkInBrowser(_ report: URL) throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let chromium else { return }
        func run(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: chromium)
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"] + args + [report.absoluteString]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let dom = try run(["--dump-dom"])
        XCTAssertTrue(dom.contains("<svg"), "charts render")
        XCTAssertTrue(dom.contains("class=\"pair\""), "pairs are listed")
        XCTAssertFalse(dom.contains("<script>alert("), "escaped prompt text stays text")
        let shot = ProcessInfo.processInfo.environment["IDPO_REPORT_SCREENSHOT"]
            ?? report.deletingLastPathComponent().appendingPathComponent("report.png").path
        _ = try run(["--screenshot=\(shot)", "--window-size=1200,1400"])
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG screenshot")
    }
}
