// A GGUF file's tokenizer metadata as Hugging Face tokenizer.json / tokenizer_config.json: the
// generated files encode every text of the tokenizer fixtures to the ids the Hugging Face library
// gave for the original tokenizer.json (smollm2-tiny: Digits + ByteLevel; llama3-tiny: Llama 3
// split, ignore_merges, BOS template), carry the special tokens and chat template, and tokenizers
// llama.cpp names differently are refused naming the field and value.

import XCTest
import Foundation
@testable import Checkpoints
import Tokenizers
import TestSupport

final class GGUFTokenizerTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-ggufok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func tokenizer(_ files: GGUFTokenizerFiles) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: files.tokenizerJSON, name: "generated tokenizer.json",
                      configuration: try TokenizerConfiguration(tokenizerConfigJSON: files.tokenizerConfigJSON))
    }

    func json(_ data: Data) throws -> [String: Any] { try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any]) }

    func testGeneratedTokenizersEncodeAsTheOriginals() throws {
        for (gguf, family) in [("tiny-smollm", "smollm2-tiny"), ("tiny-llama3", "llama3-tiny")] {
            let files = try GGUFFile(url: Fixtures.url("gguf/\(gguf).gguf")).huggingFaceTokenizer()
            let tok = try tokenizer(files)
            let cases = try json(try Data(contentsOf: Fixtures.url("tokenizers/\(family)/cases.json")))
            let encode = try XCTUnwrap(cases["encode"] as? [[String: Any]])
            XCTAssertGreaterThan(encode.count, 80)
            var failures = 0
            for c in encode {
                let text = c["text"] as! String
                let ids = (c["ids"] as! [Int]).map(Int32.init), special = (c["ids_special"] as! [Int]).map(Int32.init)
                if try tok.encode(text) != ids || tok.encode(text, addSpecialTokens: true) != special {
                    failures += 1
                    if failures <= 3 { XCTFail("\(family) via GGUF: \(text.debugDescription) → \(try tok.encode(text)), expected \(ids)") }
                }
            }
            XCTAssertEqual(failures, 0, "\(family): texts encoded differently")
            for c in try XCTUnwrap(cases["decode"] as? [[String: Any]]) {
                XCTAssertEqual(try tok.decode((c["ids"] as! [Int]).map(Int32.init)), c["text"] as? String, family)
            }
            // The structure equals the original tokenizer.json where it matters.
            let original = try json(try Data(contentsOf: Fixtures.url("tokenizers/\(family)/tokenizer.json")))
            let generated = try json(files.tokenizerJSON)
            XCTAssertEqual(generated["pre_tokenizer"] as? NSDictionary, original["pre_tokenizer"] as? NSDictionary, family)
            XCTAssertEqual(generated["added_tokens"] as? NSArray, original["added_tokens"] as? NSArray, family)
            let (gm, om) = (generated["model"] as! [String: Any], original["model"] as! [String: Any])
            XCTAssertEqual(gm["vocab"] as? NSDictionary, om["vocab"] as? NSDictionary, family)
            XCTAssertEqual(gm["merges"] as? NSArray, om["merges"] as? NSArray, family)
            XCTAssertEqual(gm["ignore_merges"] as? Bool, om["ignore_merges"] as? Bool, family)
        }
    }

    func testTokenizerConfiguration() throws {
        let smol = try tokenizer(try GGUFFile(url: Fixtures.url("gguf/tiny-smollm.gguf")).huggingFaceTokenizer())
        XCTAssertEqual(smol.bosToken, "<|im_start|>"); XCTAssertEqual(smol.bosTokenId, 1)
        XCTAssertEqual(smol.eosToken, "<|im_end|>"); XCTAssertEqual(smol.padTokenId, 2)
        XCTAssertEqual(smol.configuration.addBosToken, false)
        XCTAssertTrue(smol.configuration.chatTemplate?.hasPrefix("{% for message in messages %}") ?? false)
        XCTAssertTrue(smol.isSpecial(2))
        XCTAssertEqual(smol.prefixTokenIds, [])
        let llama = try tokenizer(try GGUFFile(url: Fixtures.url("gguf/tiny-llama3.gguf")).huggingFaceTokenizer())
        XCTAssertEqual(llama.prefixTokenIds, [0], "add_bos_token: the post-processor puts <|begin_of_text|> first")
        XCTAssertEqual(llama.eosToken, "<|eot_id|>")
        XCTAssertEqual(llama.configuration.modelMaxLength, 256)
    }

    /// tiny-smollm with its tokenizer metadata edited.
    func variant(_ edit: (inout GGUFWriter) -> Void) throws -> GGUFFile {
        let file = try GGUFFile(url: Fixtures.url("gguf/tiny-smollm.gguf"))
        var w = GGUFWriter()
        w.metadata = file.metadataKeys.map { ($0, file.metadata[$0]!) }
        edit(&w)
        let url = tmp.appendingPathComponent("\(UUID().uuidString).gguf")
        try w.write(to: url)
        return try GGUFFile(url: url)
    }

    func set(_ w: inout GGUFWriter, _ key: String, _ value: GGUFValue?) {
        w.metadata.removeAll { $0.key == key }
        if let value { w.metadata.append((key, value)) }
    }

    func expectRefusal(_ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ edit: (inout GGUFWriter) -> Void) throws {
        let f = try variant(edit)
        XCTAssertThrowsError(try f.huggingFaceTokenizer(), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "'\(error)' should mention '\(fragment)'", file: file, line: line)
            XCTAssertTrue("\(error)".contains(f.path), file: file, line: line)
        }
    }

    func testUnsupportedTokenizersAreRefused() throws {
        try expectRefusal("'tokenizer.ggml.model' = 'llama' (SentencePiece) is not supported") { self.set(&$0, "tokenizer.ggml.model", .string("llama")) }
        try expectRefusal("'tokenizer.ggml.pre' = 'qwen2' is not supported (supported: smollm, llama-bpe, llama3, gpt-2, default)") {
            self.set(&$0, "tokenizer.ggml.pre", .string("qwen2"))
        }
        try expectRefusal("missing metadata 'tokenizer.ggml.model'") { self.set(&$0, "tokenizer.ggml.model", nil) }
        try expectRefusal("'tokenizer.ggml.token_type' has 2 entries but 'tokenizer.ggml.tokens' has 859") {
            self.set(&$0, "tokenizer.ggml.token_type", .array(.int32([1, 1])))
        }
        try expectRefusal("'tokenizer.ggml.merges[1]' = \"a zzz\": 'zzz' is not in 'tokenizer.ggml.tokens'") {
            self.set(&$0, "tokenizer.ggml.merges", .array(.string(["à ¤", "a zzz"])))
        }
        try expectRefusal("'tokenizer.ggml.merges[0]' = \"abc\" is not two tokens") { self.set(&$0, "tokenizer.ggml.merges", .array(.string(["abc"]))) }
        try expectRefusal("'tokenizer.ggml.eos_token_id' = 9999 is not a token id") { self.set(&$0, "tokenizer.ggml.eos_token_id", .uint32(9999)) }
        try expectRefusal("'tokenizer.ggml.tokens' is ARRAY of INT32, expected ARRAY of STRING") { self.set(&$0, "tokenizer.ggml.tokens", .array(.int32([1]))) }
        // The GPT-2 pre-tokenizer (and llama.cpp's default when the key is absent) is plain ByteLevel.
        let gpt2 = try json(try variant { self.set(&$0, "tokenizer.ggml.pre", nil) }.huggingFaceTokenizer().tokenizerJSON)
        XCTAssertEqual((gpt2["pre_tokenizer"] as? [String: Any])?["type"] as? String, "ByteLevel")
    }

    func testJSONEscapesEveryTokenSpelling() throws {
        let odd = ["\"quoted\"", "back\\slash", "tab\there", "nul\u{0}x", "\u{1F}", "é😀", "a/b"]
        let f = try variant {
            let file = try! GGUFFile(url: Fixtures.url("gguf/tiny-smollm.gguf"))
            let tokens = try! file.stringArray("tokenizer.ggml.tokens")! + odd
            let types = try! file.integerArray("tokenizer.ggml.token_type")!.map(Int32.init) + odd.map { _ in 1 }
            self.set(&$0, "tokenizer.ggml.tokens", .array(.string(tokens)))
            self.set(&$0, "tokenizer.ggml.token_type", .array(.int32(types)))
        }
        let vocab = try json(try f.huggingFaceTokenizer().tokenizerJSON)["model"] as! [String: Any]
        let ids = vocab["vocab"] as! [String: Int]
        for (k, t) in odd.enumerated() { XCTAssertEqual(ids[t], 859 + k, t.debugDescription) }
    }
}
