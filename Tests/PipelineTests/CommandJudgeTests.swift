// The program judge's contract with the program (sample records in, one JSON array of k numbers per
// line out) and every way a program can break it: each failure is an error naming the command and
// the prompt id, never a crash or a silently wrong score.

import XCTest
import Foundation
@testable import Pipeline
import Support

final class CommandJudgeTests: XCTestCase {
    let here = FileManager.default.temporaryDirectory

    func samples(_ ids: [Int], k: Int = 3) -> [SampleRecord] {
        ids.map { SampleRecord(id: $0, prompt: .text("prompt \($0)"), responses: (0..<k).map { "response \($0) with a \"quote\"\n" },
                               responseTokens: [], finishReasons: Array(repeating: "stop", count: k)) }
    }

    func judge(_ script: String) throws -> CommandJudge { try CommandJudge(command: ["sh", "-c", script], workingDirectory: here) }

    func expectError(_ script: String, _ ids: [Int] = [4, 9], mentions: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertThrowsError(try judge(script).score(samples(ids)), file: file, line: line) { error in
            let text = "\(error)"
            for m in mentions { XCTAssertTrue(text.contains(m), "'\(m)' missing from: \(text)", file: file, line: line) }
        }
    }

    /// The program sees the samples JSONL exactly (one compact record per line, the responses' text
    /// intact) and its scores come back in order, batch and one-prompt calls alike.
    func testScoresComeBackInOrderFromTheSampleRecords() throws {
        // score = the record's line length, then 0 and −1: depends on what the program read
        let j = try judge(#"awk '{ print "[" length($0) ", 0, -1.5e-3]" }'"#)
        let records = samples([4, 9])
        let expected = try records.map { Double(try JSONFormat.line($0).utf8.count) }
        let scores = try j.score(records)
        XCTAssertEqual(scores.map { $0[0] }, expected)
        XCTAssertEqual(scores[1], [expected[1], 0, -1.5e-3])
        try j.prefetch(records)
        let judged = try j.judge(messages: records[1].prompt.messages, responses: records[1].responses, method: .scores)
        XCTAssertEqual(judged.ranking.scores, scores[1])
        XCTAssertEqual(judged.ranking.best, 0); XCTAssertEqual(judged.ranking.worst, 2)
        XCTAssertEqual(j.runs, 2, "the prefetched prompt is not run again")
        // a prompt that was not prefetched runs on its own
        _ = try j.judge(messages: [PromptMessage(role: "user", content: "new")], responses: ["a", "b", "c"], method: .scores)
        XCTAssertEqual(j.runs, 3)
        XCTAssertThrowsError(try j.judge(messages: [], responses: ["a"], method: .knockout))
    }

    func testEveryBrokenProgramIsAClearError() throws {
        try expectError("cat > /dev/null; echo 'scorer crashed' >&2; exit 3", mentions: ["exited with status 3", "prompts 4…9", "scorer crashed"])
        try expectError(#"read -r x; echo "[1, 2, 3]""#, mentions: ["printed 1 score line for 2 prompts", "the first without scores is prompt 9"])
        try expectError(#"cat > /dev/null; for i in 1 2 3; do echo "[1, 2, 3]"; done"#, mentions: ["printed 3 score lines for 2 prompts"])
        try expectError(#"cat > /dev/null; echo "[1, 2, 3]"; echo "[1, 2]""#, mentions: ["prompt 9", "3 responses but 2 scores"])
        try expectError(#"cat > /dev/null; echo "[1, 2, 3]"; echo 'score: 7'"#, mentions: ["prompt 9", "expected a JSON array of 3 numbers", "score: 7"])
        try expectError(#"cat > /dev/null; echo '[1, "2", 3]'; echo "[1, 2, 3]""#, mentions: ["prompt 4, response 1", "not a finite number"])
        try expectError(#"cat > /dev/null; echo '[1, 2, null]'; echo "[1, 2, 3]""#, mentions: ["prompt 4, response 2"])
        try expectError(#"cat > /dev/null; echo '[true, 2, 3]'; echo "[1, 2, 3]""#, mentions: ["prompt 4, response 0"])
        try expectError(#"cat > /dev/null; echo '[1e999, 2, 3]'; echo "[1, 2, 3]""#, mentions: ["prompt 4"])
        // a program that never reads its input (a large one: the pipe fills) still gives a clean error
        XCTAssertThrowsError(try judge("exit 0").score(samples(Array(0..<2000), k: 8))) {
            XCTAssertTrue("\($0)".contains("printed 0 score lines for 2000 prompts"), "\($0)")
        }
        // a program that is not there
        XCTAssertThrowsError(try CommandJudge(command: ["idpo-no-such-scorer"], workingDirectory: here).score(samples([1]))) {
            XCTAssertTrue("\($0)".contains("idpo-no-such-scorer") && "\($0)".contains("status 127") && "\($0)".contains("prompt 1"), "\($0)")
        }
        XCTAssertThrowsError(try CommandJudge(command: [], workingDirectory: here))
    }
}
