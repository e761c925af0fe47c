// Data files: JSON written with floats as floats and exact doubles, escapes, line-numbered errors;
// the pairwise judge's BOS removal by code points (as Python's str.replace).

import XCTest
import Foundation
@testable import Pipeline
import Support
import TestSupport

final class FormatsTests: XCTestCase {
    func testJSONWriterKeepsFloatsAndExactDoubles() throws {
        let values: [Double] = [1, 0, -2, 0.1, 1.0 / 3, 1e-5, 6.02e23, -12.494134426116943]
        struct Line: Encodable { var scores: [Double]; var n: Int; var ok: Bool; var text: String }
        let data = try JSONFormat.lines([Line(scores: values, n: 3, ok: true, text: "a\"b\\c\nd\u{1}é/🎉")])
        let line = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(line.contains("[1.0,0.0,-2.0,0.1,"), line)
        XCTAssertTrue(line.contains("\"n\":3"), line)
        XCTAssertTrue(line.contains("a\\\"b\\\\c\\nd\\u0001é/🎉"), line)
        let tmp = try TinyModels.temporaryDirectory("json")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try data.write(to: tmp.appendingPathComponent("x.jsonl"))
        let parsed = try RawJSONLines.read(tmp.appendingPathComponent("x.jsonl"))[0].object
        XCTAssertEqual(TestJSON.doubles(parsed["scores"]), values, "doubles round-trip exactly")
        XCTAssertEqual(parsed["n"] as? Int, 3)
        XCTAssertEqual(parsed["ok"] as? Bool, true)
        XCTAssertEqual(parsed["text"] as? String, "a\"b\\c\nd\u{1}é/🎉")
    }

    /// TRL's conversational {"messages": [...]} records give the conversation up to the last user turn.
    func testMessagesRecordsBecomePromptsUpToTheLastUserTurn() throws {
        let dir = try TinyModels.temporaryDirectory("messages")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("p.jsonl")
        let turns = #"[{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]"#
        try (#"{"messages": \#(turns)}"# + "\n").write(to: url, atomically: true, encoding: .utf8)
        let records = try PromptFile.read(url)
        guard case .messages(let m) = records[0].prompt else { return XCTFail("not a conversation") }
        XCTAssertEqual(m.map(\.content), ["s", "u1", "a1", "u2"])
        try (#"{"messages": [{"role": "assistant", "content": "a"}]}"# + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PromptFile.read(url)) { XCTAssertTrue("\($0)".contains("at least one user turn"), "\($0)") }
        try (#"{"text": "x"}"# + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PromptFile.read(url)) { XCTAssertTrue("\($0)".contains("accepted") && "\($0)".contains("p.jsonl"), "\($0)") }
    }

    /// TRL implicit-prompt pairs: the shared leading messages are the prompt.
    func testImplicitPromptPairsSplitAtTheSharedMessages() throws {
        let dir = try TinyModels.temporaryDirectory("implicit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("pairs.jsonl")
        let head = #"{"role": "system", "content": "s"}, {"role": "user", "content": "q"}"#
        try (#"{"chosen": [\#(head), {"role": "assistant", "content": "good"}], "rejected": [\#(head), {"role": "assistant", "content": "bad"}]}"# + "\n")
            .write(to: url, atomically: true, encoding: .utf8)
        let pair = try XCTUnwrap(try PairRecord.read(url).first)
        XCTAssertEqual(pair.prompt.map(\.content), ["s", "q"])
        XCTAssertEqual(pair.chosen, "good")
        XCTAssertEqual(pair.rejected, "bad")
        try (#"{"chosen": [\#(head), {"role": "assistant", "content": "a"}, {"role": "user", "content": "more"}], "rejected": [\#(head), {"role": "assistant", "content": "b"}]}"# + "\n")
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PairRecord.read(url)) { XCTAssertTrue("\($0)".contains("'chosen' must be the shared prompt turns"), "\($0)") }
        try (#"{"chosen": "a", "rejected": "b"}"# + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PairRecord.read(url)) { XCTAssertTrue("\($0)".contains("missing 'prompt'") && "\($0)".contains("pairs.jsonl:1"), "\($0)") }
    }

    func testReadErrorsNameFileAndLine() throws {
        let tmp = try TinyModels.temporaryDirectory("formats")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let url = tmp.appendingPathComponent("p.jsonl")
        try "{\"prompt\": \"ok\"}\n\n{\"prompt\": 5}\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PromptFile.read(url)) { XCTAssertTrue("\($0)".hasPrefix(url.path + ":3:"), "\($0)") }
        try "{\"prompt\": \"ok\"}\nnot json\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PromptFile.read(url)) { XCTAssertTrue("\($0)".contains(":2: not valid JSON"), "\($0)") }
    }

    func testBOSIsRemovedByCodePointsEvenBeforeACombiningMark() throws {
        let tmp = try TinyModels.temporaryDirectory("bos")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let judge = try PairwiseJudge(directory: tmp.appendingPathComponent("pm"))
        let bos = judge.tokenizer.bosTokenId!
        let ids = try judge.pairwiseTokens(context: "ctx", a: "x<|begin_of_text|>\u{0338}y", b: "<|begin_of_text|>\u{0301}")
        XCTAssertFalse(ids.contains(bos), "every BOS string is removed, as Python's .replace does")
    }
}
