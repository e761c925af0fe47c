// Exact comparison with the Hugging Face `tokenizers` library on the small committed tokenizers of
// Tests/Fixtures/tokenizers (written by Scripts/make_tokenizer_fixtures.py): encode with and without
// special tokens, decode (and skipping special tokens), streaming decode, pre-tokenizer variants.

import Foundation
import XCTest
import ChatTemplates
@testable import Tokenizers

/// Paths of the committed tokenizer fixtures (located from this file, so no bundle is needed).
enum TokenizerFixtures {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent("tokenizers")
    }
    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }
    static func load(_ name: String) throws -> Tokenizer { try Tokenizer(url: folder(name)) }

    static func json(_ url: URL) throws -> JSONValue {
        try JSONReader.parse(try Data(contentsOf: url), file: url.lastPathComponent)
    }
}

extension JSONValue {
    var ids: [Int32] { (arrayValue ?? []).map { Int32($0.integerValue!) } }
}

final class FixtureTests: XCTestCase {
    static let families = ["llama3-tiny", "smollm2-tiny", "qwen2-tiny", "gpt2-tiny", "llama2-tiny", "mistral-tiny", "gemma-tiny"]

    func testEncodeMatchesLibrary() throws {
        for family in FixtureTests.families {
            let tokenizer = try TokenizerFixtures.load(family)
            let cases = try TokenizerFixtures.json(TokenizerFixtures.folder(family).appendingPathComponent("cases.json")).objectValue!
            let encodeCases = cases["encode"]!.arrayValue!
            XCTAssertGreaterThan(encodeCases.count, 80)
            var failures = 0
            for c in encodeCases.map({ $0.objectValue! }) {
                let text = c["text"]!.stringValue!
                let ids = try tokenizer.encode(text)
                let withSpecial = try tokenizer.encode(text, addSpecialTokens: true)
                if ids != c["ids"]!.ids || withSpecial != c["ids_special"]!.ids {
                    failures += 1
                    if failures <= 3 {
                        XCTFail("\(family): \(text.debugDescription)\n got      \(ids) / \(withSpecial)\n expected \(c["ids"]!.ids) / \(c["ids_special"]!.ids)")
                    }
                }
                // Round trip (the decoded text differs from the input only where the pipeline changes it:
                // NFC, or the prefix space of add_prefix_space).
                let decoded = c["decoded"]?.stringValue ?? text
                XCTAssertEqual(try tokenizer.decode(ids), decoded, "\(family): decode of \(text.debugDescription)")
                XCTAssertEqual(try streamed(tokenizer, ids), decoded, "\(family): streaming decode of \(text.debugDescription)")
            }
            XCTAssertEqual(failures, 0, "\(family): encode mismatches")
        }
    }

    func testDecodeMatchesLibrary() throws {
        for family in FixtureTests.families {
            let tokenizer = try TokenizerFixtures.load(family)
            let cases = try TokenizerFixtures.json(TokenizerFixtures.folder(family).appendingPathComponent("cases.json")).objectValue!
            for c in cases["decode"]!.arrayValue!.map({ $0.objectValue! }) {
                let ids = c["ids"]!.ids
                XCTAssertEqual(try tokenizer.decode(ids), c["text"]!.stringValue!, "\(family): decode \(ids)")
                XCTAssertEqual(try tokenizer.decode(ids, skipSpecialTokens: true), c["text_skip_special"]!.stringValue!,
                               "\(family): decode skipping special tokens \(ids)")
                XCTAssertEqual(try streamed(tokenizer, ids), c["text"]!.stringValue!, "\(family): streaming decode \(ids)")
                XCTAssertEqual(try streamed(tokenizer, ids, skipSpecialTokens: true), c["text_skip_special"]!.stringValue!)
            }
        }
    }

    /// The chat template of tokenizer_config.json (Llama 2's; Gemma's for gemma-tiny) renders as
    /// transformers renders it, and the rendered text encodes to the library's ids (SentencePiece-style
    /// tokenizers); where the template raises (Gemma on a system message or roles that do not
    /// alternate), the error is the template's own message, located in the named template.
    func testSentencePieceChatTemplateMatchesTransformers() throws {
        for (family, expectedCount) in [("llama2-tiny", 4), ("mistral-tiny", 4), ("gemma-tiny", 6)] {
            let tokenizer = try TokenizerFixtures.load(family)
            let source = try XCTUnwrap(tokenizer.configuration.chatTemplate, family)
            let template = try ChatTemplate(source: source, name: "\(family)/tokenizer_config.json chat_template")
            let cases = try TokenizerFixtures.json(TokenizerFixtures.folder(family).appendingPathComponent("cases.json")).objectValue!
            let chats = try XCTUnwrap(cases["chat"]?.arrayValue)
            XCTAssertEqual(chats.count, expectedCount, family)
            for chat in chats.map({ $0.objectValue! }) {
                let conversation = chat["messages"]!.arrayValue!.map {
                    (role: $0.objectValue!["role"]!.stringValue!, content: $0.objectValue!["content"]!.stringValue!)
                }
                if let expected = chat["expected_error"]?.objectValue {
                    XCTAssertEqual(expected["type"]?.stringValue, "TemplateError", family)
                    XCTAssertThrowsError(try template.render(conversation: conversation, bosToken: tokenizer.bosToken,
                                                             eosToken: tokenizer.eosToken), family) { error in
                        guard let error = error as? TemplateError else { return XCTFail("\(family): \(error)") }
                        XCTAssertEqual(error.kind, .raised, family)
                        XCTAssertEqual(error.message, expected["message"]?.stringValue, family)
                        XCTAssertTrue(error.description.hasPrefix("\(family)/tokenizer_config.json chat_template:1:"), error.description)
                    }
                    continue
                }
                let text = try template.render(conversation: conversation, bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
                XCTAssertEqual(text, chat["text"]!.stringValue!, family)
                XCTAssertEqual(try tokenizer.encode(text), chat["ids"]!.ids, "\(family): \(text.debugDescription)")
            }
        }
    }

    /// Gemma's tokenizer.json shape: BOS-only template, <pad> <eos> <bos> <unk> at 0-3, the user-defined
    /// pieces (newline and "▁" runs, HTML tags) as non-special added tokens matched in the raw text, the
    /// turn markers special; the same ids with the no-op Split(" ", MergedWithPrevious) pre-tokenizer
    /// that later transformers converters write.
    func testGemmaTokenizerShape() throws {
        let gemma = try TokenizerFixtures.load("gemma-tiny")
        XCTAssertEqual(gemma.bosToken, "<bos>")
        XCTAssertEqual(gemma.bosTokenId, 2)
        XCTAssertEqual(gemma.eosTokenId, 1)
        XCTAssertEqual(gemma.padTokenId, 0)
        XCTAssertEqual(gemma.id(of: "<unk>"), 3)
        XCTAssertEqual(gemma.prefixTokenIds, [2])
        XCTAssertEqual(gemma.suffixTokenIds, [])
        XCTAssertEqual(gemma.configuration.addBosToken, true)
        XCTAssertEqual(gemma.configuration.addEosToken, false)
        for marker in ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>"] {
            XCTAssertTrue(gemma.isSpecial(try XCTUnwrap(gemma.id(of: marker), marker)), marker)
        }
        for piece in ["\n", "\n\n", "\n\n\n", "▁▁", "▁▁▁▁", "<table>", "</b>"] {
            let id = try XCTUnwrap(gemma.id(of: piece), piece)
            XCTAssertFalse(gemma.isSpecial(id), piece)
            XCTAssertTrue(gemma.addedTokens.contains { $0.id == id && !$0.isNormalized }, piece)
        }
        // No dummy prefix: a leading space is its own "▁", and decoding gives it back (no Strip).
        let ids = try gemma.encode(" Hi\n\n<b>x</b>")
        XCTAssertEqual(gemma.token(for: ids[0]).map { $0.hasPrefix("▁") }, true)
        XCTAssertTrue(ids.contains(gemma.id(of: "\n\n")!))
        XCTAssertEqual(try gemma.decode(ids), " Hi\n\n<b>x</b>")
        XCTAssertEqual(try gemma.encode("<start_of_turn>user\nHi", parseSpecialTokens: false).first, gemma.id(of: "<")!)
        // What one token shows as by itself (`idpo tokenize`) is what decoding it gives, added tokens
        // included: the library runs them through the decoder too, so "▁▁" is two spaces.
        XCTAssertEqual(gemma.bytes(of: try XCTUnwrap(gemma.id(of: "▁▁"))), [0x20, 0x20])
        for id in Int32(0)..<Int32(gemma.vocabularySize) {
            guard let token = gemma.token(for: id), byteFallbackValue(token) == nil else { continue }
            XCTAssertEqual(String(decoding: try XCTUnwrap(gemma.bytes(of: id)), as: UTF8.self), try gemma.decode([id]),
                           "\(id) \(token.debugDescription)")
        }

        let data = try Data(contentsOf: TokenizerFixtures.folder("gemma-tiny").appendingPathComponent("tokenizer.json"))
        var document = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        document["pre_tokenizer"] = ["type": "Split", "pattern": ["String": " "], "behavior": "MergedWithPrevious", "invert": false]
        let split = try Tokenizer(tokenizerJSON: try JSONSerialization.data(withJSONObject: document), name: "gemma-split.json")
        let cases = try TokenizerFixtures.json(TokenizerFixtures.folder("gemma-tiny").appendingPathComponent("cases.json")).objectValue!
        for c in cases["encode"]!.arrayValue!.map({ $0.objectValue! }) {
            XCTAssertEqual(try split.encode(c["text"]!.stringValue!), c["ids"]!.ids, c["text"]!.stringValue!.debugDescription)
        }
    }

    func testPreTokenizerVariantsMatchLibrary() throws {
        let variants = try TokenizerFixtures.json(TokenizerFixtures.root.appendingPathComponent("variants.json")).objectValue!
        let baseName = variants["base"]!.stringValue!
        let baseData = try Data(contentsOf: TokenizerFixtures.folder(baseName).appendingPathComponent("tokenizer.json"))
        var base = try JSONSerialization.jsonObject(with: baseData) as! [String: Any]
        for variant in variants["variants"]!.arrayValue!.map({ $0.objectValue! }) {
            let name = variant["name"]!.stringValue!
            base["pre_tokenizer"] = try JSONSerialization.jsonObject(with: serialize(variant["pre_tokenizer"]!))
            let data = try JSONSerialization.data(withJSONObject: base)
            let tokenizer = try Tokenizer(tokenizerJSON: data, name: "\(name).json")
            var failures = 0
            for c in variant["cases"]!.arrayValue!.map({ $0.objectValue! }) {
                let text = c["text"]!.stringValue!
                let ids = try tokenizer.encode(text)
                if ids != c["ids"]!.ids {
                    failures += 1
                    if failures <= 3 { XCTFail("\(name): \(text.debugDescription)\n got      \(ids)\n expected \(c["ids"]!.ids)") }
                }
            }
            XCTAssertEqual(failures, 0, "variant \(name)")
        }
    }

    func testSpecialTokensInsideText() throws {
        let tokenizer = try TokenizerFixtures.load("llama3-tiny")
        let eot = try XCTUnwrap(tokenizer.id(of: "<|eot_id|>"))
        let ids = try tokenizer.encode("Hi<|eot_id|>there")
        XCTAssertTrue(ids.contains(eot))
        XCTAssertEqual(try tokenizer.decode(ids), "Hi<|eot_id|>there")
        XCTAssertEqual(try tokenizer.decode(ids, skipSpecialTokens: true), "Hithere")
        // Left as text when special tokens are not parsed.
        let plain = try tokenizer.encode("Hi<|eot_id|>there", parseSpecialTokens: false)
        XCTAssertFalse(plain.contains(eot))
        XCTAssertEqual(try tokenizer.decode(plain), "Hi<|eot_id|>there")
        // The BOS template.
        XCTAssertEqual(try tokenizer.encode("", addSpecialTokens: true), [tokenizer.bosTokenId!])
        XCTAssertEqual(try tokenizer.encode(""), [])
    }

    func testModelDirectorySettings() throws {
        let llama = try TokenizerFixtures.load("llama3-tiny")
        XCTAssertEqual(llama.bosToken, "<|begin_of_text|>")
        XCTAssertEqual(llama.bosTokenId, llama.id(of: "<|begin_of_text|>"))
        XCTAssertEqual(llama.eosToken, "<|eot_id|>")
        XCTAssertEqual(llama.stopTokenIds, [llama.id(of: "<|end_of_text|>")!, llama.id(of: "<|eot_id|>")!].sorted())
        XCTAssertEqual(llama.configuration.addBosToken, true)
        XCTAssertEqual(llama.configuration.modelMaxLength, 131072)
        XCTAssertEqual(llama.configuration.chatTemplate?.hasPrefix("{{ bos_token }}"), true)
        XCTAssertEqual(llama.prefixTokenIds, [llama.bosTokenId!])
        XCTAssertTrue(llama.isSpecial(llama.bosTokenId!))

        let smol = try TokenizerFixtures.load("smollm2-tiny")
        XCTAssertEqual(smol.bosToken, "<|im_start|>")
        XCTAssertEqual(smol.eosTokenId, smol.id(of: "<|im_end|>"))
        XCTAssertEqual(smol.padTokenId, smol.id(of: "<|im_end|>"))
        XCTAssertEqual(smol.configuration.chatTemplate, "{{ messages }}")
        XCTAssertEqual(smol.configuration.namedChatTemplates["tool_use"], "{{ tools }}")

        // A tokenizer.json alone: BOS from the template, no EOS.
        let file = try Tokenizer(url: TokenizerFixtures.folder("gpt2-tiny").appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(file.bosToken, "<s>")
        XCTAssertNil(file.eosToken)
        XCTAssertEqual(file.suffixTokenIds, [file.id(of: "</s>")!])
    }

    func testVocabularyLookups() throws {
        let tokenizer = try TokenizerFixtures.load("llama3-tiny")
        XCTAssertGreaterThan(tokenizer.vocabularySize, 900)
        for id in Int32(0)..<Int32(tokenizer.vocabularySize) {
            guard let token = tokenizer.token(for: id) else { continue }
            XCTAssertEqual(tokenizer.id(of: token), id, "id(of: token(for: \(id)))")
        }
        let space = try XCTUnwrap(tokenizer.id(of: "Ġ"))
        XCTAssertEqual(tokenizer.bytes(of: space), [0x20])
        XCTAssertNil(tokenizer.token(for: -1))
        XCTAssertNil(tokenizer.token(for: Int32(tokenizer.vocabularySize)))
        XCTAssertNil(tokenizer.id(of: "no such token ☃"))
        // Unknown ids are an error of decode (the library skips them silently), naming the id and its position.
        XCTAssertEqual(try tokenizer.decode([space, space]), "  ")
    }

    func testConcurrentEncodingIsConsistent() throws {
        let tokenizer = try TokenizerFixtures.load("qwen2-tiny")
        let texts = (0..<64).map { "Text \($0): café e\u{301}x <think> 12345 \u{4E2D}\u{6587} " + String(repeating: "ab", count: $0) }
        let expected = try texts.map { try tokenizer.encode($0) }
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: texts.count * 4)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: texts.count * 4) { i in
            results[i] = (try? tokenizer.encode(texts[i % texts.count])) ?? [-1]
        }
        for i in 0..<(texts.count * 4) { XCTAssertEqual(results[i], expected[i % texts.count]) }
    }

    /// The work `idpo tokenize --benchmark` times (one long text encoded over and over) gives the same
    /// ids every time and round-trips; its speed is measured by the benchmark, not here.
    func testRepeatedEncodingOfALongTextIsStable() throws {
        let tokenizer = try TokenizerFixtures.load("llama3-tiny")
        let text = String(repeating: "Hello world, it's 2024! ", count: 200)
        let first = try tokenizer.encode(text)
        XCTAssertFalse(first.isEmpty)
        for _ in 0..<3 { XCTAssertEqual(try tokenizer.encode(text), first) }
        XCTAssertEqual(try tokenizer.decode(first), text)
    }

    private func streamed(_ tokenizer: Tokenizer, _ ids: [Int32], skipSpecialTokens: Bool = false) throws -> String {
        var stream = tokenizer.makeStreamingDecoder(skipSpecialTokens: skipSpecialTokens)
        var text = ""
        for id in ids { text += try stream.push(id) }
        return text + stream.finish()
    }

    private func serialize(_ value: JSONValue) throws -> Data {
        func convert(_ v: JSONValue) -> Any {
            switch v {
            case .null: return NSNull()
            case .bool(let b): return b
            case .integer(let i): return i
            case .double(let d): return d
            case .string(let s): return s
            case .array(let a): return a.map(convert)
            case .object(let o):
                var d: [String: Any] = [:]
                for (k, v) in zip(o.keys, o.values) { d[k] = convert(v) }
                return d
            }
        }
        return try JSONSerialization.data(withJSONObject: convert(value))
    }
}
