// BPE tokenizer read from a Hugging Face tokenizer.json — byte-level (Llama 3, GPT-2 / SmolLM2,
// Qwen2 families) or SentencePiece-style with byte fallback (Llama 2, Mistral, TinyLlama, Gemma): encoding
// identical to the `tokenizers` library (and to tiktoken for Llama 3, SentencePiece for Llama 2),
// decoding, special tokens, and the settings of the model directory. Encoding and decoding throw
// `TokenizerError` on input they cannot handle (a split regex over its backtracking budget, an id
// outside the vocabulary) instead of trapping, hanging or dropping it silently.

import Foundation

/// A tokenizer loaded from `tokenizer.json`.
///
/// Encoding follows the Hugging Face pipeline step for step: added tokens are split out of the text
/// (leftmost-longest), the rest is normalized (NFC where the file says so), pre-tokenized (split
/// regex, digits, byte-level), and each piece is looked up whole (`ignore_merges`) or merged by rank.
/// Instances are immutable and safe to use from several threads.
public final class Tokenizer: @unchecked Sendable {
    /// The tokenizer.json this was read from.
    public let tokenizerFile: URL
    /// The file as errors name it (the path, or the name given with the JSON data).
    private let fileName: String
    /// Settings from the model directory (tokenizer_config.json and friends).
    public let configuration: TokenizerConfiguration
    /// One more than the largest id of the vocabulary and the added tokens.
    public let vocabularySize: Int
    /// The added tokens of tokenizer.json, in file order.
    public let addedTokens: [AddedToken]
    /// The beginning-of-sequence token: `bos_token` of tokenizer_config.json, else the first special
    /// token the post-processor puts before a sequence.
    public let bosToken: String?
    public let bosTokenId: Int32?
    /// The end-of-sequence token: `eos_token` of tokenizer_config.json.
    public let eosToken: String?
    public let eosTokenId: Int32?
    /// Ids that end generation: the EOS id and generation_config.json's `eos_token_id` list, sorted.
    public let stopTokenIds: [Int32]
    /// `pad_token` of tokenizer_config.json, when it is a known token.
    public let padTokenId: Int32?
    /// The ids a sequence gets before and after it when special tokens are added.
    public let prefixTokenIds: [Int32]
    public let suffixTokenIds: [Int32]

    let model: BytePairEncoder
    private let normalizer: [NormalizerStep]
    private let preTokenizer: PreTokenizer
    private let decoder: DecoderKind
    /// Added tokens matched in the original text, and those matched after normalization.
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    /// The model vocabulary by id, and the text of added tokens by id (their normalized content when
    /// they are matched after normalization, as the library decodes them).
    private let vocabulary: ModelVocabulary
    private let addedContent: [Int32: String]
    /// Id → the bytes the decoder makes of it: `decodedBytes[decodedStart[id] ..< decodedStart[id + 1]]`.
    private let decodedBytes: [UInt8]
    private let decodedStart: [Int32]
    private let knownIds: [Bool]
    private let specialIds: [Bool]
    private let addedTokenIds: [String: Int32]

    private let poolLock = NSLock()
    private var pool: [EncoderScratch] = []

    /// Loads a tokenizer from a `tokenizer.json` file or from a model directory containing one
    /// (tokenizer_config.json, chat_template.jinja and generation_config.json beside it are read too).
    public convenience init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(path: url.path)
        }
        let file = isDirectory.boolValue ? url.appendingPathComponent("tokenizer.json") : url
        guard FileManager.default.fileExists(atPath: file.path) else { throw TokenizerError.fileNotFound(path: file.path) }
        let definition = try TokenizerDefinition.parse(try readFile(file), file: file.path)
        let configuration = try TokenizerConfiguration.load(directory: file.deletingLastPathComponent())
        self.init(definition: definition, configuration: configuration, file: file, fileName: file.path)
    }

    /// Builds a tokenizer from the contents of a tokenizer.json (`name` is used in error messages).
    public convenience init(tokenizerJSON data: Data, name: String = "tokenizer.json",
                            configuration: TokenizerConfiguration = TokenizerConfiguration()) throws {
        let definition = try TokenizerDefinition.parse(data, file: name)
        self.init(definition: definition, configuration: configuration, file: URL(fileURLWithPath: name), fileName: name)
    }

    private init(definition: TokenizerDefinition, configuration: TokenizerConfiguration, file: URL, fileName: String) {
        tokenizerFile = file
        self.fileName = fileName
        self.configuration = configuration
        model = definition.model
        normalizer = definition.normalizer
        preTokenizer = definition.preTokenizer
        decoder = definition.decoder
        addedTokens = definition.addedTokens
        vocabulary = definition.vocabulary
        prefixTokenIds = definition.template.prefix
        suffixTokenIds = definition.template.suffix

        // Added tokens: ids, matchers (normalized ones are matched by their normalized content).
        var addedIds: [String: Int32] = [:]
        var raw: [AddedToken] = [], normalized: [AddedToken] = [], normalizedPatterns: [String] = []
        var addedContent: [Int32: String] = [:]
        for token in definition.addedTokens {
            addedIds[token.content] = token.id
            if token.isNormalized {
                let pattern = Tokenizer.normalize(token.content, definition.normalizer)
                normalized.append(token)
                normalizedPatterns.append(pattern)
                addedContent[token.id] = pattern
            } else {
                raw.append(token)
                addedContent[token.id] = token.content
            }
        }
        addedTokenIds = addedIds
        rawMatcher = AddedTokenMatcher(tokens: raw, patterns: raw.map(\.content))
        normalizedMatcher = AddedTokenMatcher(tokens: normalized, patterns: normalizedPatterns)

        self.addedContent = addedContent

        // Id tables.
        let maxAdded = definition.addedTokens.map(\.id).max() ?? -1
        let size = max(definition.vocabulary.idCount, Int(maxAdded) + 1)
        vocabularySize = size
        var special = [Bool](repeating: false, count: size)
        for token in definition.addedTokens where token.isSpecial { special[Int(token.id)] = true }
        specialIds = special
        var knownFlags = [Bool](repeating: false, count: size)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(definition.vocabulary.bytes.count + addedContent.count * 16)
        var starts = [Int32](repeating: 0, count: size + 1)
        let byteLevel = definition.decoder.isByteLevel
        var perTokenSteps: [DecoderStep] = []
        if case .chain(let steps) = definition.decoder { perTokenSteps = steps.filter(\.isPerToken) }
        let isChain: Bool
        if case .chain = definition.decoder { isChain = true } else { isChain = false }
        /// A token alone through the chain's per-token steps (a byte-fallback token stays its byte).
        func appendChainDecoding(of spelling: String) {
            if let b = byteFallbackValue(spelling) { bytes.append(b) } else {
                bytes.append(contentsOf: Tokenizer.runChain(perTokenSteps, [spelling], first: false).utf8)
            }
        }
        for id in 0..<size {
            starts[id] = Int32(bytes.count)
            if let s = addedContent[Int32(id)] {
                // Added tokens go through the decoder like the others (Gemma's "▁▁" pieces are two spaces).
                if byteLevel {
                    Tokenizer.appendByteLevelDecoding(of: s, to: &bytes)
                } else if isChain {
                    appendChainDecoding(of: s)
                } else {
                    bytes.append(contentsOf: s.utf8)
                }
            } else if let raw = definition.vocabulary.rawBytes(of: Int32(id)) {
                if byteLevel {
                    bytes.append(contentsOf: raw)
                } else if isChain {
                    appendChainDecoding(of: definition.vocabulary.alphabet.spelling(of: raw))
                } else {
                    bytes.append(contentsOf: definition.vocabulary.alphabet.spelling(of: raw).utf8)
                }
            } else if let s = definition.vocabulary.unspelledById[Int32(id)] {
                bytes.append(contentsOf: s.utf8)   // the ByteLevel decoder keeps such tokens' own UTF-8
            } else {
                continue
            }
            knownFlags[id] = true
        }
        starts[size] = Int32(bytes.count)
        decodedBytes = bytes
        decodedStart = starts
        knownIds = knownFlags

        // Special tokens of the model directory.
        func known(_ token: String?) -> Int32? {
            guard let token else { return nil }
            return addedIds[token] ?? definition.vocabulary.id(of: token, table: definition.model.vocabulary)
        }
        if let bos = configuration.bosToken, let id = known(bos) {
            bosToken = bos
            bosTokenId = id
        } else if let first = definition.template.prefix.first, let s = addedContent[first] ?? definition.vocabulary.spelling(of: first) {
            bosToken = s
            bosTokenId = first
        } else {
            bosToken = nil
            bosTokenId = nil
        }
        eosTokenId = known(configuration.eosToken)
        eosToken = eosTokenId == nil ? nil : configuration.eosToken
        padTokenId = known(configuration.padToken)
        stopTokenIds = Array(Set(configuration.generationEosTokenIds + (eosTokenId.map { [$0] } ?? []))).sorted()
    }

    // MARK: Encoding

    /// The token ids of `text`.
    ///
    /// - Parameters:
    ///   - addSpecialTokens: add what the post-processor adds around a sequence (the BOS token for Llama 3).
    ///   - parseSpecialTokens: turn special-token strings in the text (such as "<|eot_id|>") into their ids,
    ///     as the Hugging Face library does by default; when false they are tokenized as ordinary text.
    /// - Throws: `TokenizerError.regexBudgetExceeded` when a custom pre-tokenizer split regex
    ///   backtracks beyond its budget on this text (never for the built-in GPT-2, Llama 3 and Qwen2
    ///   patterns, which have scanners that cannot backtrack).
    public func encode(_ text: String, addSpecialTokens: Bool = false, parseSpecialTokens: Bool = true) throws -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + prefixTokenIds.count + suffixTokenIds.count + 1)
        if addSpecialTokens { ids.append(contentsOf: prefixTokenIds) }
        var text = text
        try text.withUTF8 { buffer in
            if let base = buffer.baseAddress, buffer.count > 0 {
                try withScratch { scratch in try encodeBytes(base, buffer.count, parseSpecial: parseSpecialTokens, into: &ids, scratch: scratch) }
            }
        }
        if addSpecialTokens { ids.append(contentsOf: suffixTokenIds) }
        return ids
    }

    private func withScratch<R>(_ body: (EncoderScratch) throws -> R) rethrows -> R {
        poolLock.lock()
        let scratch = pool.popLast() ?? EncoderScratch()
        poolLock.unlock()
        defer {
            poolLock.lock()
            pool.append(scratch)
            poolLock.unlock()
        }
        return try body(scratch)
    }

    private func encodeBytes(_ p: UnsafePointer<UInt8>, _ count: Int, parseSpecial: Bool, into ids: inout [Int32],
                             scratch: EncoderScratch) throws {
        if rawMatcher.isEmpty {
            try encodeNormalizing(p, count, parseSpecial: parseSpecial, atStart: true, into: &ids, scratch: scratch)
            return
        }
        var segments = scratch.takeSegments()
        defer { scratch.returnSegments(segments) }
        rawMatcher.split(p, start: 0, end: count, parseSpecial: parseSpecial, into: &segments)
        for segment in segments {
            if segment.token >= 0 {
                ids.append(rawMatcher.tokens[segment.token].id)
            } else {
                try encodeNormalizing(p + segment.span.start, segment.span.end - segment.span.start,
                                  parseSpecial: parseSpecial, atStart: segment.span.start == 0, into: &ids, scratch: scratch)
            }
        }
    }

    /// Normalizes a text segment, splits out normalized added tokens, and encodes the rest. `atStart`:
    /// the segment begins at the start of the input.
    private func encodeNormalizing(_ p: UnsafePointer<UInt8>, _ count: Int, parseSpecial: Bool, atStart: Bool,
                                   into ids: inout [Int32], scratch: EncoderScratch) throws {
        if count == 0 { return }
        if normalizer.contains(where: { if case .nfc = $0 { return false } else { return true } }) {
            // Prepend / Replace (SentencePiece style), step by step.
            var current = scratch.takeBytes(), next = scratch.takeBytes()
            defer { scratch.returnBytes(current); scratch.returnBytes(next) }
            current.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
            for step in normalizer {
                next.removeAll(keepingCapacity: true)
                current.withUnsafeBufferPointer { Tokenizer.normalizeBytes($0, step, into: &next) }
                swap(&current, &next)
            }
            try current.withUnsafeBufferPointer { b in
                if let base = b.baseAddress, b.count > 0 {
                    try splitNormalizedTokens(base, b.count, parseSpecial: parseSpecial, atStart: atStart, into: &ids, scratch: scratch)
                }
            }
            return
        }
        if !normalizer.isEmpty {
            // NFC is the only normalizer; it changes nothing in most text.
            var normalized = scratch.takeBytes()
            defer { scratch.returnBytes(normalized) }
            if NFCNormalizer.normalize(p, count, into: &normalized) {
                try normalized.withUnsafeBufferPointer { b in
                    if let base = b.baseAddress, b.count > 0 {
                        try splitNormalizedTokens(base, b.count, parseSpecial: parseSpecial, atStart: atStart, into: &ids, scratch: scratch)
                    }
                }
                return
            }
        }
        try splitNormalizedTokens(p, count, parseSpecial: parseSpecial, atStart: atStart, into: &ids, scratch: scratch)
    }

    private func splitNormalizedTokens(_ p: UnsafePointer<UInt8>, _ count: Int, parseSpecial: Bool, atStart: Bool,
                                       into ids: inout [Int32], scratch: EncoderScratch) throws {
        if normalizedMatcher.isEmpty {
            try encodePlain(p, count, atStart: atStart, into: &ids, scratch: scratch)
            return
        }
        var segments = scratch.takeSegments()
        defer { scratch.returnSegments(segments) }
        normalizedMatcher.split(p, start: 0, end: count, parseSpecial: parseSpecial, into: &segments)
        for segment in segments {
            if segment.token >= 0 {
                ids.append(normalizedMatcher.tokens[segment.token].id)
            } else {
                try encodePlain(p + segment.span.start, segment.span.end - segment.span.start,
                            atStart: atStart && segment.span.start == 0, into: &ids, scratch: scratch)
            }
        }
    }

    /// Pre-tokenizes and encodes text that holds no added tokens.
    private func encodePlain(_ p: UnsafePointer<UInt8>, _ count: Int, atStart: Bool, into ids: inout [Int32],
                             scratch: EncoderScratch) throws {
        if count == 0 { return }
        let pre = scratch.preTokenizer
        pre.work.removeAll(keepingCapacity: true)
        pre.work.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
        try preTokenizer.run(count: count, scratch: pre, atStart: atStart)
        pre.work.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            for piece in pre.pieces {
                model.encode(base + piece.start, piece.end - piece.start, into: &ids, scratch: scratch.bpe)
            }
        }
    }

    static func normalize(_ text: String, _ steps: [NormalizerStep]) -> String {
        var bytes = Array(text.utf8), next: [UInt8] = []
        for step in steps {
            next.removeAll(keepingCapacity: true)
            bytes.withUnsafeBufferPointer { normalizeBytes($0, step, into: &next) }
            swap(&bytes, &next)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One normalizer step over UTF-8 bytes.
    static func normalizeBytes(_ input: UnsafeBufferPointer<UInt8>, _ step: NormalizerStep, into out: inout [UInt8]) {
        switch step {
        case .nfc:
            if let base = input.baseAddress, input.count > 0, NFCNormalizer.normalize(base, input.count, into: &out) { return }
            out.append(contentsOf: input)
        case .prepend(let prefix):
            if input.count > 0 { out.append(contentsOf: prefix) }
            out.append(contentsOf: input)
        case .replace(let pattern, let content):
            replaceBytes(input, pattern: pattern, content: content, into: &out)
        }
    }

    // MARK: Decoding

    /// The text of `ids`. Byte-level tokens are joined as bytes and decoded as UTF-8, with each invalid
    /// sequence replaced by U+FFFD. No clean-up of spaces is done, so `decode(encode(text)) == text`.
    ///
    /// - Throws: `TokenizerError.unknownTokenId` for the first id that is no token of the vocabulary
    ///   (negative, at least `vocabularySize`, or unassigned). The Hugging Face library skips such
    ///   ids silently; here they are an error, since they mean the ids came from another vocabulary.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) throws -> String {
        for (position, id) in ids.enumerated() where !isKnownId(id) {
            throw unknownIdError(id, position: position)
        }
        return decodeKnown(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// Whether `id` is a token of the vocabulary (or an added token).
    public func isKnownId(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabularySize && knownIds[Int(id)]
    }

    /// The error for an unknown id at `position` of the ids being decoded.
    func unknownIdError(_ id: Int32, position: Int) -> TokenizerError {
        .unknownTokenId(file: fileName, id: id, position: position, vocabularySize: vocabularySize)
    }

    /// `decode` of ids already checked to be known (unknown ones would be skipped).
    func decodeKnown(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        switch decoder {
        case .byteLevel:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(ids.count * 4)
            for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
            return String(decoding: bytes, as: UTF8.self)
        case .joinWithSpaces:
            return ids.compactMap { id -> String? in
                guard !(skipSpecialTokens && isSpecial(id)) else { return nil }
                return token(for: id)
            }.joined(separator: " ")
        case .chain(let steps):
            let tokens = ids.compactMap { id -> String? in
                guard !(skipSpecialTokens && isSpecial(id)) else { return nil }
                return token(for: id)
            }
            return Tokenizer.runChain(steps, tokens, first: true)
        }
    }

    /// The decoder chain over token strings, joined. `first`: the tokens start the text (the
    /// Metaspace decoder treats the first token apart).
    static func runChain(_ steps: [DecoderStep], _ tokens: [String], first: Bool) -> String {
        var tokens = first ? tokens : [""] + tokens
        for step in steps { tokens = step.apply(tokens) }
        return tokens.joined()
    }

    /// Whether decoding can release text token by token (see `DecoderStep.isPrefixStable`).
    var decodesIncrementally: Bool {
        if case .chain(let steps) = decoder { return steps.allSatisfy(\.isPrefixStable) }
        return true
    }

    /// The kind of decoder (the streaming decoder follows it).
    var decoderKind: DecoderKind { decoder }

    /// A decoder for generated ids, one at a time, that holds back incomplete UTF-8.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    /// Appends the decoded bytes of one token (nothing for unknown or skipped ids); returns whether it
    /// was a known token that was not skipped.
    @discardableResult
    func appendBytes(of id: Int32, skipSpecialTokens: Bool, to bytes: inout [UInt8]) -> Bool {
        guard id >= 0, Int(id) < vocabularySize, knownIds[Int(id)] else { return false }
        if skipSpecialTokens && specialIds[Int(id)] { return false }
        let start = Int(decodedStart[Int(id)]), end = Int(decodedStart[Int(id) + 1])
        bytes.append(contentsOf: decodedBytes[start..<end])
        return true
    }

    var decodesBytes: Bool { decoder.isByteLevel }

    /// The Hugging Face ByteLevel decoder's bytes for one token string.
    private static func appendByteLevelDecoding(of token: String, to bytes: inout [UInt8]) {
        let mark = bytes.count
        let table = ByteLevelAlphabet.byteForCharacter
        for scalar in token.unicodeScalars {
            let v = Int(scalar.value)
            guard v < table.count, table[v] >= 0 else {
                bytes.removeLast(bytes.count - mark)
                bytes.append(contentsOf: token.utf8)
                return
            }
            bytes.append(UInt8(table[v]))
        }
    }

    // MARK: Vocabulary

    /// The id of a token spelling ("<|eot_id|>", "Ġthe"): added tokens first, then the model vocabulary.
    public func id(of token: String) -> Int32? {
        addedTokenIds[token] ?? vocabulary.id(of: token, table: model.vocabulary)
    }

    /// The spelling of token `id` ("Ġthe" for " the"), or nil for an unknown id.
    public func token(for id: Int32) -> String? {
        addedContent[id] ?? vocabulary.spelling(of: id)
    }

    /// The bytes token `id` decodes to (" the"), or nil for an unknown id.
    public func bytes(of id: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        return appendBytes(of: id, skipSpecialTokens: false, to: &out) ? out : nil
    }

    /// Whether `id` is a special added token (BOS, EOS, chat markers).
    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabularySize && specialIds[Int(id)]
    }
}

/// Buffers one encoding call reuses; the tokenizer keeps a pool so calls on several threads do not share.
final class EncoderScratch {
    let preTokenizer = PreTokenizerScratch()
    let bpe = BPEScratch()
    private var segmentBuffers: [[TextSegment]] = []

    private var byteBuffers: [[UInt8]] = []

    func takeBytes() -> [UInt8] {
        var b = byteBuffers.popLast() ?? []
        b.removeAll(keepingCapacity: true)
        return b
    }
    func returnBytes(_ b: [UInt8]) { byteBuffers.append(b) }

    func takeSegments() -> [TextSegment] {
        var s = segmentBuffers.popLast() ?? []
        s.removeAll(keepingCapacity: true)
        return s
    }
    func returnSegments(_ s: [TextSegment]) { segmentBuffers.append(s) }
}
