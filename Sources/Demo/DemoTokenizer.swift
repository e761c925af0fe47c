// The demo models' tokenizer, written as ordinary Hugging Face files: a byte-level BPE
// tokenizer.json (the 256 byte tokens plus whole-piece tokens for the text the chat template, the
// pairwise judge's prompt and the demo task repeat in every sequence, each also reachable through a
// chain of merges; the Llama 3 pre-tokenizer regex; Llama 3's special tokens), a
// tokenizer_config.json with the Llama 3 chat template, and a generation_config.json. Every byte
// string encodes; digits stay one token each; "A" and "B" are single tokens, as the pairwise
// preference model needs.

import Foundation
import Checkpoints
import Support
import Pipeline

public enum DemoTokenizer {
    /// Pre-tokenized pieces (as the Llama 3 split regex cuts them) that become single tokens:
    /// `ignore_merges` looks each piece up whole (as Llama 3 does), and a left-to-right chain of
    /// merges builds it too. Longer sequences are slower: these make the judge's prompt ~30 % shorter.
    public static let wholePieces = ["user", "assistant", "\n\n", "sort", " sort", " user", "\n\n\n", " \n\n\n",
                                     "[CONTEXT", "<turn", " [", "RESPONSE", " A", " B"]

    /// Llama 3's special tokens, after the byte and merged tokens (ids from `vocabulary.count`).
    public static let specialTokens = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    public static let bosToken = "<|begin_of_text|>"
    public static let eosToken = "<|eot_id|>"

    /// Llama 3's chat template (without the tool and date preamble of 3.1+).
    public static let chatTemplate =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"

    /// The Llama 3 split regex (digits in groups of up to three, words with one leading non-letter).
    static let splitPattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The merges, in rank order: for each piece w, w[..<i] + w[i] for i = 1 ..< |w| (duplicates once).
    public static let merges: [(left: String, right: String)] = {
        var out: [(String, String)] = [], seen = Set<String>()
        for word in wholePieces {
            let chars = Array(word)
            for i in 1..<chars.count {
                let left = String(chars[..<i]), right = String(chars[i])
                if seen.insert(left + "\u{0}" + right).inserted { out.append((left, right)) }
            }
        }
        return out
    }()

    /// Model vocabulary: bytes 0…255 first (id = byte value), then each merge's result.
    public static let vocabulary: [String] = {
        var tokens = (0..<256).map { spell([UInt8($0)]) }
        var seen = Set(tokens)
        for m in merges {
            let merged = spell(Array((m.left + m.right).utf8))
            if seen.insert(merged).inserted { tokens.append(merged) }
        }
        return tokens
    }()

    /// Ids of the special tokens (they follow the model vocabulary).
    public static func specialTokenId(_ token: String) -> Int32 {
        Int32(vocabulary.count + specialTokens.firstIndex(of: token)!)
    }

    /// One more than the largest id.
    public static var vocabularySize: Int { vocabulary.count + specialTokens.count }

    /// The vocab_size the demo models use: the tokenizer's size rounded up to a multiple of 8.
    public static var modelVocabularySize: Int { (vocabularySize + 7) / 8 * 8 }

    /// The ids that end a response: <|end_of_text|> and <|eot_id|>.
    public static var eosTokenIds: [Int32] { [specialTokenId("<|end_of_text|>"), specialTokenId("<|eot_id|>")] }

    /// tokenizer.json contents (keys sorted: the file is byte-identical on every run).
    public static func tokenizerJSON() throws -> Data {
        let vocab = vocabulary
        var vocabObject: [String: Int] = [:]
        for (id, token) in vocab.enumerated() { vocabObject[token] = id }
        let added: [[String: Any]] = specialTokens.enumerated().map { i, token in
            ["id": vocab.count + i, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true]
        }
        let bosId = Int(specialTokenId(bosToken))
        let root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": added,
            "normalizer": NSNull(),
            "pre_tokenizer": [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": splitPattern], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
                ],
            ],
            "post_processor": [
                "type": "Sequence",
                "processors": [
                    ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
                    ["type": "TemplateProcessing",
                     "single": [["SpecialToken": ["id": bosToken, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                     "pair": [["SpecialToken": ["id": bosToken, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                              ["SpecialToken": ["id": bosToken, "type_id": 1]], ["Sequence": ["id": "B", "type_id": 1]]],
                     "special_tokens": [bosToken: ["id": bosToken, "ids": [bosId], "tokens": [bosToken]]]] as [String: Any],
                ],
            ],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": true,
                "vocab": vocabObject,
                "merges": merges.map { [spell(Array($0.left.utf8)), spell(Array($0.right.utf8))] },
            ] as [String: Any],
        ]
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }

    /// tokenizer_config.json: BOS/EOS and the chat template.
    public static func tokenizerConfigJSON() throws -> Data {
        let root: [String: Any] = [
            "bos_token": bosToken, "eos_token": eosToken, "add_bos_token": true, "model_max_length": 256,
            "clean_up_tokenization_spaces": false, "tokenizer_class": "PreTrainedTokenizerFast",
            "chat_template": chatTemplate,
        ]
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }

    /// generation_config.json: the stop ids.
    public static func generationConfigJSON() throws -> Data {
        let root: [String: Any] = ["bos_token_id": Int(specialTokenId(bosToken)), "eos_token_id": eosTokenIds.map(Int.init)]
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted])
    }

    /// Writes tokenizer.json, tokenizer_config.json and generation_config.json into `directory`.
    public static func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(try tokenizerJSON(), to: directory.appendingPathComponent("tokenizer.json"))
        try AtomicFile.write(try tokenizerConfigJSON(), to: directory.appendingPathComponent("tokenizer_config.json"))
        try AtomicFile.write(try generationConfigJSON(), to: directory.appendingPathComponent("generation_config.json"))
    }

    /// GPT-2's byte-level spelling: printable bytes stand for themselves, the others for U+0100 onwards.
    static func spell(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(characterForByte[Int(b)])!) }
        return String(s)
    }

    static let characterForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256), extra: UInt32 = 0
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + extra; extra += 1
            }
        }
        return table
    }()
}
