// The tokenizer settings that live next to tokenizer.json in a model directory:
// tokenizer_config.json (special tokens, chat template, add_bos_token), chat_template.jinja,
// and the stop ids of generation_config.json. All optional.

import Foundation

/// Settings read from `tokenizer_config.json`, `chat_template.jinja` and `generation_config.json`.
public struct TokenizerConfiguration: Sendable, Equatable {
    /// `bos_token` (a string, or the `content` of an added-token object).
    public var bosToken: String?
    /// `eos_token`.
    public var eosToken: String?
    /// `pad_token`.
    public var padToken: String?
    /// `unk_token`.
    public var unknownToken: String?
    /// The default chat template: `chat_template.jinja` when present, else `chat_template` (a string, or
    /// the entry named "default" of a list of named templates).
    public var chatTemplate: String?
    /// Named templates of a `chat_template` list (for example "tool_use").
    public var namedChatTemplates: [String: String] = [:]
    /// `add_bos_token` / `add_eos_token`, when set.
    public var addBosToken: Bool?
    public var addEosToken: Bool?
    /// `model_max_length`, when set to a realistic value.
    public var modelMaxLength: Int?
    /// `eos_token_id` of generation_config.json (one id or a list).
    public var generationEosTokenIds: [Int32] = []

    public init() {}

    /// Reads the settings of a tokenizer_config.json held in memory (`name` is used in error messages).
    public init(tokenizerConfigJSON data: Data, name: String = "tokenizer_config.json") throws {
        let reader = FieldReader(file: name)
        let root = try reader.object(try JSONReader.parse(data, file: name), "(top level)")
        bosToken = try Self.tokenText(root["bos_token"], "bos_token", reader)
        eosToken = try Self.tokenText(root["eos_token"], "eos_token", reader)
        padToken = try Self.tokenText(root["pad_token"], "pad_token", reader)
        unknownToken = try Self.tokenText(root["unk_token"], "unk_token", reader)
        if let value = root["add_bos_token"], !value.isNull { addBosToken = try reader.bool(value, "add_bos_token", default: false) }
        if let value = root["add_eos_token"], !value.isNull { addEosToken = try reader.bool(value, "add_eos_token", default: false) }
        if let length = root["model_max_length"]?.doubleValue, length >= 1, length < 1e12 { modelMaxLength = Int(length) }
        switch root["chat_template"] {
        case .string(let template)?:
            chatTemplate = template
        case .array(let list)?:
            for (k, item) in list.enumerated() {
                let entry = try reader.object(item, "chat_template[\(k)]")
                let templateName = try reader.string(entry["name"], "chat_template[\(k)].name")
                namedChatTemplates[templateName] = try reader.string(entry["template"], "chat_template[\(k)].template")
            }
            chatTemplate = namedChatTemplates["default"]
        case nil, .null?:
            break
        case let other?:
            throw reader.invalid("chat_template", "expected a string or a list of {name, template}, found \(other.kindDescription)")
        }
    }

    /// Reads whichever of the three files exist in `directory`.
    static func load(directory: URL) throws -> TokenizerConfiguration {
        var configuration = TokenizerConfiguration()
        let fileManager = FileManager.default
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if fileManager.fileExists(atPath: configURL.path) {
            configuration = try TokenizerConfiguration(tokenizerConfigJSON: try readFile(configURL), name: configURL.path)
        }
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        if fileManager.fileExists(atPath: jinjaURL.path) {
            configuration.chatTemplate = String(decoding: try readFile(jinjaURL), as: UTF8.self)
        }
        let generationURL = directory.appendingPathComponent("generation_config.json")
        if fileManager.fileExists(atPath: generationURL.path) {
            let reader = FieldReader(file: generationURL.path)
            let root = try reader.object(try JSONReader.parse(try readFile(generationURL), file: generationURL.path), "(top level)")
            switch root["eos_token_id"] {
            case .array(let ids)?:
                configuration.generationEosTokenIds = try ids.enumerated().map { try reader.tokenId($0.element, "eos_token_id[\($0.offset)]") }
            case nil, .null?:
                break
            case let value?:
                configuration.generationEosTokenIds = [try reader.tokenId(value, "eos_token_id")]
            }
        }
        return configuration
    }

    /// A special-token setting: a string, or an object with `content`.
    private static func tokenText(_ value: JSONValue?, _ field: String, _ reader: FieldReader) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?: return s
        case .object(let o)?: return try reader.string(o["content"], field + ".content")
        case let other?: throw reader.invalid(field, "expected a string or an object with content, found \(other.kindDescription)")
        }
    }
}

/// Reads a whole file, mapping failures to `TokenizerError`.
func readFile(_ url: URL) throws -> Data {
    do {
        return try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        if !FileManager.default.fileExists(atPath: url.path) { throw TokenizerError.fileNotFound(path: url.path) }
        throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription)
    }
}
