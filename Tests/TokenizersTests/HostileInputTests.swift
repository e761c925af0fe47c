// Hostile tokenizer files and inputs: each is a thrown TokenizerError that names the file (and the
// field) and states the limit, in bounded time — never a stack overflow, a hang or unbounded memory.
// The malformed inputs are built here, small.

import Foundation
import XCTest
@testable import Tokenizers

final class HostileInputTests: XCTestCase {
    /// The minimal tokenizer.json with `pre_tokenizer` replaced by a Split on `regex` (Isolated).
    private func splitTokenizerJSON(_ regex: String) -> Data {
        LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            ]]
        }
    }

    /// Asserts that loading `data` fails with an error that names `hostile/tokenizer.json`, `field`
    /// (when given) and contains `text`; returns the error's description.
    @discardableResult
    private func expectLoadError(_ data: Data, field: String?, contains text: String,
                                 file: StaticString = #filePath, line: UInt = #line) -> String {
        var description = ""
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: data, name: "hostile/tokenizer.json"), file: file, line: line) { error in
            guard let error = error as? TokenizerError else { return XCTFail("not a TokenizerError: \(error)", file: file, line: line) }
            description = error.description
            XCTAssertEqual(error.field, field, description, file: file, line: line)
            XCTAssertTrue(description.hasPrefix("hostile/tokenizer.json"), description, file: file, line: line)
            XCTAssertTrue(description.contains(text), "\(description) should contain \(text)", file: file, line: line)
        }
        return description
    }

    /// Seconds `body` takes.
    private func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    // MARK: nesting

    func testJSONNestingIsLimitedTo256Levels() throws {
        func nested(_ levels: Int, _ open: String, _ close: String) -> Data {
            Data((String(repeating: open, count: levels) + "1" + String(repeating: close, count: levels)).utf8)
        }
        XCTAssertNoThrow(try JSONReader.parse(nested(256, "[", "]"), file: "x.json"), "256 levels are allowed")
        XCTAssertNoThrow(try JSONReader.parse(nested(256, "{\"a\":", "}"), file: "x.json"), "256 levels are allowed")
        for levels in [257, 5000, 100_000] {
            XCTAssertThrowsError(try JSONReader.parse(nested(levels, "[", "]"), file: "x.json")) { error in
                XCTAssertEqual("\(error)", "x.json:1:257: invalid JSON: nesting deeper than 256 levels")
            }
        }
        // The same inside a tokenizer file: the error names the file, line and column.
        let deep = Data(("{\n  \"model\": " + String(repeating: "[", count: 100_000)).utf8)
        expectLoadError(deep, field: nil, contains: "hostile/tokenizer.json:2:267: invalid JSON: nesting deeper than 256 levels")
    }

    func testSplitRegexNestingIsLimitedTo256Levels() throws {
        func groups(_ levels: Int) -> String { String(repeating: "(", count: levels) + "a" + String(repeating: ")", count: levels) }
        XCTAssertNoThrow(try PatternRegex(groups(256)))
        let field = "pre_tokenizer.pretokenizers[0].pattern.Regex"
        for levels in [257, 50_000] {
            expectLoadError(splitTokenizerJSON(groups(levels)), field: field, contains: "groups nested deeper than 256 levels")
        }
        expectLoadError(splitTokenizerJSON(String(repeating: "(?:", count: 50_000)), field: field,
                        contains: "groups nested deeper than 256 levels")
        expectLoadError(splitTokenizerJSON(String(repeating: "[", count: 50_000)), field: field,
                        contains: "character classes nested deeper than 256 levels")
        expectLoadError(splitTokenizerJSON("a" + String(repeating: "{1}", count: 50_000)), field: field,
                        contains: "quantifiers stacked deeper than 256 levels")
        // Counted repetitions of groups are expanded; the program they make is bounded.
        expectLoadError(splitTokenizerJSON("(?:ab){100001}"), field: field, contains: "repeat count larger than 100000")
        expectLoadError(splitTokenizerJSON("(?:ab){99999999999999999999999}"), field: field, contains: "repeat count larger than 100000")
        expectLoadError(splitTokenizerJSON("(?:(?:ab){1000}){1000}"), field: field,
                        contains: "pattern too large: more than 100000 instructions")
        expectLoadError(splitTokenizerJSON("a{3,2}"), field: field, contains: "invalid repeat range {3,2}")
        // Copies of an empty group cost nothing to compile, however many.
        XCTAssertLessThan(try seconds { _ = try PatternRegex("(?:(?:){100000}){100000}") }, 1)
    }

    // MARK: matching

    func testLongInputsDoNotOverflowTheStack() throws {
        // The recursive engine needed stack frames per repetition of a group: 100,000 were a crash.
        let regex = try PatternRegex("(?:ab)+|(a|b|c)*?c")
        var text = Array(String(repeating: "ab", count: 100_000).utf8)
        text += Array(String(repeating: "a", count: 50_000).utf8) + [UInt8(ascii: "c")]
        var spans: [Span] = []
        let elapsed = try seconds {
            try text.withUnsafeBufferPointer { try regex.matches($0.baseAddress!, start: 0, end: $0.count, into: &spans) }
        }
        XCTAssertEqual(spans, [Span(start: 0, end: 200_000), Span(start: 200_000, end: 250_001)])
        XCTAssertLessThan(elapsed, 2)
    }

    func testCatastrophicBacktrackingIsBoundedAndNamed() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: splitTokenizerJSON("(a+)+$"), name: "hostile/tokenizer.json")
        XCTAssertEqual(try tokenizer.encode("aaab"), [97, 97, 256], "short inputs still work")
        let text = String(repeating: "a", count: 30) + "b"
        var thrown: Error?
        let elapsed = seconds {
            do { _ = try tokenizer.encode(text) } catch { thrown = error }
        }
        let error = try XCTUnwrap(thrown as? TokenizerError, "expected a TokenizerError, got \(String(describing: thrown))")
        guard case .regexBudgetExceeded(let file, let field, let pattern, let inputLength, _) = error else { return XCTFail("\(error)") }
        XCTAssertEqual(file, "hostile/tokenizer.json")
        XCTAssertEqual(field, "pre_tokenizer.pretokenizers[0].pattern.Regex")
        XCTAssertEqual(pattern, "(a+)+$")
        XCTAssertEqual(inputLength, 31)
        XCTAssertEqual(error.description,
                       "hostile/tokenizer.json: field 'pre_tokenizer.pretokenizers[0].pattern.Regex': the pre-tokenizer regex (a+)+$ "
                       + "exceeded its budget of 1031000 backtracking steps on a 31-character input "
                       + "(nested quantifiers such as (a+)+ backtrack exponentially)")
        XCTAssertLessThan(elapsed, 1, "the budget bounds the time (it took \(elapsed) s)")
        print(String(format: "(a+)+$ on a 31-character input: budget error after %.1f ms", elapsed * 1000))
    }

    func testRealPatternsStayWithinTheBudgetOnLongInputs() throws {
        // The cl100k-style possessive pattern runs on the backtracking engine: a long text must not
        // come near the budget (it takes a few dozen steps per character).
        let pattern = #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#
        let tokenizer = try Tokenizer(tokenizerJSON: splitTokenizerJSON(pattern), name: "cl100k.json")
        let text = String(repeating: "Hello world, it's 2024!\n\n   12345678 ünïcödé   \t ", count: 2000)
            + String(repeating: " ", count: 20_000) + String(repeating: "9", count: 20_000)
        XCTAssertNoThrow(try tokenizer.encode(text))
    }

    // MARK: vocabulary and ids

    func testEmptyVocabularyIsAnError() {
        expectLoadError(LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["vocab"] = [String: Int]()
            model["merges"] = [String]()
            root["model"] = model
        }, field: "model.vocab", contains: "the vocabulary is empty")
    }

    func testDecodingAnIdOutsideTheVocabularyIsAnError() throws {
        // The minimal tokenizer without its added token and without id 100 ("d"): ids 0..<258 with a hole.
        let tokenizer = try Tokenizer(tokenizerJSON: LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["vocab"] = (model["vocab"] as! [String: Int]).filter { $0.value != 100 }
            root["model"] = model
            root["added_tokens"] = []
        }, name: "hostile/tokenizer.json")
        XCTAssertEqual(tokenizer.vocabularySize, 258)
        XCTAssertEqual(try tokenizer.decode([97, 257]), "aabc")
        for (ids, bad, position) in [([97, 258], Int32(258), 1), ([-1], -1, 0), ([97, 98, 100], 100, 2), ([Int32.max], Int32.max, 0)] {
            XCTAssertThrowsError(try tokenizer.decode(ids)) { error in
                XCTAssertEqual(error as? TokenizerError,
                               .unknownTokenId(file: "hostile/tokenizer.json", id: bad, position: position, vocabularySize: 258))
            }
            XCTAssertFalse(tokenizer.isKnownId(bad))
        }
        XCTAssertThrowsError(try tokenizer.decode([97, 258], skipSpecialTokens: true)) { error in
            XCTAssertEqual("\(error)", "hostile/tokenizer.json: cannot decode id 258 at position 1: it is no token of the vocabulary (258 ids, 0..<258)")
        }
        // The streaming decoder refuses the id and keeps its state.
        var stream = tokenizer.makeStreamingDecoder()
        XCTAssertEqual(try stream.push(97), "a")
        XCTAssertThrowsError(try stream.push(5000)) { error in
            XCTAssertEqual(error as? TokenizerError,
                           .unknownTokenId(file: "hostile/tokenizer.json", id: 5000, position: 1, vocabularySize: 258))
        }
        XCTAssertEqual(try stream.push(98), "b")
        XCTAssertEqual(stream.finish(), "")
    }
}
