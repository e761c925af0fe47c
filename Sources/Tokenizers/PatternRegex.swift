// A small backtracking regex engine over Unicode scalars: the fallback for split patterns that have
// no hand-written scanner (cl100k's or o200k's possessive patterns, custom ones). It implements the
// subset tokenizer patterns use, with Oniguruma's semantics (leftmost-first alternation; `$` is
// end of line; \s is White_Space): literals, `.`, classes with ranges and \p{…}, \s \S \d \D \w \W,
// groups (?: ) (?i: ) (?i) ( ), atomic (?> ), lookahead (?= ) (?! ), anchors ^ $ \A \z \Z \b \B, and
// greedy, lazy and possessive quantifiers. Slower than the scanners, but exact.

/// A compile error of a split pattern: what is wrong and where (scalar offset in the pattern).
struct PatternError: Error, CustomStringConvertible {
    let message: String
    let offset: Int
    var description: String { "\(message) (at character \(offset) of the pattern)" }
}

/// A predicate over one scalar.
struct ScalarSet {
    enum Item {
        case range(UInt32, UInt32)
        /// Scalars whose class flags intersect the mask.
        case flags(UInt8)
        case generalCategories(Set<Unicode.GeneralCategory>)
        case set(ScalarSet)
    }
    var items: [Item] = []
    var negated = false
    var caseInsensitive = false

    func contains(_ v: UInt32, classes: UnsafePointer<UInt8>) -> Bool {
        var hit = matchesItems(v, classes: classes)
        if !hit && caseInsensitive {
            for alternative in CaseFolding.variants(of: v) where alternative != v {
                if matchesItems(alternative, classes: classes) { hit = true; break }
            }
        }
        return hit != negated
    }

    private func matchesItems(_ v: UInt32, classes: UnsafePointer<UInt8>) -> Bool {
        for item in items {
            switch item {
            case .range(let lo, let hi): if v >= lo && v <= hi { return true }
            case .flags(let mask): if ScalarClass.of(v, table: classes) & mask != 0 { return true }
            case .generalCategories(let categories):
                if let s = Unicode.Scalar(v), categories.contains(s.properties.generalCategory) { return true }
            case .set(let inner): if inner.contains(v, classes: classes) { return true }
            }
        }
        return false
    }
}

/// Simple case folding, approximated from the standard library's case mappings.
enum CaseFolding {
    /// `v` and the scalars that fold together with it (upper, lower, and the lower of the upper).
    static func variants(of v: UInt32) -> [UInt32] {
        guard let s = Unicode.Scalar(v) else { return [v] }
        var out: [UInt32] = [v]
        func single(_ text: String) -> UInt32? {
            let scalars = text.unicodeScalars
            return scalars.count == 1 ? scalars.first!.value : nil
        }
        let p = s.properties
        if let l = single(p.lowercaseMapping) { out.append(l) }
        if let u = single(p.uppercaseMapping) {
            out.append(u)
            if let lu = single(Unicode.Scalar(u)!.properties.lowercaseMapping) { out.append(lu) }
        }
        if let t = single(p.titlecaseMapping) { out.append(t) }
        // Scalars whose fold is v: the few non-ASCII ones that fold to ASCII letters.
        switch v {
        case 0x73, 0x53: out.append(0x17F)      // s S ſ
        case 0x6B, 0x4B: out.append(0x212A)     // k K K (Kelvin)
        case 0xE5, 0xC5: out.append(0x212B)     // å Å Å (Angstrom)
        default: break
        }
        return out
    }
}

/// A compiled pattern.
final class PatternRegex {
    indirect enum Node {
        case empty
        case scalar(ScalarSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int, mode: RepetitionMode)
        case atomic(Node)
        case lookahead(Node, negative: Bool)
        case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline, wordBoundary, notWordBoundary
    }
    enum RepetitionMode { case greedy, lazy, possessive }

    let pattern: String
    private let root: Node
    private let classes = UnsafePointer(ScalarClass.basicPlane)

    init(_ pattern: String) throws {
        self.pattern = pattern
        var parser = PatternParser(Array(pattern.unicodeScalars.map(\.value)))
        root = try parser.parseAll()
    }

    /// Appends the non-overlapping matches in `p[start..<end]` (UTF-8), leftmost-first, to `out`.
    func matches(_ p: UnsafePointer<UInt8>, start: Int, end: Int, into out: inout [Span]) {
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        var i = start
        while i < end {
            let (v, n) = UTF8Scalars.decode(p, i)
            scalars.append(v)
            offsets.append(i)
            i += n
        }
        offsets.append(end)
        let flags = scalars.map { ScalarClass.of($0, table: classes) }
        let matcher = Matcher(scalars: scalars, flags: flags, classes: classes)
        var position = 0
        while position <= scalars.count {
            var found = -1, foundEnd = -1
            var s = position
            while s <= scalars.count {
                var e = -1
                if matcher.match(root, s, { j in e = j; return true }) { found = s; foundEnd = e; break }
                s += 1
            }
            if found < 0 { break }
            out.append(Span(start: offsets[found], end: offsets[foundEnd]))
            position = foundEnd > found ? foundEnd : foundEnd + 1
        }
    }

    private struct Matcher {
        let scalars: [UInt32]
        let flags: [UInt8]
        let classes: UnsafePointer<UInt8>

        func isWord(_ i: Int) -> Bool { i >= 0 && i < scalars.count && flags[i] & ScalarClass.word != 0 }

        func match(_ node: Node, _ i: Int, _ k: (Int) -> Bool) -> Bool {
            switch node {
            case .empty:
                return k(i)
            case .scalar(let set):
                return i < scalars.count && set.contains(scalars[i], classes: classes) && k(i + 1)
            case .sequence(let nodes):
                return matchSequence(nodes, 0, i, k)
            case .alternation(let nodes):
                for n in nodes where match(n, i, k) { return true }
                return false
            case .repetition(let inner, let min, let max, let mode):
                if case .scalar(let set) = inner {
                    // One scalar at a time: count the run, then try lengths without recursion.
                    var n = 0
                    while n < max && i + n < scalars.count && set.contains(scalars[i + n], classes: classes) { n += 1 }
                    if n < min { return false }
                    switch mode {
                    case .greedy:
                        var c = n
                        while c >= min { if k(i + c) { return true }; c -= 1 }
                        return false
                    case .lazy:
                        for c in min...n where k(i + c) { return true }
                        return false
                    case .possessive:
                        return k(i + n)
                    }
                }
                switch mode {
                case .possessive:
                    var end = -1
                    _ = repeatGreedy(inner, min, max, 0, i) { j in end = j; return true }
                    return end >= 0 && k(end)
                case .greedy: return repeatGreedy(inner, min, max, 0, i, k)
                case .lazy: return repeatLazy(inner, min, max, 0, i, k)
                }
            case .atomic(let inner):
                var end = -1
                _ = match(inner, i) { j in end = j; return true }
                return end >= 0 && k(end)
            case .lookahead(let inner, let negative):
                let found = match(inner, i) { _ in true }
                return found != negative && k(i)
            case .lineStart:
                return (i == 0 || scalars[i - 1] == 0x0A) && k(i)
            case .lineEnd:
                return (i == scalars.count || scalars[i] == 0x0A) && k(i)
            case .textStart:
                return i == 0 && k(i)
            case .textEnd:
                return i == scalars.count && k(i)
            case .textEndBeforeNewline:
                return (i == scalars.count || (i == scalars.count - 1 && scalars[i] == 0x0A)) && k(i)
            case .wordBoundary:
                return isWord(i - 1) != isWord(i) && k(i)
            case .notWordBoundary:
                return isWord(i - 1) == isWord(i) && k(i)
            }
        }

        private func matchSequence(_ nodes: [Node], _ index: Int, _ i: Int, _ k: (Int) -> Bool) -> Bool {
            if index == nodes.count { return k(i) }
            return match(nodes[index], i) { j in matchSequence(nodes, index + 1, j, k) }
        }

        private func repeatGreedy(_ node: Node, _ min: Int, _ max: Int, _ count: Int, _ i: Int, _ k: (Int) -> Bool) -> Bool {
            if count < max && match(node, i, { j in
                // An empty iteration beyond the minimum cannot make progress: stop looping.
                if j == i && count >= min { return false }
                return repeatGreedy(node, min, max, count + 1, j, k)
            }) { return true }
            return count >= min && k(i)
        }

        private func repeatLazy(_ node: Node, _ min: Int, _ max: Int, _ count: Int, _ i: Int, _ k: (Int) -> Bool) -> Bool {
            if count >= min && k(i) { return true }
            return count < max && match(node, i) { j in
                if j == i && count >= min { return false }
                return repeatLazy(node, min, max, count + 1, j, k)
            }
        }
    }
}

/// Parses the pattern syntax into nodes.
private struct PatternParser {
    let s: [UInt32]
    var i = 0
    var caseInsensitive = false

    init(_ s: [UInt32]) { self.s = s }

    func fail(_ message: String) -> PatternError { PatternError(message: message, offset: i) }

    var atEnd: Bool { i >= s.count }
    func peek(_ c: Character) -> Bool { !atEnd && s[i] == c.unicodeScalars.first!.value }

    mutating func parseAll() throws -> PatternRegex.Node {
        let node = try parseAlternation()
        if !atEnd { throw fail("unbalanced ')'") }
        return node
    }

    mutating func parseAlternation() throws -> PatternRegex.Node {
        var alternatives = [try parseSequence()]
        while peek("|") {
            i += 1
            alternatives.append(try parseSequence())
        }
        return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
    }

    mutating func parseSequence() throws -> PatternRegex.Node {
        var items: [PatternRegex.Node] = []
        while !atEnd && !peek("|") && !peek(")") {
            // An inline flag group (?i) changes the flags up to the end of the enclosing group
            // (alternatives included); `group` restores them.
            if peek("("), i + 2 < s.count, s[i + 1] == 0x3F, let (flags, length) = inlineFlags(at: i + 2), s[i + 2 + length] == 0x29 {
                applyFlags(flags)
                i += 3 + length
                continue
            }
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    /// The flag letters after "(?" (for example "i" or "i-x"), when they are followed by ')' or ':'.
    func inlineFlags(at start: Int) -> (String, Int)? {
        var j = start
        var text = ""
        while j < s.count, let c = Unicode.Scalar(s[j]), "imsx-".unicodeScalars.contains(c) {
            text.unicodeScalars.append(c)
            j += 1
        }
        guard !text.isEmpty, j < s.count, s[j] == 0x29 || s[j] == 0x3A else { return nil }
        return (text, j - start)
    }

    mutating func applyFlags(_ flags: String) {
        var on = true
        for c in flags {
            switch c {
            case "-": on = false
            case "i": caseInsensitive = on
            default: break   // m, s, x: no effect on the patterns supported here
            }
        }
    }

    mutating func parseQuantifiers(_ atom: PatternRegex.Node) throws -> PatternRegex.Node {
        var node = atom
        while !atEnd {
            var min = 0, max = Int.max
            var isInterval = false
            let c = s[i]
            if c == 0x2A { i += 1 }                              // *
            else if c == 0x2B { min = 1; i += 1 }                // +
            else if c == 0x3F { max = 1; i += 1 }                // ?
            else if c == 0x7B, let (lo, hi, length) = braces(at: i) { min = lo; max = hi; i += length; isInterval = true }
            else { break }
            var mode = PatternRegex.RepetitionMode.greedy
            // Oniguruma's syntax: `+` after an interval is another quantifier (`\p{N}{1,3}+` is
            // `(?:\p{N}{1,3})+`, not possessive), and a fixed interval `{n}` is greedy only.
            if peek("?") && !(isInterval && min == max) {
                mode = .lazy; i += 1
            } else if peek("+") && !isInterval {
                mode = .possessive; i += 1
            }
            node = .repetition(node, min: min, max: max, mode: mode)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` (or `{,m}`) at `start`: bounds and length, or nil when it is a literal brace.
    func braces(at start: Int) -> (Int, Int, Int)? {
        var j = start + 1
        func number() -> Int? {
            var v: Int? = nil
            while j < s.count, s[j] >= 0x30, s[j] <= 0x39 { v = (v ?? 0) * 10 + Int(s[j] - 0x30); j += 1 }
            return v
        }
        let lo = number()
        if j < s.count && s[j] == 0x7D {
            guard let lo else { return nil }
            return (lo, lo, j + 1 - start)
        }
        guard j < s.count, s[j] == 0x2C else { return nil }
        j += 1
        let hi = number()
        guard j < s.count, s[j] == 0x7D, lo != nil || hi != nil else { return nil }
        return (lo ?? 0, hi ?? Int.max, j + 1 - start)
    }

    mutating func parseAtom() throws -> PatternRegex.Node {
        let c = s[i]
        switch c {
        case 0x28:  // (
            i += 1
            if peek("?") {
                i += 1
                guard !atEnd else { throw fail("unterminated group") }
                let kind = s[i]
                switch kind {
                case 0x3A: i += 1; return try group { $0 }                                   // (?:
                case 0x3E: i += 1; return try group { .atomic($0) }                          // (?>
                case 0x3D: i += 1; return try group { .lookahead($0, negative: false) }      // (?=
                case 0x21: i += 1; return try group { .lookahead($0, negative: true) }       // (?!
                case 0x3C:
                    if i + 1 < s.count, s[i + 1] == 0x3D || s[i + 1] == 0x21 { throw fail("look-behind is not supported") }
                    // Named group (?<name>…)
                    while !atEnd && !peek(">") { i += 1 }
                    guard !atEnd else { throw fail("unterminated group name") }
                    i += 1
                    return try group { $0 }
                default:
                    if let (flags, length) = inlineFlags(at: i), s[i + length] == 0x3A {
                        let saved = caseInsensitive
                        applyFlags(flags)
                        i += length + 1
                        defer { caseInsensitive = saved }
                        return try group { $0 }
                    }
                    throw fail("unsupported group syntax")
                }
            }
            return try group { $0 }
        case 0x29: throw fail("unbalanced ')'")
        case 0x5B: return .scalar(try parseClass())      // [
        case 0x2E:                                        // . (anything but \n)
            i += 1
            return .scalar(ScalarSet(items: [.range(0x0A, 0x0A)], negated: true))
        case 0x5E: i += 1; return .lineStart               // ^
        case 0x24: i += 1; return .lineEnd                 // $
        case 0x5C: return try parseEscape()
        case 0x2A, 0x2B, 0x3F: throw fail("quantifier without anything to repeat")
        default:
            i += 1
            return .scalar(literal(c))
        }
    }

    mutating func group(_ wrap: (PatternRegex.Node) -> PatternRegex.Node) throws -> PatternRegex.Node {
        let saved = caseInsensitive
        let inner = try parseAlternation()
        caseInsensitive = saved
        guard peek(")") else { throw fail("missing ')'") }
        i += 1
        return wrap(inner)
    }

    func literal(_ c: UInt32) -> ScalarSet {
        ScalarSet(items: [.range(c, c)], negated: false, caseInsensitive: caseInsensitive)
    }

    mutating func parseEscape() throws -> PatternRegex.Node {
        i += 1
        guard !atEnd else { throw fail("pattern ends with '\\'") }
        let c = s[i]
        switch c {
        case 0x41: i += 1; return .textStart                 // \A
        case 0x7A: i += 1; return .textEnd                   // \z
        case 0x5A: i += 1; return .textEndBeforeNewline      // \Z
        case 0x62: i += 1; return .wordBoundary              // \b
        case 0x42: i += 1; return .notWordBoundary           // \B
        default:
            let set = try parseEscapedSet()
            return .scalar(set)
        }
    }

    /// An escape that stands for one scalar or a class (after the backslash).
    mutating func parseEscapedSet() throws -> ScalarSet {
        let c = s[i]
        i += 1
        switch c {
        case 0x73: return ScalarSet(items: [.flags(ScalarClass.space)])                    // \s
        case 0x53: return ScalarSet(items: [.flags(ScalarClass.space)], negated: true)     // \S
        case 0x64: return ScalarSet(items: [.generalCategories([.decimalNumber])])        // \d
        case 0x44: return ScalarSet(items: [.generalCategories([.decimalNumber])], negated: true)
        case 0x77: return ScalarSet(items: [.flags(ScalarClass.word)])                     // \w
        case 0x57: return ScalarSet(items: [.flags(ScalarClass.word)], negated: true)
        case 0x68: return ScalarSet(items: [.range(0x30, 0x39), .range(0x41, 0x46), .range(0x61, 0x66)])  // \h (hex digit in Oniguruma)
        case 0x70, 0x50:                                                                   // \p{…} \P{…}
            var negated = c == 0x50
            guard peek("{") else { throw fail("expected '{' after \\p") }
            i += 1
            if peek("^") { negated.toggle(); i += 1 }
            var name = ""
            while !atEnd && !peek("}") { name.unicodeScalars.append(Unicode.Scalar(s[i])!); i += 1 }
            guard peek("}") else { throw fail("unterminated \\p{") }
            i += 1
            guard let categories = PatternParser.categories(named: name) else {
                throw fail("unsupported Unicode property \\p{\(name)}")
            }
            var set = ScalarSet(items: [.generalCategories(categories)], negated: negated)
            if categories == PatternParser.letters { set.items = [.flags(ScalarClass.letter)] }
            if categories == PatternParser.numbers { set.items = [.flags(ScalarClass.number)] }
            set.caseInsensitive = caseInsensitive && !negated
            return set
        case 0x6E: return literal(0x0A)
        case 0x72: return literal(0x0D)
        case 0x74: return literal(0x09)
        case 0x66: return literal(0x0C)
        case 0x76: return literal(0x0B)
        case 0x61: return literal(0x07)
        case 0x65: return literal(0x1B)
        case 0x30: return literal(0)
        case 0x78:                                                                         // \xHH \x{H…}
            if peek("{") {
                i += 1
                let v = try hex(maxDigits: 8, until: 0x7D)
                return literal(v)
            }
            return literal(try hex(maxDigits: 2, until: nil))
        case 0x75: return literal(try hex(maxDigits: 4, until: nil))                       // \uHHHH
        default:
            if (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || (0x31...0x39).contains(c) {
                i -= 1
                throw fail("unsupported escape '\\\(Unicode.Scalar(c)!)'")
            }
            return literal(c)   // escaped punctuation or other literal
        }
    }

    mutating func hex(maxDigits: Int, until terminator: UInt32?) throws -> UInt32 {
        var v: UInt32 = 0
        var digits = 0
        while !atEnd, digits < maxDigits, let d = Unicode.Scalar(s[i]).flatMap({ Character($0).hexDigitValue }) {
            v = v << 4 | UInt32(d)
            digits += 1
            i += 1
        }
        if let terminator {
            guard !atEnd, s[i] == terminator else { throw fail("unterminated \\x{") }
            i += 1
        }
        guard digits > 0, v < 0x110000 else { throw fail("invalid hexadecimal escape") }
        return v
    }

    mutating func parseClass() throws -> ScalarSet {
        i += 1  // [
        var set = ScalarSet(caseInsensitive: caseInsensitive)
        if peek("^") { set.negated = true; i += 1 }
        var first = true
        while true {
            guard !atEnd else { throw fail("unterminated character class") }
            if peek("]") && !first { i += 1; break }
            first = false
            if peek("[") {
                if i + 1 < s.count && s[i + 1] == 0x3A { throw fail("POSIX bracket classes are not supported") }
                set.items.append(.set(try parseClass()))
                continue
            }
            if peek("&"), i + 1 < s.count, s[i + 1] == 0x26 { throw fail("class intersection '&&' is not supported") }
            var low: UInt32
            if peek("\\") {
                i += 1
                guard !atEnd else { throw fail("unterminated character class") }
                let escaped = try parseEscapedSet()
                if escaped.items.count == 1, case .range(let a, let b) = escaped.items[0], a == b, !escaped.negated {
                    low = a
                } else {
                    set.items.append(.set(escaped))
                    continue
                }
            } else {
                low = s[i]
                i += 1
            }
            // A range a-b (a '-' before ']' is literal).
            if peek("-"), i + 1 < s.count, s[i + 1] != 0x5D {
                i += 1
                var high: UInt32
                if peek("\\") {
                    i += 1
                    let escaped = try parseEscapedSet()
                    guard escaped.items.count == 1, case .range(let a, let b) = escaped.items[0], a == b else {
                        throw fail("invalid range in character class")
                    }
                    high = a
                } else {
                    high = s[i]
                    i += 1
                }
                guard low <= high else { throw fail("invalid range in character class") }
                set.items.append(.range(low, high))
            } else {
                set.items.append(.range(low, low))
            }
        }
        return set
    }

    static let letters: Set<Unicode.GeneralCategory> = [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter]
    static let numbers: Set<Unicode.GeneralCategory> = [.decimalNumber, .letterNumber, .otherNumber]

    /// General categories for a \p{…} name (short or long form, as both engines accept).
    static func categories(named rawName: String) -> Set<Unicode.GeneralCategory>? {
        let name = rawName.replacingOccurrences(of: "_", with: "").replacingOccurrences(of: " ", with: "").lowercased()
        let marks: Set<Unicode.GeneralCategory> = [.nonspacingMark, .spacingMark, .enclosingMark]
        let punctuation: Set<Unicode.GeneralCategory> = [.connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                                                         .initialPunctuation, .finalPunctuation, .otherPunctuation]
        let symbols: Set<Unicode.GeneralCategory> = [.mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol]
        let separators: Set<Unicode.GeneralCategory> = [.spaceSeparator, .lineSeparator, .paragraphSeparator]
        let others: Set<Unicode.GeneralCategory> = [.control, .format, .surrogate, .privateUse, .unassigned]
        switch name {
        case "l", "letter": return letters
        case "lu", "uppercaseletter": return [.uppercaseLetter]
        case "ll", "lowercaseletter": return [.lowercaseLetter]
        case "lt", "titlecaseletter": return [.titlecaseLetter]
        case "lm", "modifierletter": return [.modifierLetter]
        case "lo", "otherletter": return [.otherLetter]
        case "lc", "casedletter": return [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter]
        case "m", "mark", "combiningmark": return marks
        case "mn", "nonspacingmark": return [.nonspacingMark]
        case "mc", "spacingmark": return [.spacingMark]
        case "me", "enclosingmark": return [.enclosingMark]
        case "n", "number": return numbers
        case "nd", "decimalnumber", "digit": return [.decimalNumber]
        case "nl", "letternumber": return [.letterNumber]
        case "no", "othernumber": return [.otherNumber]
        case "p", "punctuation", "punct": return punctuation
        case "pc", "connectorpunctuation": return [.connectorPunctuation]
        case "pd", "dashpunctuation": return [.dashPunctuation]
        case "ps", "openpunctuation": return [.openPunctuation]
        case "pe", "closepunctuation": return [.closePunctuation]
        case "pi", "initialpunctuation": return [.initialPunctuation]
        case "pf", "finalpunctuation": return [.finalPunctuation]
        case "po", "otherpunctuation": return [.otherPunctuation]
        case "s", "symbol": return symbols
        case "sm", "mathsymbol": return [.mathSymbol]
        case "sc", "currencysymbol": return [.currencySymbol]
        case "sk", "modifiersymbol": return [.modifierSymbol]
        case "so", "othersymbol": return [.otherSymbol]
        case "z", "separator": return separators
        case "zs", "spaceseparator": return [.spaceSeparator]
        case "zl", "lineseparator": return [.lineSeparator]
        case "zp", "paragraphseparator": return [.paragraphSeparator]
        case "c", "other": return others
        case "cc", "control", "cntrl": return [.control]
        case "cf", "format": return [.format]
        case "co", "privateuse": return [.privateUse]
        case "cn", "unassigned": return [.unassigned]
        case "cs", "surrogate": return [.surrogate]
        default: return nil
        }
    }
}
