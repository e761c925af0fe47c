// Loading errors: bad input is a thrown TokenizerError naming the file and the JSON field, never a trap.

import Foundation
import XCTest
@testable import Tokenizers

final class LoadingErrorTests: XCTestCase {
    /// A minimal valid byte-level tokenizer.json: the 256 byte tokens, "ab", "abc" and two merges,
    /// with `edit` applied to the top-level object first.
    static func tokenizerJSON(_ edit: (inout [String: Any]) -> Void = { _ in }) -> Data {
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[ByteLevelAlphabet.spelling(of: [UInt8(b)])] = b }
        vocab["ab"] = 256
        vocab["abc"] = 257
        var root: [String: Any] = [
            "version": "1.0",
            "added_tokens": [["id": 258, "content": "<|end|>", "special": true, "normalized": false,
                              "lstrip": false, "rstrip": false, "single_word": false]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": ["a b", "ab c"]] as [String: Any],
        ]
        edit(&root)
        return try! JSONSerialization.data(withJSONObject: root)
    }

    private func expectError(_ data: Data, field: String?, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: data, name: "broken/tokenizer.json"), file: file, line: line) { error in
            guard let error = error as? TokenizerError else { return XCTFail("not a TokenizerError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.field, field, "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains("broken/tokenizer.json"), "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(text), "\(error) should mention \(text)", file: file, line: line)
        }
    }

    func testMinimalTokenizerWorks() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: LoadingErrorTests.tokenizerJSON())
        // "abc" merges a+b then ab+c; " ab" is Ġ + ab (no merge with Ġ); the special token is split out first.
        XCTAssertEqual(try tokenizer.encode("abc ab<|end|>"), [257, 32, 256, 258])
        XCTAssertEqual(tokenizer.vocabularySize, 259)
        XCTAssertEqual(try tokenizer.decode(try tokenizer.encode("abc ab<|end|>")), "abc ab<|end|>")
    }

    func testUnknownBytesFollowTheLibrary() throws {
        // A vocabulary without "z" and "q": without unk_token they are dropped (and the rest still merges),
        // with it they become <unk>, fused into one when fuse_unk is set. Expected ids from the library.
        func tokenizer(unk: String?, fuse: Bool) throws -> Tokenizer {
            try Tokenizer(tokenizerJSON: LoadingErrorTests.tokenizerJSON { root in
                var model = root["model"] as! [String: Any]
                var vocab = model["vocab"] as! [String: Int]
                vocab["z"] = nil
                vocab["q"] = nil
                vocab["<unk>"] = 258
                model["vocab"] = vocab
                model["unk_token"] = unk ?? NSNull()
                model["fuse_unk"] = fuse
                root["model"] = model
                root["added_tokens"] = []
            })
        }
        let texts = ["azb", "zzqab", "abc z", "z", "abzzc", "qq"]
        let expected: [(String?, Bool, [[Int32]])] = [
            (nil, false, [[256], [256], [257, 32], [], [257], []]),
            ("<unk>", false, [[97, 258, 98], [258, 258, 258, 256], [257, 32, 258], [258], [256, 258, 258, 99], [258, 258]]),
            ("<unk>", true, [[97, 258, 98], [258, 256], [257, 32, 258], [258], [256, 258, 99], [258]]),
        ]
        for (unk, fuse, ids) in expected {
            let t = try tokenizer(unk: unk, fuse: fuse)
            XCTAssertEqual(try texts.map { try t.encode($0) }, ids, "unk_token \(unk ?? "null"), fuse_unk \(fuse)")
        }
    }

    func testBadJSONNamesLineAndColumn() {
        let data = Data("{\n  \"model\": {\"type\": \"BPE\",\n   \"vocab\": {\"a\": 0,}\n}".utf8)
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: data, name: "bad.json")) { error in
            guard case TokenizerError.invalidJSON(let file, let line, _, let message)? = error as? TokenizerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "bad.json")
            XCTAssertEqual(line, 3)
            XCTAssertTrue(message.contains("expected a string key"), message)
        }
        for broken in ["", "{", "[1,]", "{\"a\" 1}", "\"\\x\"", "\"\u{01}\"", "tru", "{} extra", "1.e5", "\"\\ud800\""] {
            XCTAssertThrowsError(try JSONReader.parse(Data(broken.utf8), file: "x.json"), broken.debugDescription)
        }
        XCTAssertThrowsError(try JSONReader.parse(Data([0x22, 0xC3, 0x28, 0x22]), file: "x.json"))   // invalid UTF-8
        XCTAssertThrowsError(try JSONReader.parse(Data(String(repeating: "[", count: 600).utf8), file: "x.json"))
    }

    func testJSONReaderValues() throws {
        let value = try JSONReader.parse(Data(#"{"s": "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "n": -12, "d": 2.5e-1, "b": [true, false, null], "k": 1, "k": 2}"#.utf8), file: "x")
        let o = try XCTUnwrap(value.objectValue)
        XCTAssertEqual(o["s"]?.stringValue, "a\"\\/\u{8}\u{c}\n\r\té😀")
        XCTAssertEqual(o["n"]?.integerValue, -12)
        XCTAssertEqual(o["d"]?.doubleValue, 0.25)
        XCTAssertEqual(o["b"]?.arrayValue?.count, 3)
        XCTAssertEqual(o["k"]?.integerValue, 2, "the last duplicate key wins")
    }

    func testUnknownModelType() {
        expectError(LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["type"] = "WordPiece"
            root["model"] = model
        }, field: "model.type", contains: "WordPiece")
    }

    func testUnsupportedNormalizer() {
        expectError(LoadingErrorTests.tokenizerJSON { $0["normalizer"] = ["type": "NFKC"] }, field: "normalizer.type", contains: "NFKC")
        expectError(LoadingErrorTests.tokenizerJSON { $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]] },
                    field: "normalizer.normalizers[1].type", contains: "Lowercase")
    }

    func testUnsupportedPreTokenizerAndPattern() {
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Whitespace"]]]
        }, field: "pre_tokenizer.pretokenizers[0].type", contains: "Whitespace")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"]
        }, field: "pre_tokenizer.prepend_scheme", contains: "sometimes")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "ab"]
        }, field: "pre_tokenizer.replacement", contains: "one character")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(?<=a)b"], "behavior": "Isolated", "invert": false]
        }, field: "pre_tokenizer.pattern.Regex", contains: "look-behind")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "\\p{Greek}"], "behavior": "Isolated", "invert": false]
        }, field: "pre_tokenizer.pattern.Regex", contains: "Greek")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "a"], "behavior": "Sideways", "invert": false]
        }, field: "pre_tokenizer.behavior", contains: "Sideways")
    }

    func testBadModelFields() {
        expectError(LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["merges"] = ["a b", "x yz"]
            root["model"] = model
        }, field: "model.merges[1]", contains: "'yz' is not in model.vocab")
        expectError(LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["merges"] = ["a b c"]
            root["model"] = model
        }, field: "model.merges[0]", contains: "two tokens")
        expectError(LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["vocab"] = ["a": "zero"]
            root["model"] = model
        }, field: "model.vocab[\"a\"]", contains: "token id")
        expectError(LoadingErrorTests.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["continuing_subword_prefix"] = "##"
            root["model"] = model
        }, field: "model.continuing_subword_prefix", contains: "##")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["decoder"] = ["type": "Sequence", "decoders": [["type": "Replace", "pattern": ["Regex": "x"], "content": " "]]]
        }, field: "decoder.decoders[0].pattern", contains: "String")
        expectError(LoadingErrorTests.tokenizerJSON {
            $0["decoder"] = ["type": "Strip", "content": " ", "start": -1, "stop": 0]
        }, field: "decoder.start", contains: "non-negative")
        expectError(LoadingErrorTests.tokenizerJSON { $0["model"] = nil }, field: "model", contains: "missing")
        expectError(LoadingErrorTests.tokenizerJSON { $0["decoder"] = ["type": "WordPiece"] }, field: "decoder.type", contains: "WordPiece")
        expectError(LoadingErrorTests.tokenizerJSON { $0["post_processor"] = ["type": "Magic"] }, field: "post_processor.type", contains: "Magic")
        expectError(LoadingErrorTests.tokenizerJSON { $0["added_tokens"] = [["id": 5]] }, field: "added_tokens[0].content", contains: "missing")
    }

    func testMissingFilesAndBadConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertThrowsError(try Tokenizer(url: directory)) { error in
            guard case TokenizerError.fileNotFound(let path)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("tokenizer.json"))
        }
        XCTAssertThrowsError(try Tokenizer(url: directory.appendingPathComponent("nope")))
        try LoadingErrorTests.tokenizerJSON().write(to: directory.appendingPathComponent("tokenizer.json"))
        try Data("{\"eos_token\": 5}".utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        XCTAssertThrowsError(try Tokenizer(url: directory)) { error in
            XCTAssertEqual((error as? TokenizerError)?.field, "eos_token")
            XCTAssertTrue("\(error)".contains("tokenizer_config.json"), "\(error)")
        }
        try Data("{\"eos_token\": \"<|end|>\"}".utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try Tokenizer(url: directory)
        XCTAssertEqual(tokenizer.eosTokenId, 258)
        XCTAssertEqual(tokenizer.stopTokenIds, [258])
    }

    func testAddedTokenIdsFollowTheLibrary() throws {
        // The library ignores "id": tokens in the vocabulary keep their id, others follow the vocabulary.
        let tokenizer = try Tokenizer(tokenizerJSON: LoadingErrorTests.tokenizerJSON { root in
            root["added_tokens"] = [
                ["id": 900, "content": "<|a|>", "special": true, "normalized": false],
                ["id": 901, "content": "abc", "special": true, "normalized": false],
                ["id": 902, "content": "<|b|>", "special": false, "normalized": false],
            ]
        })
        XCTAssertEqual(tokenizer.id(of: "<|a|>"), 258)
        XCTAssertEqual(tokenizer.id(of: "abc"), 257)
        XCTAssertEqual(tokenizer.id(of: "<|b|>"), 259)
        XCTAssertEqual(tokenizer.vocabularySize, 260)
        XCTAssertEqual(try tokenizer.decode([258, 257, 259], skipSpecialTokens: true), "<|b|>")
    }
}

final class RobustnessTests: XCTestCase {
    /// Random damage to a valid tokenizer.json must give a thrown error or a working tokenizer, never a trap.
    func testDamagedFilesNeverTrap() throws {
        let original = [UInt8](try Data(contentsOf: TokenizerFixtures.folder("qwen2-tiny").appendingPathComponent("tokenizer.json")))
        var rng = SeededGenerator(seed: 99)
        var loaded = 0, rejected = 0
        for round in 0..<300 {
            var bytes = original
            switch round % 3 {
            case 0:   // truncate
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            case 1:   // flip a few bytes to JSON-significant characters
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = Array("{}[],:\"0-9 xé".utf8).randomElement(using: &rng)!
                }
            default:  // replace a number with a huge or negative one
                if let index = bytes.indices.filter({ bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }).randomElement(using: &rng) {
                    bytes.replaceSubrange(index...index, with: Array(["99999999999", "-1", "1e400", "2147483648"].randomElement(using: &rng)!.utf8))
                }
            }
            do {
                let tokenizer = try Tokenizer(tokenizerJSON: Data(bytes), name: "damaged.json")
                let ids = try tokenizer.encode("Hello <think> wörld 123 \u{301}")
                _ = try tokenizer.decode(ids)
                XCTAssertThrowsError(try tokenizer.decode(ids + [-1, Int32.max]))
                loaded += 1
            } catch is TokenizerError {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 100)
        XCTAssertGreaterThan(loaded, 0)
    }
}
