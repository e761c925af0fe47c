// Full-size comparison with tiktoken and the Hugging Face library, on the files written by
// Scripts/tokenizer_oracle.py. Skipped unless IDPO_TOKENIZER_ORACLE names that output folder.

import Foundation
import XCTest
@testable import Tokenizers

final class OracleTests: XCTestCase {
    func testOracleFamilies() throws {
        guard let root = ProcessInfo.processInfo.environment["IDPO_TOKENIZER_ORACLE"] else {
            throw XCTSkip("set IDPO_TOKENIZER_ORACLE to the output folder of Scripts/tokenizer_oracle.py")
        }
        let families = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        var checkedFamilies = 0
        for family in families {
            let folder = URL(fileURLWithPath: root).appendingPathComponent(family)
            let casesURL = folder.appendingPathComponent("cases.jsonl")
            guard FileManager.default.fileExists(atPath: casesURL.path) else { continue }
            checkedFamilies += 1
            try checkFamily(folder: folder, name: family)
        }
        XCTAssertGreaterThan(checkedFamilies, 0, "no family folders with cases.jsonl in \(root)")
    }

    private func checkFamily(folder: URL, name: String) throws {
        let loadStart = Date()
        let tokenizer = try Tokenizer(url: folder)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let meta = try JSONReader.parse(try Data(contentsOf: folder.appendingPathComponent("meta.json")), file: "meta.json").objectValue!
        let compareTiktoken = meta["compare_tiktoken"]?.boolValue ?? false
        let bosId = meta["bos_id"]?.integerValue.map { Int32($0) }

        var texts = 0, bytes = 0, mismatches = 0, tiktokenMismatches = 0, roundTripFailures = 0, streamFailures = 0
        let lines = try String(contentsOf: folder.appendingPathComponent("cases.jsonl"), encoding: .utf8).split(separator: "\n")
        for line in lines {
            let c = try JSONReader.parse(Data(line.utf8), file: "cases.jsonl").objectValue!
            let text = c["text"]!.stringValue!
            let expected = c["hf_ids"]!.arrayValue!.map { Int32($0.integerValue!) }
            let tiktoken = c["ids"]!.arrayValue!.map { Int32($0.integerValue!) }
            let decodedExpected = c["decoded"]?.stringValue ?? text
            texts += 1
            bytes += text.utf8.count
            let ids = try tokenizer.encode(text)
            if ids != expected {
                mismatches += 1
                if mismatches <= 5 { reportMismatch(name, text, ids, expected, tokenizer) }
            }
            if compareTiktoken && ids != tiktoken { tiktokenMismatches += 1 }
            if try tokenizer.decode(ids) != decodedExpected {
                roundTripFailures += 1
                if roundTripFailures <= 3 { XCTFail("\(name): decode(encode(x)) != x for \(text.debugDescription.prefix(200))") }
            }
            var stream = tokenizer.makeStreamingDecoder()
            var streamed = ""
            for id in ids { streamed += try stream.push(id) }
            streamed += stream.finish()
            if streamed != decodedExpected { streamFailures += 1 }
            if let bosId, try tokenizer.encode(text, addSpecialTokens: true) != [bosId] + expected {
                XCTFail("\(name): BOS template not applied for \(text.debugDescription.prefix(80))")
            }
        }
        // encoding speed: `idpo tokenize --model DIR --benchmark` (BENCHMARKS.md), not this test
        print(String(format: "oracle %@: %d texts, %d bytes, %d mismatches vs the HF library, %@, %d round-trip failures, %d streaming failures; load %.2f s",
                     name, texts, bytes, mismatches,
                     compareTiktoken ? "\(tiktokenMismatches) mismatches vs tiktoken" : "tiktoken not compared",
                     roundTripFailures, streamFailures, loadSeconds))
        XCTAssertEqual(mismatches, 0, "\(name): mismatches vs the Hugging Face library")
        XCTAssertEqual(tiktokenMismatches, 0, "\(name): mismatches vs tiktoken")
        XCTAssertEqual(roundTripFailures, 0, "\(name): round-trip failures")
        XCTAssertEqual(streamFailures, 0, "\(name): streaming decode failures")
    }

    private func reportMismatch(_ family: String, _ text: String, _ ids: [Int32], _ expected: [Int32], _ tokenizer: Tokenizer) {
        var i = 0
        while i < min(ids.count, expected.count) && ids[i] == expected[i] { i += 1 }
        let lo = max(0, i - 3)
        func show(_ list: [Int32]) -> String {
            list[lo..<min(list.count, i + 4)].map { "\($0):\(tokenizer.token(for: $0) ?? "?")" }.joined(separator: " ")
        }
        XCTFail("\(family): mismatch at token \(i) for \(text.debugDescription.prefix(300))\n got      \(show(ids))\n expected \(show(expected))")
    }
}
