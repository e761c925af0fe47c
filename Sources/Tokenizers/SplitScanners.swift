// Hand-written scanners equal to the split regexes of the GPT-2, Llama 3 and Qwen2 tokenizers
// (leftmost-first alternation with backtracking, as Oniguruma, fancy-regex and tiktoken run them),
// over UTF-8 bytes: each call returns the end of the match that starts at a position.

/// The split regexes recognised by their exact text in `tokenizer.json`.
enum KnownSplitPattern: Equatable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` — GPT-2, the
    /// ByteLevel pre-tokenizer's built-in regex (SmolLM2, GPT-2, RoBERTa families).
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// — Llama 3 (and tiktoken cl100k's HF conversion); `maximumDigits` is 3. Qwen2 uses the same
    /// pattern with `\p{N}` alone: `maximumDigits` 1.
    case llama3(maximumDigits: Int)

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The scanner for `pattern`, when it is one of the known regexes (compared as exact text).
    static func recognize(_ pattern: String) -> KnownSplitPattern? {
        switch pattern {
        case gpt2Pattern: return .gpt2
        case llama3Pattern: return .llama3(maximumDigits: 3)
        case qwen2Pattern: return .llama3(maximumDigits: 1)
        default: return nil
        }
    }
}

/// Runs a known pattern over `p[start..<end]` and appends every match (they tile the range: each
/// scalar belongs to one alternative, so there are no gaps).
struct SplitScanner {
    let pattern: KnownSplitPattern
    let classes: UnsafePointer<UInt8>

    init(_ pattern: KnownSplitPattern) {
        self.pattern = pattern
        self.classes = UnsafePointer(ScalarClass.basicPlane)
    }

    @inline(__always) private func classOf(_ v: UInt32) -> UInt8 { ScalarClass.of(v, table: classes) }

    /// Appends the matches inside `p[start..<end]` to `out`.
    func split(_ p: UnsafePointer<UInt8>, start: Int, end: Int, into out: inout [Span]) {
        var i = start
        switch pattern {
        case .gpt2:
            while i < end {
                let j = gpt2Match(p, i, end)
                out.append(Span(start: i, end: j))
                i = j
            }
        case .llama3(let maximumDigits):
            while i < end {
                let j = llama3Match(p, i, end, maximumDigits)
                out.append(Span(start: i, end: j))
                i = j
            }
        }
    }

    /// End of the run of scalars whose flags intersect `mask`, from `j`.
    @inline(__always) private func runEnd(_ p: UnsafePointer<UInt8>, _ j: Int, _ end: Int, _ mask: UInt8) -> Int {
        var j = j
        while j < end {
            let b = p[j]
            if b < 0x80 {
                if classes[Int(b)] & mask == 0 { return j }
                j += 1
            } else {
                let (v, n) = UTF8Scalars.decode(p, j)
                if classOf(v) & mask == 0 { return j }
                j += n
            }
        }
        return j
    }

    /// End of the run of scalars in `[^\s\p{L}\p{N}]`, from `j`.
    @inline(__always) private func otherRunEnd(_ p: UnsafePointer<UInt8>, _ j: Int, _ end: Int) -> Int {
        var j = j
        while j < end {
            let (v, n) = UTF8Scalars.decode(p, j)
            if !ScalarClass.isOther(classOf(v)) { return j }
            j += n
        }
        return j
    }

    /// The whitespace alternatives shared by both families, at a whitespace scalar `i`:
    /// `\s*[\r\n]+` (only when `newlineAlternative`), then `\s+(?!\S)`, then `\s+`.
    @inline(__always) private func whitespaceMatch(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int,
                                                   newlineAlternative: Bool) -> Int {
        var j = i
        var lastStart = i
        var lastBreakEnd = -1
        while j < end {
            let (v, n) = UTF8Scalars.decode(p, j)
            let c = classOf(v)
            if c & ScalarClass.space == 0 { break }
            if c & ScalarClass.lineBreak != 0 { lastBreakEnd = j + n }
            lastStart = j
            j += n
        }
        // \s*[\r\n]+ : backtracking gives back whitespace until the last line break of the run.
        if newlineAlternative && lastBreakEnd >= 0 { return lastBreakEnd }
        // \s+(?!\S) : the whole run at the end of the text, else all but its last scalar.
        if j == end { return j }
        if lastStart > i { return lastStart }
        // \s+
        return j
    }

    /// ASCII lower case of `v`, with U+017F LATIN SMALL LETTER LONG S folded to "s" as Unicode simple
    /// case folding does (so `(?i:'s)` matches "'ſ"); 0 for anything else.
    @inline(__always) private func foldedLetter(_ v: UInt32) -> UInt32 {
        if v >= 0x41 && v <= 0x5A { return v | 0x20 }
        if v >= 0x61 && v <= 0x7A { return v }
        if v == 0x17F { return 0x73 }
        return 0
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at the apostrophe `i`; returns the match end or -1.
    @inline(__always) private func caseInsensitiveContraction(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let j = i + 1
        guard j < end else { return -1 }
        let (v1, n1) = UTF8Scalars.decode(p, j)
        switch foldedLetter(v1) {
        case 0x73, 0x74, 0x6D, 0x64: return j + n1                   // s t m d
        case 0x72, 0x76, 0x6C:                                       // r(e) v(e) l(l)
            let k = j + n1
            guard k < end else { return -1 }
            let (v2, n2) = UTF8Scalars.decode(p, k)
            let want: UInt32 = foldedLetter(v1) == 0x6C ? 0x6C : 0x65
            return foldedLetter(v2) == want ? k + n2 : -1
        default: return -1
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` (case-sensitive) at the apostrophe `i`; returns the match end or -1.
    @inline(__always) private func contraction(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let j = i + 1
        guard j < end else { return -1 }
        switch p[j] {
        case 0x73, 0x74, 0x6D, 0x64: return j + 1
        case 0x72, 0x76: return j + 1 < end && p[j + 1] == 0x65 ? j + 2 : -1
        case 0x6C: return j + 1 < end && p[j + 1] == 0x6C ? j + 2 : -1
        default: return -1
        }
    }

    /// The Llama 3 / Qwen2 regex at `i`.
    @inline(__always) private func llama3Match(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ maximumDigits: Int) -> Int {
        if p[i] == 0x27 {
            let k = caseInsensitiveContraction(p, i, end)
            if k >= 0 { return k }
        }
        let (v0, n0) = UTF8Scalars.decode(p, i)
        let c0 = classOf(v0)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if c0 & ScalarClass.letter != 0 { return runEnd(p, i + n0, end, ScalarClass.letter) }
        if c0 & (ScalarClass.lineBreak | ScalarClass.number) == 0 && i + n0 < end {
            let (v1, n1) = UTF8Scalars.decode(p, i + n0)
            if classOf(v1) & ScalarClass.letter != 0 { return runEnd(p, i + n0 + n1, end, ScalarClass.letter) }
        }
        // \p{N}{1,maximumDigits}
        if c0 & ScalarClass.number != 0 {
            var j = i + n0
            var count = 1
            while count < maximumDigits && j < end {
                let (v, n) = UTF8Scalars.decode(p, j)
                if classOf(v) & ScalarClass.number == 0 { break }
                j += n
                count += 1
            }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = -1
        if v0 == 0x20 && i + 1 < end {
            let (v1, n1) = UTF8Scalars.decode(p, i + 1)
            if ScalarClass.isOther(classOf(v1)) { j = i + 1 + n1 }
        }
        if j < 0 && ScalarClass.isOther(c0) { j = i + n0 }
        if j >= 0 {
            j = otherRunEnd(p, j, end)
            while j < end && (p[j] == 0x0D || p[j] == 0x0A) { j += 1 }
            return j
        }
        // What is left is whitespace.
        return whitespaceMatch(p, i, end, newlineAlternative: true)
    }

    /// The GPT-2 regex at `i`.
    @inline(__always) private func gpt2Match(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        if p[i] == 0x27 {
            let k = contraction(p, i, end)
            if k >= 0 { return k }
        }
        let (v0, n0) = UTF8Scalars.decode(p, i)
        var c = classOf(v0)
        var from = i + n0
        // " ?" before letters, numbers or other symbols
        if v0 == 0x20 && from < end {
            let (v1, n1) = UTF8Scalars.decode(p, from)
            let c1 = classOf(v1)
            if c1 & ScalarClass.space == 0 {
                c = c1
                from += n1
            }
        }
        if c & ScalarClass.letter != 0 { return runEnd(p, from, end, ScalarClass.letter) }
        if c & ScalarClass.number != 0 { return runEnd(p, from, end, ScalarClass.number) }
        if ScalarClass.isOther(c) { return otherRunEnd(p, from, end) }
        return whitespaceMatch(p, i, end, newlineAlternative: false)
    }
}

/// A byte range `[start, end)` of the text being encoded.
struct Span: Equatable {
    var start: Int
    var end: Int
}
