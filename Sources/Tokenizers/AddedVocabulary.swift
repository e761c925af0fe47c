// Added tokens (special tokens such as <|begin_of_text|> and user-added words): found in the text
// before normalization and pre-tokenization, leftmost-longest, with the lstrip / rstrip / single_word
// options applied exactly as the Hugging Face `AddedVocabulary` applies them.

/// A token of `tokenizer.json`'s `added_tokens` list.
public struct AddedToken: Equatable, Sendable {
    /// The token id.
    public let id: Int32
    /// The text the token stands for.
    public let content: String
    /// Special tokens (BOS, EOS, chat markers) can be skipped when decoding and left unparsed when encoding.
    public let isSpecial: Bool
    /// Whitespace to the left of a match belongs to the token.
    public let stripsLeft: Bool
    /// Whitespace to the right of a match belongs to the token.
    public let stripsRight: Bool
    /// The token is matched in the normalized text (else in the original text).
    public let isNormalized: Bool
    /// The token only matches as a whole word.
    public let isSingleWord: Bool

    public init(id: Int32, content: String, isSpecial: Bool, stripsLeft: Bool = false, stripsRight: Bool = false,
                isNormalized: Bool = false, isSingleWord: Bool = false) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
        self.stripsLeft = stripsLeft
        self.stripsRight = stripsRight
        self.isNormalized = isNormalized
        self.isSingleWord = isSingleWord
    }
}

/// A part of the text after added tokens are split out: either an added token or text to tokenize.
struct TextSegment {
    /// The index of the matched added token in the matcher's list, or -1 for text.
    var token: Int
    var span: Span
}

/// Finds added tokens in UTF-8 text with a byte trie (leftmost-longest, non-overlapping).
final class AddedTokenMatcher {
    let tokens: [AddedToken]
    /// Root transitions by first byte (node index, or -1).
    private var rootChildren = [Int32](repeating: -1, count: 256)
    /// Transitions below the root: node << 8 | byte → node.
    private var children: [Int: Int32] = [:]
    /// Node → token index, or -1.
    private var terminal: [Int32] = [-1]
    private let classes = UnsafePointer(ScalarClass.basicPlane)

    var isEmpty: Bool { tokens.isEmpty }

    /// `patterns[i]` is the text matched for `tokens[i]` (its content, or its normalized content).
    init(tokens: [AddedToken], patterns: [String]) {
        self.tokens = tokens
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node = -1
            for b in pattern.utf8 {
                if node < 0 {
                    if rootChildren[Int(b)] < 0 {
                        rootChildren[Int(b)] = Int32(terminal.count)
                        terminal.append(-1)
                    }
                    node = Int(rootChildren[Int(b)])
                } else {
                    let key = node << 8 | Int(b)
                    if let child = children[key] {
                        node = Int(child)
                    } else {
                        children[key] = Int32(terminal.count)
                        node = terminal.count
                        terminal.append(-1)
                    }
                }
            }
            // With duplicate patterns the later token wins, as in a map built from the list.
            terminal[node] = Int32(index)
        }
    }

    /// The longest token match starting at `i` (token index and end), or nil.
    @inline(__always) private func longestMatch(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (Int, Int)? {
        var node = Int(rootChildren[Int(p[i])])
        if node < 0 { return nil }
        var best: (Int, Int)? = nil
        var j = i + 1
        while true {
            if terminal[node] >= 0 { best = (Int(terminal[node]), j) }
            if j >= end { break }
            guard let child = children[node << 8 | Int(p[j])] else { break }
            node = Int(child)
            j += 1
        }
        return best
    }

    /// Splits `p[start..<end]` into added tokens and text, appending to `out`. Special tokens are
    /// left in the text when `parseSpecial` is false.
    func split(_ p: UnsafePointer<UInt8>, start: Int, end: Int, parseSpecial: Bool, into out: inout [TextSegment]) {
        var startOffset = start
        var i = start
        while i < end {
            if rootChildren[Int(p[i])] < 0 { i += 1; continue }
            guard let (index, matchEnd) = longestMatch(p, i, end) else { i += 1; continue }
            var matchStart = i
            var stop = matchEnd
            i = matchEnd
            let token = tokens[index]
            if !parseSpecial && token.isSpecial { continue }
            if token.isSingleWord {
                let startSpace = matchStart == start || !isWordScalar(endingAt: matchStart, p)
                let stopSpace = stop == end || !isWordScalar(startingAt: stop, p)
                if !startSpace || !stopSpace { continue }
            }
            if token.stripsLeft {
                var newStart = matchStart
                while newStart > start {
                    let previous = UTF8Scalars.previousBoundary(p, newStart)
                    let (v, _) = UTF8Scalars.decode(p, previous)
                    if ScalarClass.of(v, table: classes) & ScalarClass.space == 0 { break }
                    newStart = previous
                }
                matchStart = max(newStart, startOffset)
            }
            if token.stripsRight {
                while stop < end {
                    let (v, n) = UTF8Scalars.decode(p, stop)
                    if ScalarClass.of(v, table: classes) & ScalarClass.space == 0 { break }
                    stop += n
                }
            }
            if startOffset < matchStart { out.append(TextSegment(token: -1, span: Span(start: startOffset, end: matchStart))) }
            out.append(TextSegment(token: index, span: Span(start: matchStart, end: stop)))
            startOffset = stop
        }
        if startOffset != end { out.append(TextSegment(token: -1, span: Span(start: startOffset, end: end))) }
    }

    private func isWordScalar(endingAt i: Int, _ p: UnsafePointer<UInt8>) -> Bool {
        let (v, _) = UTF8Scalars.decode(p, UTF8Scalars.previousBoundary(p, i))
        return ScalarClass.of(v, table: classes) & ScalarClass.word != 0
    }

    private func isWordScalar(startingAt i: Int, _ p: UnsafePointer<UInt8>) -> Bool {
        let (v, _) = UTF8Scalars.decode(p, i)
        return ScalarClass.of(v, table: classes) & ScalarClass.word != 0
    }
}
