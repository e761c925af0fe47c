// The pieces SentencePiece-style tokenizer.json files (Llama 2, Mistral, TinyLlama) add to the
// pipeline: vocabularies spelled in plain Unicode with "▁" for spaces and <0xXX> byte-fallback tokens,
// the Prepend / Replace normalizers, the Metaspace pre-tokenizer, and the decoder chain
// Replace → ByteFallback → Fuse → Strip (or Metaspace), each as the Hugging Face library runs it.

/// How vocabulary strings spell bytes.
enum VocabularyAlphabet {
    /// GPT-2's byte-level alphabet ("Ġthe" is the bytes " the"); the model's symbols are bytes.
    case byteLevel
    /// Plain Unicode ("▁the" is its own UTF-8); the model's symbols are Unicode scalars.
    case unicode

    /// Appends the bytes `token` stands for and returns true, or returns false (appending nothing).
    func appendBytes<S: StringProtocol>(of token: S, to out: inout [UInt8]) -> Bool {
        switch self {
        case .byteLevel: return ByteLevelAlphabet.appendBytes(of: token, to: &out)
        case .unicode: out.append(contentsOf: token.utf8); return true
        }
    }

    func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        return appendBytes(of: token, to: &out) ? out : nil
    }

    /// The vocabulary spelling of `bytes`.
    func spelling(of bytes: some Collection<UInt8>) -> String {
        switch self {
        case .byteLevel: return ByteLevelAlphabet.spelling(of: bytes)
        case .unicode: return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// The byte of a byte-fallback token ("<0x0A>" → 0x0A), or nil.
func byteFallbackValue(_ token: String) -> UInt8? {
    let u = Array(token.utf8)
    guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
          u[5] == UInt8(ascii: ">") else { return nil }
    return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
}

/// The spelling of byte b's fallback token, as the library forms it ("<0x0A>").
func byteFallbackSpelling(_ b: UInt8) -> String {
    let hex = String(b, radix: 16, uppercase: true)
    return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
}

/// Every occurrence of `pattern` in `input` replaced by `content`, left to right, non-overlapping.
func replaceBytes(_ input: UnsafeBufferPointer<UInt8>, pattern: [UInt8], content: [UInt8], into out: inout [UInt8]) {
    let n = pattern.count
    guard n > 0, let p = input.baseAddress else { out.append(contentsOf: input); return }
    var i = 0
    pattern.withUnsafeBufferPointer { pat in
        while i < input.count {
            if p[i] == pat[0] && i + n <= input.count && memoryEqual(p + i, pat.baseAddress!, n) {
                out.append(contentsOf: content)
                i += n
            } else {
                out.append(p[i])
                i += 1
            }
        }
    }
}

/// When the Metaspace pre-tokenizer puts "▁" before a piece that does not start with one.
enum PrependScheme: String {
    case always, first, never
}

/// One step of a decoder chain (tokens in, tokens out; the chain's tokens are joined at the end).
enum DecoderStep {
    /// Every occurrence of `pattern` in each token replaced by `content`.
    case replace(pattern: String, content: String)
    /// Runs of <0xXX> tokens become their UTF-8 text, or one U+FFFD per token when not valid UTF-8.
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Up to `start` leading and `stop` trailing `content` characters removed from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// "▁" → " ", except that the first token loses its "▁"s when something was prepended.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)

    /// Steps that act on each token alone (what one token shows as by itself, `Tokenizer.bytes(of:)`).
    var isPerToken: Bool {
        switch self {
        case .replace, .metaspace: return true
        case .byteFallback, .fuse, .strip: return false
        }
    }

    /// Decoding one more token can only append to the text decoded so far (so a stream can release
    /// text as it goes), except after a trailing strip.
    var isPrefixStable: Bool {
        if case .strip(_, _, let stop) = self { return stop == 0 }
        return true
    }

    func apply(_ tokens: [String]) -> [String] {
        switch self {
        case .replace(let pattern, let content):
            return tokens.map { token in
                var out: [UInt8] = []
                Array(token.utf8).withUnsafeBufferPointer { replaceBytes($0, pattern: Array(pattern.utf8), content: Array(content.utf8), into: &out) }
                return String(decoding: out, as: UTF8.self)
            }
        case .byteFallback:
            var out: [String] = [], pending: [UInt8] = []
            func flush() {
                if pending.isEmpty { return }
                if let text = String(validatingUTF8Bytes: pending) {
                    out.append(text)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for token in tokens {
                if let b = byteFallbackValue(token) { pending.append(b); continue }
                flush()
                out.append(token)
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let chars = Array(token.unicodeScalars)   // the library's chars are scalars
                var from = 0
                while from < min(start, chars.count) && chars[from] == content { from += 1 }
                var to = chars.count
                var removed = 0
                while removed < stop && to > from && chars[to - 1] == content { to -= 1; removed += 1 }
                var out = String.UnicodeScalarView()
                out.append(contentsOf: chars[from..<to])
                return String(out)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, token in
                var s = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c == replacement {
                        if !(i == 0 && scheme != .never) { s.append(" ") }
                    } else {
                        s.append(c)
                    }
                }
                return String(s)
            }
        }
    }
}

extension String {
    /// The string of `bytes` when they are valid UTF-8, else nil.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let v): scalars.append(v)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}
