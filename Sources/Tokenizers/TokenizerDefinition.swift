// Reading `tokenizer.json` into the parts of the pipeline: the BPE model, added tokens, normalizer,
// pre-tokenizer, post-processor and decoder. Every error names the file and the JSON field.

import Foundation

/// The normalizers supported (applied to text outside added tokens).
enum NormalizerStep {
    case nfc
    /// Prepend: `bytes` put before non-empty text.
    case prepend([UInt8])
    /// Replace with a string pattern: every occurrence of `pattern` becomes `content`.
    case replace(pattern: [UInt8], content: [UInt8])
}

/// Token ids put around a sequence when special tokens are added (TemplateProcessing and friends).
struct SequenceTemplate {
    var prefix: [Int32] = []
    var suffix: [Int32] = []
}

/// How ids become text.
enum DecoderKind {
    /// Byte-level: tokens spell bytes; the bytes are decoded as UTF-8 (invalid sequences → U+FFFD).
    case byteLevel
    /// No decoder: token strings joined with spaces (what the Hugging Face library does then).
    case joinWithSpaces
    /// A chain of string decoders (SentencePiece style), the resulting tokens joined.
    case chain([DecoderStep])

    var isByteLevel: Bool { if case .byteLevel = self { return true } else { return false } }
}

/// The model vocabulary by id: raw bytes for tokens spelled in the byte alphabet, strings for the
/// others (legal, but never produced by byte-level encoding).
struct ModelVocabulary {
    /// Raw bytes of the spelled tokens; token `id` is `bytes[start[id] ..< start[id] + length[id]]`.
    var bytes: [UInt8]
    /// -1 where `id` has no spelled token.
    var start: [Int32]
    var length: [Int32]
    var unspelled: [String: Int32]
    var unspelledById: [Int32: String] = [:]
    /// Number of distinct vocabulary keys (where the Hugging Face library starts numbering added tokens).
    var distinctCount: Int
    /// How the vocabulary's strings spell bytes.
    var alphabet: VocabularyAlphabet = .byteLevel

    /// One more than the largest id.
    var idCount: Int { start.count }

    /// The raw bytes of a spelled token.
    func rawBytes(of id: Int32) -> ArraySlice<UInt8>? {
        guard id >= 0, Int(id) < start.count, start[Int(id)] >= 0 else { return nil }
        let from = Int(start[Int(id)])
        return bytes[from..<(from + Int(length[Int(id)]))]
    }

    /// The vocabulary spelling of `id` ("Ġthe", "▁the").
    func spelling(of id: Int32) -> String? {
        if let raw = rawBytes(of: id) { return alphabet.spelling(of: raw) }
        return unspelledById[id]
    }

    /// The id of a spelling.
    func id(of token: String, table: ByteStringTable) -> Int32? {
        if let bytes = alphabet.bytes(of: token) { return table.lookupIfPresent(bytes) }
        return unspelled[token]
    }
}

/// Everything read from a tokenizer.json.
struct TokenizerDefinition {
    var model: BytePairEncoder
    var vocabulary: ModelVocabulary
    var addedTokens: [AddedToken]
    var normalizer: [NormalizerStep]
    var preTokenizer: PreTokenizer
    var template: SequenceTemplate
    var decoder: DecoderKind
}

/// Typed access to JSON fields with errors that name the file and the field path.
struct FieldReader {
    let file: String

    func invalid(_ field: String, _ message: String) -> TokenizerError {
        .invalidField(file: file, field: field, message: message)
    }
    func unsupported(_ field: String, _ message: String) -> TokenizerError {
        .unsupported(file: file, field: field, message: message)
    }

    func object(_ value: JSONValue?, _ field: String) throws -> JSONObject {
        guard let value else { throw invalid(field, "missing (expected an object)") }
        guard let o = value.objectValue else { throw invalid(field, "expected an object, found \(value.kindDescription)") }
        return o
    }
    func array(_ value: JSONValue?, _ field: String) throws -> [JSONValue] {
        guard let value else { throw invalid(field, "missing (expected an array)") }
        guard let a = value.arrayValue else { throw invalid(field, "expected an array, found \(value.kindDescription)") }
        return a
    }
    func string(_ value: JSONValue?, _ field: String) throws -> String {
        guard let value else { throw invalid(field, "missing (expected a string)") }
        guard let s = value.stringValue else { throw invalid(field, "expected a string, found \(value.kindDescription)") }
        return s
    }
    /// A string, or nil when the field is absent or null.
    func optionalString(_ value: JSONValue?, _ field: String) throws -> String? {
        guard let value, !value.isNull else { return nil }
        return try string(value, field)
    }
    func bool(_ value: JSONValue?, _ field: String, default fallback: Bool) throws -> Bool {
        guard let value, !value.isNull else { return fallback }
        guard let b = value.boolValue else { throw invalid(field, "expected true or false, found \(value.kindDescription)") }
        return b
    }
    /// Ids are bounded so that a typo cannot make the id tables huge (real vocabularies stay below 10⁶).
    static let maximumTokenId: Int64 = 1 << 24

    func tokenId(_ value: JSONValue?, _ field: String) throws -> Int32 {
        guard let value else { throw invalid(field, "missing (expected a token id)") }
        guard let i = value.integerValue, i >= 0 else {
            throw invalid(field, "expected a token id (a non-negative integer), found \(value.kindDescription)")
        }
        guard i < FieldReader.maximumTokenId else {
            throw invalid(field, "token id \(i) is too large (the limit is \(FieldReader.maximumTokenId - 1))")
        }
        return Int32(i)
    }
    /// The `type` of a component object.
    func type(_ o: JSONObject, _ field: String) throws -> String {
        try string(o["type"], field + ".type")
    }
}

extension TokenizerDefinition {
    /// Parses the contents of a tokenizer.json file.
    static func parse(_ data: Data, file: String) throws -> TokenizerDefinition {
        let reader = FieldReader(file: file)
        let root = try reader.object(try JSONReader.parse(data, file: file), "(top level)")

        // Model. Its strings spell bytes in GPT-2's alphabet when a ByteLevel pre-tokenizer or decoder
        // is present; otherwise they are plain Unicode (SentencePiece style: "▁the", "<0x0A>").
        let modelObject = try reader.object(root["model"], "model")
        let byteLevel = mentionsType("ByteLevel", root["pre_tokenizer"]) || mentionsType("ByteLevel", root["decoder"])
        let (model, vocabulary) = try parseModel(modelObject, reader, alphabet: byteLevel ? .byteLevel : .unicode)

        // Added tokens. Like the Hugging Face library, ids are not taken from the file's "id" fields:
        // a token already in the model vocabulary keeps that id, the others get consecutive ids after
        // the vocabulary, in file order (files written by the library always agree with this).
        var addedTokens: [AddedToken] = []
        if let list = root["added_tokens"], !list.isNull {
            var idOfContent: [String: Int32] = [:]
            var indexOfId: [Int32: Int] = [:]
            var nextId = Int32(vocabulary.distinctCount)
            for (k, item) in try reader.array(list, "added_tokens").enumerated() {
                let field = "added_tokens[\(k)]"
                let o = try reader.object(item, field)
                _ = try reader.tokenId(o["id"], field + ".id")
                let content = try reader.string(o["content"], field + ".content")
                if content.isEmpty { continue }
                let modelId = vocabulary.id(of: content, table: model.vocabulary)
                let id: Int32
                if let existing = idOfContent[content] ?? modelId {
                    id = existing
                } else {
                    guard nextId < Int32.max else { throw reader.invalid(field, "too many tokens") }
                    id = nextId
                    nextId += 1
                }
                let token = AddedToken(
                    id: id, content: content,
                    isSpecial: try reader.bool(o["special"], field + ".special", default: false),
                    stripsLeft: try reader.bool(o["lstrip"], field + ".lstrip", default: false),
                    stripsRight: try reader.bool(o["rstrip"], field + ".rstrip", default: false),
                    isNormalized: try reader.bool(o["normalized"], field + ".normalized", default: true),
                    isSingleWord: try reader.bool(o["single_word"], field + ".single_word", default: false))
                idOfContent[content] = id
                if let index = indexOfId[id] {
                    // A later entry for the same id replaces the earlier one; specialness is never lost.
                    let earlier = addedTokens[index]
                    addedTokens[index] = AddedToken(id: id, content: content, isSpecial: token.isSpecial || earlier.isSpecial,
                                                    stripsLeft: token.stripsLeft, stripsRight: token.stripsRight,
                                                    isNormalized: token.isNormalized, isSingleWord: token.isSingleWord)
                } else {
                    indexOfId[id] = addedTokens.count
                    addedTokens.append(token)
                }
            }
        }

        let normalizer = try parseNormalizer(root["normalizer"], "normalizer", reader)
        let preTokenizer = PreTokenizer(steps: try parsePreTokenizer(root["pre_tokenizer"], "pre_tokenizer", reader))
        let template = try parsePostProcessor(root["post_processor"], "post_processor", reader)
        let decoder = try parseDecoder(root["decoder"], "decoder", reader)
        return TokenizerDefinition(model: model, vocabulary: vocabulary,
                                   addedTokens: addedTokens, normalizer: normalizer, preTokenizer: preTokenizer,
                                   template: template, decoder: decoder)
    }

    /// Whether a component (or one nested in a Sequence) has the given type.
    private static func mentionsType(_ type: String, _ value: JSONValue?) -> Bool {
        guard let o = value?.objectValue else { return false }
        if o["type"]?.stringValue == type { return true }
        for key in ["pretokenizers", "decoders", "normalizers", "processors"] {
            if let list = o[key]?.arrayValue, list.contains(where: { mentionsType(type, $0) }) { return true }
        }
        return false
    }

    private static func parseModel(_ o: JSONObject, _ reader: FieldReader,
                                   alphabet: VocabularyAlphabet) throws -> (BytePairEncoder, ModelVocabulary) {
        if let type = o["type"], !type.isNull {
            let name = try reader.string(type, "model.type")
            guard name == "BPE" else {
                throw reader.unsupported("model.type", "'\(name)' (only BPE models are supported)")
            }
        }
        if let dropout = o["dropout"], !dropout.isNull, (dropout.doubleValue ?? 1) != 0 {
            throw reader.unsupported("model.dropout", "BPE dropout makes encoding random; set it to null")
        }
        let byteFallback = try reader.bool(o["byte_fallback"], "model.byte_fallback", default: false)
        for field in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let prefix = try reader.optionalString(o[field], "model." + field), !prefix.isEmpty {
                throw reader.unsupported("model." + field, "'\(prefix)' (only BPE without affixes is supported)")
            }
        }
        let ignoreMerges = try reader.bool(o["ignore_merges"], "model.ignore_merges", default: false)
        let fuseUnknown = try reader.bool(o["fuse_unk"], "model.fuse_unk", default: false)
        let unknownToken = try reader.optionalString(o["unk_token"], "model.unk_token")

        // Vocabulary: spelling → id. Keys are converted to raw bytes for the encoder.
        let vocab = try reader.object(o["vocab"], "model.vocab")
        guard vocab.count > 0 else { throw reader.invalid("model.vocab", "the vocabulary is empty (a BPE model needs at least one token)") }
        var arena: [UInt8] = []
        arena.reserveCapacity(vocab.count * 8)
        var offsets: [Int] = []
        offsets.reserveCapacity(vocab.count + 1)
        var keyIds: [Int32] = []
        keyIds.reserveCapacity(vocab.count)
        var unspelled: [String: Int32] = [:]
        var maxId: Int32 = -1
        for k in 0..<vocab.count {
            let id = try reader.tokenId(vocab.values[k], "model.vocab[\"\(vocab.keys[k])\"]")
            maxId = max(maxId, id)
            let mark = arena.count
            if alphabet.appendBytes(of: vocab.keys[k], to: &arena) {
                offsets.append(mark)
                keyIds.append(id)
            } else {
                unspelled[vocab.keys[k]] = id
            }
        }
        offsets.append(arena.count)
        let table = ByteStringTable(arena: arena, offsets: offsets, values: keyIds)

        // Per-id raw bytes (only where the id is what the table now holds for the key: last duplicate wins).
        var vocabulary = ModelVocabulary(bytes: arena, start: [Int32](repeating: -1, count: Int(maxId) + 1),
                                         length: [Int32](repeating: 0, count: Int(maxId) + 1),
                                         unspelled: unspelled, distinctCount: table.count + unspelled.count, alphabet: alphabet)
        arena.withUnsafeBufferPointer { a in
            guard let base = a.baseAddress else { return }
            for e in 0..<keyIds.count {
                let from = offsets[e], count = offsets[e + 1] - from
                let id = keyIds[e]
                if table.lookup(base + from, count) == id {
                    vocabulary.start[Int(id)] = Int32(from)
                    vocabulary.length[Int(id)] = Int32(count)
                }
            }
        }
        for (token, id) in unspelled {
            vocabulary.unspelledById[id] = token
            vocabulary.start[Int(id)] = -1
        }

        // Merges: "a b" strings (legacy) or [a, b] pairs; rank = position (after "#version" lines).
        let mergeList = try reader.array(o["merges"], "model.merges")
        var merges: [(left: Int32, right: Int32, merged: Int32)] = []
        merges.reserveCapacity(mergeList.count)
        var leftBytes: [UInt8] = [], rightBytes: [UInt8] = []
        for (k, item) in mergeList.enumerated() {
            let field = "model.merges[\(k)]"
            var left: Substring, right: Substring
            switch item {
            case .string(let line):
                if line.hasPrefix("#version") { continue }
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw reader.invalid(field, "expected \"left right\" (two tokens separated by one space), found \"\(line)\"") }
                left = parts[0]
                right = parts[1]
            case .array(let pair):
                guard pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue else {
                    throw reader.invalid(field, "expected a pair of two strings")
                }
                left = Substring(a)
                right = Substring(b)
            default:
                throw reader.invalid(field, "expected a string \"left right\" or a pair [left, right], found \(item.kindDescription)")
            }
            leftBytes.removeAll(keepingCapacity: true)
            rightBytes.removeAll(keepingCapacity: true)
            let spelled = alphabet.appendBytes(of: left, to: &leftBytes) && alphabet.appendBytes(of: right, to: &rightBytes)
            let l: Int32?, r: Int32?, m: Int32?
            if spelled {
                l = table.lookupIfPresent(leftBytes)
                r = table.lookupIfPresent(rightBytes)
                leftBytes.append(contentsOf: rightBytes)
                m = table.lookupIfPresent(leftBytes)
            } else {
                // Tokens outside the byte alphabet (never produced by byte-level encoding, but legal).
                func id(_ s: String) -> Int32? { alphabet.bytes(of: s).flatMap { table.lookupIfPresent($0) } ?? unspelled[s] }
                l = id(String(left)); r = id(String(right)); m = id(String(left) + String(right))
            }
            guard let l else { throw reader.invalid(field, "token '\(left)' is not in model.vocab") }
            guard let r else { throw reader.invalid(field, "token '\(right)' is not in model.vocab") }
            guard let m else { throw reader.invalid(field, "merged token '\(left)\(right)' is not in model.vocab") }
            merges.append((l, r, m))
        }
        let unknownId = unknownToken.flatMap { vocabulary.id(of: $0, table: table) }
        // Byte fallback: the <0xXX> token of every byte (all 256 must exist, else bytes go to unk).
        var fallback: [Int32]? = nil
        if byteFallback {
            let ids = (0...255).map { vocabulary.id(of: byteFallbackSpelling(UInt8($0)), table: table) }
            if ids.allSatisfy({ $0 != nil }) { fallback = ids.map { $0! } }
        }
        let model = BytePairEncoder(vocabulary: table, merges: MergeTable(merges: merges), ignoreMerges: ignoreMerges,
                                    unknownTokenId: unknownId, fuseUnknown: fuseUnknown,
                                    unicodeSymbols: alphabet == .unicode, byteFallbackTokens: fallback)
        return (model, vocabulary)
    }

    private static func parseNormalizer(_ value: JSONValue?, _ field: String, _ reader: FieldReader) throws -> [NormalizerStep] {
        guard let value, !value.isNull else { return [] }
        let o = try reader.object(value, field)
        let type = try reader.type(o, field)
        switch type {
        case "NFC":
            return [.nfc]
        case "Prepend":
            return [.prepend(Array(try reader.string(o["prepend"], field + ".prepend").utf8))]
        case "Replace":
            let pattern = try reader.object(o["pattern"], field + ".pattern")
            guard let literal = pattern["String"] else {
                throw reader.unsupported(field + ".pattern", "only {\"String\": …} patterns are supported in Replace")
            }
            return [.replace(pattern: Array(try reader.string(literal, field + ".pattern.String").utf8),
                             content: Array(try reader.string(o["content"], field + ".content").utf8))]
        case "Sequence":
            var steps: [NormalizerStep] = []
            for (k, item) in try reader.array(o["normalizers"], field + ".normalizers").enumerated() {
                steps += try parseNormalizer(item, field + ".normalizers[\(k)]", reader)
            }
            return steps
        default:
            throw reader.unsupported(field + ".type", "normalizer '\(type)' (supported: NFC, Prepend, Replace, Sequence)")
        }
    }

    private static func parsePreTokenizer(_ value: JSONValue?, _ field: String, _ reader: FieldReader) throws -> [PreTokenizerStep] {
        guard let value, !value.isNull else { return [] }
        let o = try reader.object(value, field)
        let type = try reader.type(o, field)
        switch type {
        case "Sequence":
            var steps: [PreTokenizerStep] = []
            for (k, item) in try reader.array(o["pretokenizers"], field + ".pretokenizers").enumerated() {
                steps += try parsePreTokenizer(item, field + ".pretokenizers[\(k)]", reader)
            }
            return steps
        case "ByteLevel":
            return [.byteLevel(addPrefixSpace: try reader.bool(o["add_prefix_space"], field + ".add_prefix_space", default: true),
                               useRegex: try reader.bool(o["use_regex"], field + ".use_regex", default: true))]
        case "Digits":
            return [.digits(individual: try reader.bool(o["individual_digits"], field + ".individual_digits", default: false))]
        case "Metaspace":
            let replacement = try reader.string(o["replacement"], field + ".replacement")
            guard replacement.unicodeScalars.count == 1 else { throw reader.invalid(field + ".replacement", "expected one character") }
            return [.metaspace(replacement: Array(replacement.utf8), prependScheme: try prependScheme(o, field, reader),
                               split: try reader.bool(o["split"], field + ".split", default: true))]
        case "Split":
            let pattern = try reader.object(o["pattern"], field + ".pattern")
            let behaviorName = try reader.string(o["behavior"], field + ".behavior")
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw reader.invalid(field + ".behavior", "'\(behaviorName)' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)")
            }
            let invert = try reader.bool(o["invert"], field + ".invert", default: false)
            let matcher: SplitMatcher
            if let regex = pattern["Regex"] {
                let text = try reader.string(regex, field + ".pattern.Regex")
                if let known = KnownSplitPattern.recognize(text) {
                    matcher = .known(SplitScanner(known))
                } else {
                    do {
                        matcher = .regex(SplitRegex(regex: try PatternRegex(text), file: reader.file, field: field + ".pattern.Regex"))
                    } catch let error as PatternError {
                        throw reader.unsupported(field + ".pattern.Regex", "\(error)")
                    }
                }
            } else if let string = pattern["String"] {
                matcher = .literal(Array(try reader.string(string, field + ".pattern.String").utf8))
            } else {
                throw reader.invalid(field + ".pattern", "expected {\"Regex\": …} or {\"String\": …}")
            }
            return [.split(matcher, behavior: behavior, invert: invert)]
        default:
            throw reader.unsupported(field + ".type", "pre-tokenizer '\(type)' (supported: Sequence, Split, ByteLevel, Digits, Metaspace)")
        }
    }

    /// Metaspace's `prepend_scheme`, or the older `add_prefix_space` flag (true: always).
    private static func prependScheme(_ o: JSONObject, _ field: String, _ reader: FieldReader) throws -> PrependScheme {
        let name = try reader.optionalString(o["prepend_scheme"], field + ".prepend_scheme")
            ?? (try reader.bool(o["add_prefix_space"], field + ".add_prefix_space", default: true) ? "always" : "never")
        guard let scheme = PrependScheme(rawValue: name) else {
            throw reader.invalid(field + ".prepend_scheme", "'\(name)' (expected always, first or never)")
        }
        return scheme
    }

    private static func parsePostProcessor(_ value: JSONValue?, _ field: String, _ reader: FieldReader) throws -> SequenceTemplate {
        guard let value, !value.isNull else { return SequenceTemplate() }
        let o = try reader.object(value, field)
        let type = try reader.type(o, field)
        switch type {
        case "ByteLevel":
            return SequenceTemplate()
        case "Sequence":
            var template = SequenceTemplate()
            for (k, item) in try reader.array(o["processors"], field + ".processors").enumerated() {
                let inner = try parsePostProcessor(item, field + ".processors[\(k)]", reader)
                template = SequenceTemplate(prefix: inner.prefix + template.prefix, suffix: template.suffix + inner.suffix)
            }
            return template
        case "TemplateProcessing":
            let specials = try reader.object(o["special_tokens"], field + ".special_tokens")
            var template = SequenceTemplate()
            var seenSequence = false
            for (k, piece) in try reader.array(o["single"], field + ".single").enumerated() {
                let pieceField = field + ".single[\(k)]"
                let p = try reader.object(piece, pieceField)
                if let special = p["SpecialToken"] {
                    let name = try reader.string(try reader.object(special, pieceField + ".SpecialToken")["id"], pieceField + ".SpecialToken.id")
                    let entryField = field + ".special_tokens[\"\(name)\"]"
                    let entry = try reader.object(specials[name], entryField)
                    let ids = try reader.array(entry["ids"], entryField + ".ids").enumerated().map {
                        try reader.tokenId($0.element, entryField + ".ids[\($0.offset)]")
                    }
                    if seenSequence { template.suffix += ids } else { template.prefix += ids }
                } else if let sequence = p["Sequence"] {
                    let name = try reader.string(try reader.object(sequence, pieceField + ".Sequence")["id"], pieceField + ".Sequence.id")
                    guard name == "A", !seenSequence else {
                        throw reader.unsupported(pieceField + ".Sequence.id", "'\(name)' in the single-sequence template (expected one A)")
                    }
                    seenSequence = true
                } else {
                    throw reader.invalid(pieceField, "expected {\"SpecialToken\": …} or {\"Sequence\": …}")
                }
            }
            guard seenSequence else { throw reader.invalid(field + ".single", "the template has no {\"Sequence\": {\"id\": \"A\"}}") }
            return template
        case "BertProcessing", "RobertaProcessing":
            let cls = try reader.array(o["cls"], field + ".cls")
            let sep = try reader.array(o["sep"], field + ".sep")
            guard cls.count == 2, sep.count == 2 else { throw reader.invalid(field, "cls and sep must be [token, id] pairs") }
            return SequenceTemplate(prefix: [try reader.tokenId(cls[1], field + ".cls[1]")],
                                    suffix: [try reader.tokenId(sep[1], field + ".sep[1]")])
        default:
            throw reader.unsupported(field + ".type",
                                     "post-processor '\(type)' (supported: TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing)")
        }
    }

    private static func parseDecoder(_ value: JSONValue?, _ field: String, _ reader: FieldReader) throws -> DecoderKind {
        guard let value, !value.isNull else { return .joinWithSpaces }
        let o = try reader.object(value, field)
        if try reader.type(o, field) == "ByteLevel" { return .byteLevel }
        return .chain(try parseDecoderSteps(o, field, reader))
    }

    private static func parseDecoderSteps(_ o: JSONObject, _ field: String, _ reader: FieldReader) throws -> [DecoderStep] {
        func character(_ key: String) throws -> Unicode.Scalar {
            let s = try reader.string(o[key], field + "." + key)
            guard s.unicodeScalars.count == 1 else { throw reader.invalid(field + "." + key, "expected one character") }
            return s.unicodeScalars.first!
        }
        func count(_ key: String) throws -> Int {
            guard let v = o[key], let n = v.integerValue, n >= 0 else { throw reader.invalid(field + "." + key, "expected a non-negative integer") }
            return Int(n)
        }
        let type = try reader.type(o, field)
        switch type {
        case "Sequence":
            var steps: [DecoderStep] = []
            for (k, item) in try reader.array(o["decoders"], field + ".decoders").enumerated() {
                steps += try parseDecoderSteps(try reader.object(item, field + ".decoders[\(k)]"), field + ".decoders[\(k)]", reader)
            }
            return steps
        case "Replace":
            let pattern = try reader.object(o["pattern"], field + ".pattern")
            guard let literal = pattern["String"] else {
                throw reader.unsupported(field + ".pattern", "only {\"String\": …} patterns are supported in Replace")
            }
            return [.replace(pattern: try reader.string(literal, field + ".pattern.String"),
                             content: try reader.string(o["content"], field + ".content"))]
        case "ByteFallback":
            return [.byteFallback]
        case "Fuse":
            return [.fuse]
        case "Strip":
            return [.strip(content: try character("content"), start: try count("start"), stop: try count("stop"))]
        case "Metaspace":
            return [.metaspace(replacement: try character("replacement"), prependScheme: try prependScheme(o, field, reader))]
        default:
            throw reader.unsupported(field + ".type",
                                     "decoder '\(type)' (supported: ByteLevel; Replace, ByteFallback, Fuse, Strip, Metaspace and Sequences of them)")
        }
    }
}
