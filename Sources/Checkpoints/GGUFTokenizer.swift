// A GGUF file's tokenizer (`tokenizer.ggml.*` metadata) as the Hugging Face files a model directory
// holds: tokenizer.json and tokenizer_config.json, built in memory. Byte-level BPE ("gpt2" models)
// is supported; the pre-tokenizer follows `tokenizer.ggml.pre`, which names the split llama.cpp
// hard-codes for a model family:
//   smollm              Digits(individual) then ByteLevel with the GPT-2 regex
//                       (llama.cpp's and transformers' converters both lose the Digits step)
//   llama-bpe, llama3   Llama 3's Split regex then ByteLevel without regex; ignore_merges
//   gpt-2, default      ByteLevel with the GPT-2 regex
// Other names, and SentencePiece ("llama") vocabularies, are refused naming the field and value.

import Foundation

/// The Hugging Face tokenizer files made from a GGUF file's metadata.
public struct GGUFTokenizerFiles: Sendable {
    public let tokenizerJSON: Data
    public let tokenizerConfigJSON: Data
}

extension GGUFFile {
    /// Llama 3's pre-tokenizer regex, as in Meta's tokenizer.json.
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The `tokenizer.ggml.pre` values this converter knows.
    public static let supportedPreTokenizers = ["smollm", "llama-bpe", "llama3", "gpt-2", "default"]

    /// llama.cpp's token types (`tokenizer.ggml.token_type`).
    enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// tokenizer.json and tokenizer_config.json for the tokenizer in this file's metadata.
    public func huggingFaceTokenizer() throws -> GGUFTokenizerFiles {
        guard let model = try string("tokenizer.ggml.model") else { throw failure("missing metadata 'tokenizer.ggml.model' (the file has no tokenizer)") }
        guard model == "gpt2" else {
            let kind = model == "llama" ? " (SentencePiece)" : ""
            throw failure("metadata 'tokenizer.ggml.model' = '\(model)'\(kind) is not supported (supported: gpt2, byte-level BPE)")
        }
        guard let tokens = try stringArray("tokenizer.ggml.tokens") else { throw failure("missing metadata 'tokenizer.ggml.tokens'") }
        guard !tokens.isEmpty else { throw failure("metadata 'tokenizer.ggml.tokens' is empty") }
        let types = try integerArray("tokenizer.ggml.token_type") ?? [Int](repeating: TokenType.normal.rawValue, count: tokens.count)
        guard types.count == tokens.count else {
            throw failure("metadata 'tokenizer.ggml.token_type' has \(types.count) entries but 'tokenizer.ggml.tokens' has \(tokens.count)")
        }
        let mergeLines = try stringArray("tokenizer.ggml.merges") ?? []
        let pre = try string("tokenizer.ggml.pre") ?? "default"
        guard Self.supportedPreTokenizers.contains(pre) else {
            throw failure("metadata 'tokenizer.ggml.pre' = '\(pre)' is not supported (supported: \(Self.supportedPreTokenizers.joined(separator: ", ")))")
        }
        let isLlama3 = pre == "llama-bpe" || pre == "llama3"

        // The vocabulary (the first id of a repeated spelling wins, as llama.cpp's lookup does).
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        var vocab: [(String, OrderedJSON)] = []
        vocab.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil {
            ids[token] = id
            vocab.append((token, .int(id)))
        }
        var merges: [OrderedJSON] = []
        merges.reserveCapacity(mergeLines.count)
        for (k, line) in mergeLines.enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw failure("metadata 'tokenizer.ggml.merges[\(k)]' = \"\(line)\" is not two tokens separated by one space")
            }
            for token in [String(parts[0]), String(parts[1]), String(parts[0] + parts[1])] where ids[token] == nil {
                throw failure("metadata 'tokenizer.ggml.merges[\(k)]' = \"\(line)\": '\(token)' is not in 'tokenizer.ggml.tokens'")
            }
            merges.append(.array([.string(String(parts[0])), .string(String(parts[1]))]))
        }

        // Control tokens are Hugging Face's special added tokens; user-defined ones are added tokens
        // that are not special (convert_hf_to_gguf.py maps them the other way).
        var added: [OrderedJSON] = []
        for (id, type) in types.enumerated() where type == TokenType.control.rawValue || type == TokenType.userDefined.rawValue {
            added.append(.object([("id", .int(id)), ("content", .string(tokens[id])), ("single_word", .bool(false)),
                                  ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                                  ("special", .bool(type == TokenType.control.rawValue))]))
        }

        func tokenID(_ key: String) throws -> Int? {
            guard let id = try integer(key) else { return nil }
            guard id >= 0, id < tokens.count else { throw failure("metadata '\(key)' = \(id) is not a token id (there are \(tokens.count) tokens)") }
            return id
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id"), eos = try tokenID("tokenizer.ggml.eos_token_id")
        let pad = try tokenID("tokenizer.ggml.padding_token_id"), unk = try tokenID("tokenizer.ggml.unknown_token_id")
        let addBos = try bool("tokenizer.ggml.add_bos_token") ?? isLlama3
        let addEos = try bool("tokenizer.ggml.add_eos_token") ?? false
        let addPrefixSpace = try bool("tokenizer.ggml.add_space_prefix") ?? false

        func byteLevel(prefix: Bool, trim: Bool, regex: Bool) -> OrderedJSON {
            .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(prefix)), ("trim_offsets", .bool(trim)), ("use_regex", .bool(regex))])
        }
        let preTokenizer: OrderedJSON
        switch pre {
        case "smollm":
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]),
                byteLevel(prefix: false, trim: true, regex: true)]))])
        case "llama-bpe", "llama3":
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(Self.llama3Pattern))])),
                         ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                byteLevel(prefix: false, trim: true, regex: false)]))])
        default:
            preTokenizer = byteLevel(prefix: addPrefixSpace, trim: true, regex: true)
        }

        // BOS/EOS added around a sequence, as the tokenizer's post-processor.
        var postProcessor = byteLevel(prefix: true, trim: false, regex: true)
        let prefix = addBos ? bos : nil, suffix = addEos ? eos : nil
        if prefix != nil || suffix != nil {
            func special(_ id: Int) -> OrderedJSON { .object([("SpecialToken", .object([("id", .string(tokens[id])), ("type_id", .int(0))]))]) }
            func sequence(_ name: String) -> OrderedJSON { .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(0))]))]) }
            let single = (prefix.map { [special($0)] } ?? []) + [sequence("A")] + (suffix.map { [special($0)] } ?? [])
            let pair = single + (prefix.map { [special($0)] } ?? []) + [sequence("B")] + (suffix.map { [special($0)] } ?? [])
            var specials: [(String, OrderedJSON)] = []
            for id in [prefix, suffix].compactMap({ $0 }) where !specials.contains(where: { $0.0 == tokens[id] }) {
                specials.append((tokens[id], .object([("id", .string(tokens[id])), ("ids", .array([.int(id)])), ("tokens", .array([.string(tokens[id])]))])))
            }
            postProcessor = .object([("type", .string("Sequence")), ("processors", .array([
                postProcessor,
                .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                         ("special_tokens", .object(specials))])]))])
        }

        let tokenizer: OrderedJSON = .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(added)),
            ("normalizer", .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", postProcessor),
            ("decoder", byteLevel(prefix: true, trim: true, regex: true)),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
                ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                ("ignore_merges", .bool(isLlama3)), ("vocab", .object(vocab)), ("merges", .array(merges)),
            ])),
        ])

        var config: [(String, OrderedJSON)] = [("add_bos_token", .bool(addBos)), ("add_eos_token", .bool(addEos))]
        for (key, id) in [("bos_token", bos), ("eos_token", eos), ("pad_token", pad), ("unk_token", unk)] {
            if let id { config.append((key, .string(tokens[id]))) }
        }
        if let template = try string("tokenizer.chat_template") { config.append(("chat_template", .string(template))) }
        if let length = try integer("llama.context_length") { config.append(("model_max_length", .int(length))) }
        config.append(("clean_up_tokenization_spaces", .bool(false)))
        // PreTrainedTokenizerFast: transformers rebuilds a GPT2Tokenizer's pre-tokenizer and would drop Digits.
        config.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))

        return GGUFTokenizerFiles(tokenizerJSON: Data(tokenizer.text().utf8), tokenizerConfigJSON: Data(OrderedJSON.object(config).text().utf8))
    }
}

/// JSON with object keys kept in the order given (Hugging Face files list the vocabulary by id),
/// pretty-printed with two-space indents; arrays of plain values stay on one line.
enum OrderedJSON {
    case null, bool(Bool), int(Int), double(Double), string(String)
    indirect case array([OrderedJSON]), object([(String, OrderedJSON)])

    func text() -> String {
        var out = ""
        write(into: &out, indent: 0)
        out += "\n"
        return out
    }

    var isContainer: Bool {
        switch self {
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        default: return false
        }
    }

    func write(into out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            if !items.contains(where: \.isContainer) {
                out += "["
                for (k, item) in items.enumerated() {
                    if k > 0 { out += ", " }
                    item.write(into: &out, indent: indent)
                }
                out += "]"
                return
            }
            let pad = String(repeating: " ", count: indent + 2)
            out += "[\n"
            for (k, item) in items.enumerated() {
                out += pad
                item.write(into: &out, indent: indent + 2)
                out += k + 1 < items.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            let pad = String(repeating: " ", count: indent + 2)
            out += "{\n"
            for (k, (key, value)) in members.enumerated() {
                out += pad
                Self.quote(key, into: &out)
                out += ": "
                value.write(into: &out, indent: indent + 2)
                out += k + 1 < members.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest as UTF-8.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
