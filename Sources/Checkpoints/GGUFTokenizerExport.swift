// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) as GGUF `tokenizer.ggml.*`
// metadata, the inverse of GGUFTokenizer.swift and what convert_hf_to_gguf.py writes for byte-level
// BPE: tokens by id (gaps filled with "[PADn]" up to the model's vocabulary, type UNUSED), token types
// (special added tokens CONTROL, other added tokens USER_DEFINED), merges as "left right", the
// special token ids, add_bos/add_eos and the chat template. `tokenizer.ggml.pre` is recognised from
// the pre-tokenizer's structure (smollm, llama-bpe, gpt-2); anything llama.cpp would tokenize
// differently — other pre-tokenizers, normalizers, SentencePiece-style byte fallback — is refused.

import Foundation
import Llama
import Support

/// A tokenizer to write into a GGUF file.
public struct GGUFTokenizerExport: Sendable {
    public let tokenizerJSON: Data
    public let tokenizerConfigJSON: Data?
    /// A chat template that overrides tokenizer_config.json's (chat_template.jinja).
    public let chatTemplate: String?
    /// Where the files came from, for messages.
    public let source: String

    public init(tokenizerJSON: Data, tokenizerConfigJSON: Data?, chatTemplate: String? = nil, source: String) {
        self.tokenizerJSON = tokenizerJSON; self.tokenizerConfigJSON = tokenizerConfigJSON
        self.chatTemplate = chatTemplate; self.source = source
    }

    /// The tokenizer of a model directory (tokenizer.json, tokenizer_config.json and
    /// chat_template.jinja when present) or of a GGUF file; nil when a directory has no tokenizer.json.
    public static func from(_ url: URL) throws -> GGUFTokenizerExport? {
        if (try? ModelDirectory.weightsFormat(url)) == .gguf {
            let files = try GGUFFile(url: url).huggingFaceTokenizer()
            return GGUFTokenizerExport(tokenizerJSON: files.tokenizerJSON, tokenizerConfigJSON: files.tokenizerConfigJSON, source: url.path)
        }
        let json = url.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: json.path) else { return nil }
        let config = url.appendingPathComponent("tokenizer_config.json"), jinja = url.appendingPathComponent("chat_template.jinja")
        return GGUFTokenizerExport(
            tokenizerJSON: try FileRead.data(at: json, what: "tokenizer.json"),
            tokenizerConfigJSON: FileManager.default.fileExists(atPath: config.path) ? try FileRead.data(at: config, what: "tokenizer_config.json") : nil,
            chatTemplate: FileManager.default.fileExists(atPath: jinja.path) ? String(decoding: try FileRead.data(at: jinja, what: "chat_template.jinja"), as: UTF8.self) : nil,
            source: url.path)
    }

    func failure(_ reason: String) -> FileError { FileError(file: source, reason: reason) }

    /// The metadata entries, with `vocabularySize` tokens (the model's embedding rows).
    func metadata(vocabularySize: Int, config: LlamaConfig) throws -> [(key: String, value: GGUFValue)] {
        guard let root = try? JSONSerialization.jsonObject(with: tokenizerJSON) as? [String: Any] else {
            throw failure("tokenizer.json is not a JSON object")
        }
        var settings: [String: Any] = [:]
        if let data = tokenizerConfigJSON {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw failure("tokenizer_config.json is not a JSON object")
            }
            settings = object
        }
        guard let model = root["model"] as? [String: Any] else { throw failure("tokenizer.json has no model object") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw failure("tokenizer.json: model.type '\(type)' is not exported to GGUF (only byte-level BPE)") }
        if model["byte_fallback"] as? Bool == true {
            throw failure("tokenizer.json: SentencePiece-style BPE (byte_fallback) is not exported to GGUF yet (only byte-level BPE)")
        }
        if let normalizer = root["normalizer"], !(normalizer is NSNull) {
            throw failure("tokenizer.json: a normalizer (\(Self.brief(normalizer))) has no GGUF equivalent idpo writes")
        }
        let pre = try Self.preTokenizerName(root["pre_tokenizer"], failure)

        guard let vocab = model["vocab"] as? [String: Any] else { throw failure("tokenizer.json: model.vocab is not an object") }
        var tokens = [String?](repeating: nil, count: vocabularySize)
        var types = [Int32](repeating: 1, count: vocabularySize)
        func place(_ token: String, _ idValue: Any?, _ field: String) throws -> Int {
            guard let id = idValue as? Int, id >= 0 else { throw failure("tokenizer.json: \(field) has no valid id") }
            guard id < vocabularySize else {
                throw failure("tokenizer.json: \(field) has id \(id), beyond the model's vocab_size \(vocabularySize)")
            }
            tokens[id] = token
            return id
        }
        for (token, id) in vocab { _ = try place(token, id, "model.vocab[\"\(token)\"]") }
        for (k, item) in (root["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            guard let content = item["content"] as? String else { throw failure("tokenizer.json: added_tokens[\(k)] has no content") }
            let id = try place(content, item["id"], "added_tokens[\(k)]")
            types[id] = (item["special"] as? Bool ?? false) ? 3 : 4
        }
        var spellings: [String] = []
        spellings.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize {
            if let t = tokens[id] { spellings.append(t) } else { spellings.append("[PAD\(id)]"); types[id] = 5 }
        }
        var merges: [String] = []
        for (k, item) in (model["merges"] as? [Any] ?? []).enumerated() {
            if let line = item as? String {
                if line.hasPrefix("#version") { continue }
                merges.append(line)
            } else if let pair = item as? [String], pair.count == 2 {
                guard !pair[0].contains(" "), !pair[1].contains(" ") else {
                    throw failure("tokenizer.json: model.merges[\(k)] holds a space, which GGUF's \"left right\" merges cannot express")
                }
                merges.append(pair[0] + " " + pair[1])
            } else {
                throw failure("tokenizer.json: model.merges[\(k)] is neither \"left right\" nor a pair of strings")
            }
        }

        let ids = Dictionary(spellings.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        func tokenSetting(_ key: String) -> Int? {
            let value = settings[key]
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String
            return text.flatMap { ids[$0] }
        }
        var entries: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string(spellings))),
            ("tokenizer.ggml.token_type", .array(.int32(types))),
        ]
        if !merges.isEmpty { entries.append(("tokenizer.ggml.merges", .array(.string(merges)))) }
        let bos = tokenSetting("bos_token") ?? config.bosTokenID?.ids.first
        let eos = tokenSetting("eos_token") ?? config.eosTokenID?.ids.first
        let pad = tokenSetting("pad_token") ?? config.padTokenID
        let unk = tokenSetting("unk_token")
        for (key, id) in [("bos_token_id", bos), ("eos_token_id", eos), ("unknown_token_id", unk), ("padding_token_id", pad)] {
            if let id, id >= 0, id < vocabularySize { entries.append(("tokenizer.ggml." + key, .uint32(UInt32(id)))) }
        }
        let addBos = settings["add_bos_token"] as? Bool ?? Self.templateAddsPrefix(root["post_processor"])
        entries.append(("tokenizer.ggml.add_bos_token", .bool(addBos)))
        if let addEos = settings["add_eos_token"] as? Bool { entries.append(("tokenizer.ggml.add_eos_token", .bool(addEos))) }
        var template = chatTemplate
        if template == nil {
            if let text = settings["chat_template"] as? String { template = text }
            else if let list = settings["chat_template"] as? [[String: Any]] {
                template = list.first(where: { $0["name"] as? String == "default" })?["template"] as? String
            }
        }
        if let template { entries.append(("tokenizer.chat_template", .string(template))) }
        return entries
    }

    /// llama.cpp's name for a pre-tokenizer (`tokenizer.ggml.pre`), recognised from its structure.
    static func preTokenizerName(_ value: Any?, _ failure: (String) -> FileError) throws -> String {
        func object(_ v: Any?) -> [String: Any]? { v as? [String: Any] }
        func isByteLevel(_ v: Any?, regex: Bool) -> Bool {
            guard let o = object(v), o["type"] as? String == "ByteLevel" else { return false }
            return (o["use_regex"] as? Bool ?? true) == regex && (o["add_prefix_space"] as? Bool ?? true) == false
        }
        if isByteLevel(value, regex: true) { return "gpt-2" }
        if let o = object(value), o["type"] as? String == "Sequence", let steps = o["pretokenizers"] as? [Any], steps.count == 2 {
            if let digits = object(steps[0]), digits["type"] as? String == "Digits", digits["individual_digits"] as? Bool == true,
               isByteLevel(steps[1], regex: true) {
                return "smollm"
            }
            if let split = object(steps[0]), split["type"] as? String == "Split",
               (split["pattern"] as? [String: Any])?["Regex"] as? String == GGUFFile.llama3Pattern,
               split["behavior"] as? String ?? "Isolated" == "Isolated", split["invert"] as? Bool ?? false == false,
               isByteLevel(steps[1], regex: false) {
                return "llama-bpe"
            }
        }
        throw failure("tokenizer.json: pre_tokenizer \(brief(value)) is not one GGUF names (idpo writes smollm, llama-bpe and gpt-2)")
    }

    /// Whether the post-processor puts a special token before the sequence (a BOS template).
    static func templateAddsPrefix(_ value: Any?) -> Bool {
        guard let o = value as? [String: Any] else { return false }
        if o["type"] as? String == "Sequence" { return (o["processors"] as? [Any] ?? []).contains(where: templateAddsPrefix) }
        guard o["type"] as? String == "TemplateProcessing", let single = o["single"] as? [[String: Any]] else { return false }
        return single.first?["SpecialToken"] != nil
    }

    /// A component as short JSON for messages.
    static func brief(_ value: Any?) -> String {
        guard let value, !(value is NSNull) else { return "null" }
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "\(value)" }
        let text = String(decoding: data, as: UTF8.self)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
