// Streaming decode for generation: ids arrive one at a time, and text is released as soon as it is
// complete UTF-8. A character split across tokens is held back until its last byte arrives (for
// SentencePiece-style decoders: until the run of byte-fallback tokens ends). The concatenated output
// always equals `decode` of all ids.

/// Turns a stream of token ids into text, holding back partial UTF-8 sequences.
///
/// ```swift
/// var stream = tokenizer.makeStreamingDecoder()
/// for id in generated { print(try stream.push(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDecoder {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    /// Bytes not yet released: the start of a character whose remaining bytes have not arrived.
    private var pending: [UInt8] = []
    private var emittedAny = false
    /// Decoder chains (SentencePiece style): the ids not yet settled, from an anchor token on (see
    /// `releaseChainText`), the length of the anchor's own text, and how many scalars after it were released.
    private var chainIds: [Int32] = []
    private var anchorScalars = 0
    private var emittedScalars = 0
    /// Ids pushed since the start or the last `finish` (to name the position of an unknown id).
    private var pushedCount = 0

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id and returns the text it completes (possibly empty).
    ///
    /// - Throws: `TokenizerError.unknownTokenId` when `id` is no token of the vocabulary (as
    ///   `Tokenizer.decode` does); the stream is unchanged then.
    public mutating func push(_ id: Int32) throws -> String {
        guard tokenizer.isKnownId(id) else { throw tokenizer.unknownIdError(id, position: pushedCount) }
        pushedCount += 1
        if case .chain = tokenizer.decoderKind {
            guard let token = tokenizer.token(for: id), !(skipSpecialTokens && tokenizer.isSpecial(id)) else { return "" }
            chainIds.append(id)
            // A run of byte tokens may still continue (it decodes as a whole), and a trailing strip
            // can change the end: hold back until the text so far cannot change.
            if byteFallbackValue(token) != nil || !tokenizer.decodesIncrementally { return "" }
            return releaseChainText()
        }
        if !tokenizer.decodesBytes {
            // Without a byte-level decoder, tokens are joined with spaces.
            var one: [UInt8] = []
            guard tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &one) else { return "" }
            let text = String(decoding: one, as: UTF8.self)
            defer { emittedAny = true }
            return emittedAny ? " " + text : text
        }
        guard tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending) else { return "" }
        let keep = StreamingDecoder.incompleteSuffixLength(pending)
        if keep == pending.count { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Adds several ids and returns the text they complete; throws at the first unknown id (the ids
    /// before it stay pushed).
    public mutating func push(_ ids: [Int32]) throws -> String {
        var text = ""
        for id in ids { text += try push(id) }
        return text
    }

    /// Releases whatever is held back (an unfinished character becomes U+FFFD) and resets.
    public mutating func finish() -> String {
        defer { pending.removeAll(); emittedAny = false; chainIds.removeAll(); anchorScalars = 0; emittedScalars = 0; pushedCount = 0 }
        if case .chain = tokenizer.decoderKind { return releaseChainText() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// The text of the ids so far beyond what was released.
    ///
    /// Decoding is prefix-stable (one more token only appends text), and a chain's context effects are
    /// all at the very start (Strip of a leading space, Metaspace's first token) or inside runs of byte
    /// tokens. So once a token that is not a byte token and decodes to non-empty text alone has been
    /// released, the text after it depends only on it and what follows: it becomes the anchor, and
    /// each release decodes just the anchor and the tokens after it (linear in the stream length).
    private mutating func releaseChainText() -> String {
        let text = tokenizer.decodeKnown(chainIds, skipSpecialTokens: skipSpecialTokens).unicodeScalars
        let released = anchorScalars + emittedScalars
        var out = String.UnicodeScalarView()
        if text.count > released { out.append(contentsOf: text.dropFirst(released)) }
        emittedScalars = max(emittedScalars, text.count - anchorScalars)
        if let last = chainIds.last, let token = tokenizer.token(for: last), byteFallbackValue(token) == nil {
            let alone = tokenizer.decodeKnown([last], skipSpecialTokens: skipSpecialTokens).unicodeScalars.count
            if alone > 0 {
                chainIds = [last]
                anchorScalars = alone
                emittedScalars = 0
            }
        }
        return String(out)
    }

    /// Whether bytes are being held back.
    public var hasPendingBytes: Bool {
        if case .chain = tokenizer.decoderKind {
            return tokenizer.decodeKnown(chainIds, skipSpecialTokens: skipSpecialTokens).unicodeScalars.count > anchorScalars + emittedScalars
        }
        return !pending.isEmpty
    }

    /// The length of the trailing bytes that are a proper, well-formed prefix of a UTF-8 sequence (a
    /// character still waiting for bytes), or 0. Everything before it decodes the same alone as within
    /// the whole stream, because such a prefix starts with a lead byte.
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var back = 1
        while back <= 3 && back <= n {
            let b = bytes[n - back]
            if b & 0xC0 != 0x80 {
                // A lead byte (or ASCII) `back` bytes from the end.
                let expected = UTF8Validation.expectedLength(lead: b)
                guard expected > back else { return 0 }
                if back >= 2 && !UTF8Validation.secondByteRange(lead: b).contains(bytes[n - back + 1]) { return 0 }
                return back
            }
            back += 1
        }
        return 0
    }
}
