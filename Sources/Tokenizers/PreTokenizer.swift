// Pre-tokenization: the steps of a `pre_tokenizer` (Split, ByteLevel, Digits, in a Sequence) applied to
// byte spans of the text, with the five split behaviours of the Hugging Face library.

/// What a Split step does with the matches of its pattern (`behavior` in tokenizer.json).
enum SplitBehavior: String {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// How a Split step finds its matches.
enum SplitMatcher {
    /// One of the regexes with a hand-written scanner.
    case known(SplitScanner)
    /// Any other regex, run by the backtracking engine.
    case regex(SplitRegex)
    /// A literal string (`pattern: {"String": …}`).
    case literal([UInt8])
}

/// A split regex for the backtracking engine, with where it was read from (for its errors).
struct SplitRegex {
    let regex: PatternRegex
    /// The tokenizer file, as named in errors.
    let file: String
    /// The JSON field of the pattern (`pre_tokenizer.pretokenizers[0].pattern.Regex`).
    let field: String
}

/// One pre-tokenizer step.
enum PreTokenizerStep {
    case split(SplitMatcher, behavior: SplitBehavior, invert: Bool)
    /// ByteLevel: optionally prepends a space to each piece, optionally splits with the GPT-2 regex.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// Digits: isolates each \p{N} scalar, or each run of them.
    case digits(individual: Bool)
    /// Metaspace: spaces become `replacement` ("▁"), which is also put before a piece that does not
    /// start with it (always, or only at the start of the text); with `split`, pieces are cut before
    /// each replacement.
    case metaspace(replacement: [UInt8], prependScheme: PrependScheme, split: Bool)
}

/// A span with whether it is a match of the step's pattern.
struct SplitEvent {
    var span: Span
    var isMatch: Bool
}

/// Reusable buffers for pre-tokenizing one text segment.
final class PreTokenizerScratch {
    /// The segment's bytes, plus any pieces rebuilt with a prefix space, appended behind.
    var work: [UInt8] = []
    var pieces: [Span] = []
    var nextPieces: [Span] = []
    var matches: [Span] = []
    var events: [SplitEvent] = []
    /// The regex engine's buffers.
    let regex = PatternScratch()
}

/// The pre-tokenizer of a tokenizer: its steps, in order.
struct PreTokenizer {
    let steps: [PreTokenizerStep]
    private static let gpt2Scanner = SplitScanner(.gpt2)

    /// Splits `scratch.work[0..<count]` into pieces, leaving them in `scratch.pieces`. `atStart`: the
    /// text begins at the start of the input (Metaspace's "first" scheme prepends only there).
    /// Throws `TokenizerError.regexBudgetExceeded` when a split regex backtracks beyond its budget.
    func run(count: Int, scratch: PreTokenizerScratch, atStart: Bool = true) throws {
        scratch.pieces.removeAll(keepingCapacity: true)
        if count > 0 { scratch.pieces.append(Span(start: 0, end: count)) }
        for step in steps {
            scratch.nextPieces.removeAll(keepingCapacity: true)
            switch step {
            case .split(let matcher, let behavior, let invert):
                try scratch.work.withUnsafeBufferPointer { buffer in
                    let p = buffer.baseAddress!
                    if case .known(let scanner) = matcher, behavior == .isolated {
                        // The scanners' matches tile the piece: they are the pieces.
                        for piece in scratch.pieces {
                            scanner.split(p, start: piece.start, end: piece.end, into: &scratch.nextPieces)
                        }
                        return
                    }
                    for piece in scratch.pieces {
                        scratch.matches.removeAll(keepingCapacity: true)
                        switch matcher {
                        case .known(let scanner): scanner.split(p, start: piece.start, end: piece.end, into: &scratch.matches)
                        case .regex(let split):
                            do {
                                try split.regex.matches(p, start: piece.start, end: piece.end, into: &scratch.matches, scratch: scratch.regex)
                            } catch let exceeded as PatternBudgetExceeded {
                                throw TokenizerError.regexBudgetExceeded(file: split.file, field: split.field, pattern: split.regex.pattern,
                                                                         inputLength: exceeded.scalarCount, budget: exceeded.exhausted)
                            }
                        case .literal(let literal): PreTokenizer.literalMatches(literal, p, piece, into: &scratch.matches)
                        }
                        PreTokenizer.emit(matches: scratch.matches, in: piece, behavior: behavior, invert: invert,
                                          events: &scratch.events, into: &scratch.nextPieces)
                    }
                }
            case .byteLevel(let addPrefixSpace, let useRegex):
                if addPrefixSpace {
                    for k in scratch.pieces.indices where scratch.work[scratch.pieces[k].start] != 0x20 {
                        let piece = scratch.pieces[k]
                        let start = scratch.work.count
                        scratch.work.append(0x20)
                        scratch.work.append(contentsOf: scratch.work[piece.start..<piece.end])
                        scratch.pieces[k] = Span(start: start, end: scratch.work.count)
                    }
                }
                if !useRegex { continue }
                scratch.work.withUnsafeBufferPointer { buffer in
                    let p = buffer.baseAddress!
                    for piece in scratch.pieces {
                        PreTokenizer.gpt2Scanner.split(p, start: piece.start, end: piece.end, into: &scratch.nextPieces)
                    }
                }
            case .metaspace(let replacement, let scheme, let split):
                for k in scratch.pieces.indices {
                    let piece = scratch.pieces[k]
                    let start = scratch.work.count
                    let first = scratch.work[piece.start]
                    let startsWithReplacement = first == 0x20 || scratch.work[piece.start..<piece.end].starts(with: replacement)
                    if !startsWithReplacement && (scheme == .always || (scheme == .first && atStart && piece.start == 0)) {
                        scratch.work.append(contentsOf: replacement)
                    }
                    for i in piece.start..<piece.end {
                        let b = scratch.work[i]
                        if b == 0x20 { scratch.work.append(contentsOf: replacement) } else { scratch.work.append(b) }
                    }
                    scratch.pieces[k] = Span(start: start, end: scratch.work.count)
                }
                if !split { continue }
                scratch.work.withUnsafeBufferPointer { buffer in
                    let p = buffer.baseAddress!
                    for piece in scratch.pieces {
                        scratch.matches.removeAll(keepingCapacity: true)
                        PreTokenizer.literalMatches(replacement, p, piece, into: &scratch.matches)
                        PreTokenizer.emit(matches: scratch.matches, in: piece, behavior: .mergedWithNext, invert: false,
                                          events: &scratch.events, into: &scratch.nextPieces)
                    }
                }
            case .digits(let individual):
                scratch.work.withUnsafeBufferPointer { buffer in
                    let p = buffer.baseAddress!
                    let classes = UnsafePointer(ScalarClass.basicPlane)
                    for piece in scratch.pieces {
                        scratch.matches.removeAll(keepingCapacity: true)
                        var i = piece.start
                        while i < piece.end {
                            let (v, n) = UTF8Scalars.decode(p, i)
                            if ScalarClass.of(v, table: classes) & ScalarClass.number != 0 {
                                scratch.matches.append(Span(start: i, end: i + n))
                            }
                            i += n
                        }
                        PreTokenizer.emit(matches: scratch.matches, in: piece, behavior: individual ? .isolated : .contiguous,
                                          invert: false, events: &scratch.events, into: &scratch.nextPieces)
                    }
                }
            }
            swap(&scratch.pieces, &scratch.nextPieces)
        }
    }

    /// Non-overlapping occurrences of `literal`, left to right.
    private static func literalMatches(_ literal: [UInt8], _ p: UnsafePointer<UInt8>, _ piece: Span, into out: inout [Span]) {
        let n = literal.count
        if n == 0 { return }
        var i = piece.start
        literal.withUnsafeBufferPointer { l in
            while i + n <= piece.end {
                if memoryEqual(p + i, l.baseAddress!, n) {
                    out.append(Span(start: i, end: i + n))
                    i += n
                } else {
                    i += 1
                }
            }
        }
    }

    /// Turns the matches inside `piece` (sorted, non-overlapping) into pieces according to `behavior`,
    /// as `NormalizedString::split` does. Empty pieces are dropped.
    static func emit(matches: [Span], in piece: Span, behavior: SplitBehavior, invert: Bool,
                     events: inout [SplitEvent], into out: inout [Span]) {
        if behavior == .isolated {
            var previous = piece.start
            for m in matches {
                if previous < m.start { out.append(Span(start: previous, end: m.start)) }
                if m.start < m.end { out.append(m) }
                previous = m.end
            }
            if previous < piece.end { out.append(Span(start: previous, end: piece.end)) }
            return
        }
        events.removeAll(keepingCapacity: true)
        var previous = piece.start
        for m in matches {
            if previous != m.start { events.append(SplitEvent(span: Span(start: previous, end: m.start), isMatch: invert)) }
            events.append(SplitEvent(span: m, isMatch: !invert))
            previous = m.end
        }
        if previous != piece.end { events.append(SplitEvent(span: Span(start: previous, end: piece.end), isMatch: invert)) }
        let first = out.count
        switch behavior {
        case .isolated:
            break
        case .removed:
            for e in events where !e.isMatch { out.append(e.span) }
        case .contiguous:
            var previousMatch = false
            for e in events {
                if e.isMatch == previousMatch && out.count > first {
                    out[out.count - 1].end = e.span.end
                } else {
                    out.append(e.span)
                }
                previousMatch = e.isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for e in events {
                if e.isMatch && !previousMatch && out.count > first {
                    out[out.count - 1].end = e.span.end
                } else {
                    out.append(e.span)
                }
                previousMatch = e.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            var reversed: [Span] = []
            for e in events.reversed() {
                if e.isMatch && !previousMatch && !reversed.isEmpty {
                    reversed[reversed.count - 1].start = e.span.start
                } else {
                    reversed.append(e.span)
                }
                previousMatch = e.isMatch
            }
            out.append(contentsOf: reversed.reversed())
        }
        // Drop empty pieces.
        var k = first
        for j in first..<out.count where out[j].start < out[j].end {
            out[k] = out[j]
            k += 1
        }
        out.removeLast(out.count - k)
    }
}
