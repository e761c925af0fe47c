// A small backtracking regex engine over Unicode scalars: the fallback for split patterns that have
// no hand-written scanner (cl100k's or o200k's possessive patterns, custom ones). It implements the
// subset tokenizer patterns use, with Oniguruma's semantics (leftmost-first alternation; `$` is
// end of line; \s is White_Space): literals, `.`, classes with ranges and \p{…}, \s \S \d \D \w \W,
// groups (?: ) (?i: ) (?i) ( ), atomic (?> ), lookahead (?= ) (?! ), anchors ^ $ \A \z \Z \b \B, and
// greedy, lazy and possessive quantifiers. Slower than the scanners, but exact.
//
// Hostile patterns and inputs fail with an error instead of exhausting the machine: a pattern is
// compiled to a program for a backtracking machine that keeps its choice points on a heap stack
// (so a long input cannot overflow the call stack), groups nest at most `maximumNesting` deep, the
// program is bounded after expanding counted repetitions, and every search has a step budget
// linear in the input (so `(a+)+$` on "aaaa…ab" stops after about a million steps).

/// A compile error of a split pattern: what is wrong and where (scalar offset in the pattern).
struct PatternError: Error, CustomStringConvertible {
    let message: String
    let offset: Int
    var description: String { "\(message) (at character \(offset) of the pattern)" }
}

/// A search that ran out of budget: the pattern backtracks too much on this input.
struct PatternBudgetExceeded: Error, CustomStringConvertible {
    /// The input's length in Unicode scalars.
    let scalarCount: Int
    /// What ran out, in words ("its budget of 1031000 backtracking steps").
    let exhausted: String
    var description: String { "exceeded \(exhausted) on a \(scalarCount)-character input" }
}

/// A compiled pattern. Immutable, so one instance serves several threads, each with its own
/// `PatternScratch`.
final class PatternRegex {
    /// Groups, character classes and stacked quantifiers nest at most this deep.
    static let maximumNesting = 256
    /// The largest count a `{n}`, `{n,}` or `{n,m}` quantifier may give (Oniguruma's limit).
    static let maximumRepeatCount = 100_000
    /// The largest program (in instructions, counted repetitions of groups expanded) a pattern may
    /// compile to; real split patterns need about a hundred.
    static let maximumProgramSize = 100_000
    /// Steps every search may take, plus `stepsPerScalar` per scalar of input. Real patterns take
    /// a few dozen steps per scalar; one with nested quantifiers such as `(a+)+$` takes 2ⁿ.
    static let baseStepBudget = 1_000_000
    static let stepsPerScalar = 1_000
    /// Choice points a search may hold at once, plus `choicePointsPerScalar` per scalar.
    static let baseChoicePointBudget = 1_000_000
    static let choicePointsPerScalar = 8

    /// The step budget of a search over `scalarCount` scalars.
    static func stepBudget(scalarCount: Int) -> Int { baseStepBudget + stepsPerScalar * scalarCount }

    /// The choice-point budget (backtracking memory) of a search over `scalarCount` scalars.
    static func choicePointBudget(scalarCount: Int) -> Int { baseChoicePointBudget + choicePointsPerScalar * scalarCount }

    indirect enum Node {
        case empty
        case scalar(ScalarSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int, mode: RepetitionMode)
        case atomic(Node)
        case lookahead(Node, negative: Bool)
        case anchor(Anchor)
    }
    enum RepetitionMode { case greedy, lazy, possessive }
    enum Anchor { case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline, wordBoundary, notWordBoundary }

    /// One instruction of the backtracking machine. Targets are indices into the program.
    enum Instruction {
        /// Consumes one scalar of `sets[set]`.
        case scalar(set: Int)
        /// Consumes a run of `min...max` scalars of `sets[set]`: the longest first (greedy), the
        /// shortest first (lazy), or only the longest (possessive).
        case run(set: Int, min: Int, max: Int, mode: RepetitionMode)
        /// Continues at `preferred`; when that path fails, at `alternative` from the same position.
        case split(preferred: Int, alternative: Int)
        case jump(Int)
        /// Starts an optional iteration of a repeated group: remembers the position in `register`.
        case markIteration(register: Int)
        /// Ends an optional iteration: fails when it consumed nothing (an empty iteration beyond the
        /// minimum cannot make progress, so the loop stops there).
        case requireProgress(register: Int)
        case anchor(Anchor)
        /// Runs the sub-program that follows (it ends with `succeed`) to its first match, without
        /// backtracking into it later, and continues at `next` from that match's end.
        case atomic(next: Int)
        /// Runs the sub-program that follows (it ends with `succeed`) and continues at `next` from the
        /// same position when it matched (or, `negative`, when it did not).
        case lookahead(negative: Bool, next: Int)
        /// The end of the program or of an atomic or lookahead sub-program.
        case succeed

        /// The instruction moved by `delta` places (its targets with it).
        func shifted(by delta: Int) -> Instruction {
            switch self {
            case .split(let preferred, let alternative): return .split(preferred: preferred + delta, alternative: alternative + delta)
            case .jump(let target): return .jump(target + delta)
            case .atomic(let next): return .atomic(next: next + delta)
            case .lookahead(let negative, let next): return .lookahead(negative: negative, next: next + delta)
            default: return self
            }
        }
    }

    let pattern: String
    private let program: [Instruction]
    private let sets: [ScalarSet]
    private let registerCount: Int
    private let classes = UnsafePointer(ScalarClass.basicPlane)

    init(_ pattern: String) throws {
        self.pattern = pattern
        var parser = PatternParser(Array(pattern.unicodeScalars.map(\.value)))
        let root = try parser.parseAll()
        var compiler = PatternCompiler()
        try compiler.compile(root)
        _ = try compiler.emit(.succeed)
        program = compiler.program
        sets = compiler.sets
        registerCount = compiler.registerCount
    }

    /// The number of instructions the pattern compiled to.
    var programSize: Int { program.count }

    /// Appends the non-overlapping matches in `p[start..<end]` (UTF-8), leftmost-first, to `out`.
    /// Throws `PatternBudgetExceeded` when the search needs more steps or choice points than its
    /// budget allows (see `stepBudget(scalarCount:)`).
    func matches(_ p: UnsafePointer<UInt8>, start: Int, end: Int, into out: inout [Span],
                 scratch: PatternScratch = PatternScratch()) throws {
        scratch.load(p, start: start, end: end, classes: classes)
        let count = scratch.scalars.count
        var machine = Machine(program: program, sets: sets, classes: classes, scalars: scratch.scalars, flags: scratch.flags,
                              stepBudget: PatternRegex.stepBudget(scalarCount: count),
                              choicePointBudget: PatternRegex.choicePointBudget(scalarCount: count))
        swap(&machine.stack, &scratch.stack)
        swap(&machine.registers, &scratch.registers)
        defer {
            swap(&machine.stack, &scratch.stack)
            swap(&machine.registers, &scratch.registers)
        }
        machine.stack.removeAll(keepingCapacity: true)
        machine.registers.removeAll(keepingCapacity: true)
        machine.registers.append(contentsOf: repeatElement(-1, count: registerCount))
        var position = 0
        while position <= count {
            var found = -1, foundEnd = -1
            var s = position
            while s <= count {
                let e = try machine.run(0, s)
                if e >= 0 { found = s; foundEnd = e; break }
                s += 1
            }
            if found < 0 { break }
            out.append(Span(start: scratch.offsets[found], end: scratch.offsets[foundEnd]))
            position = foundEnd > found ? foundEnd : foundEnd + 1
        }
    }

    /// A saved alternative of the machine.
    enum ChoicePoint {
        /// Continue at `pc` from `position`.
        case resume(pc: Int, position: Int)
        /// A greedy run at `start` failed with `length` scalars: try one fewer (down to `min`).
        case shorterRun(pc: Int, start: Int, length: Int, min: Int)
        /// A lazy run at `start` failed with `length` scalars: try one more (up to `max`).
        case longerRun(pc: Int, start: Int, length: Int, max: Int)
        /// Undo a `markIteration`.
        case restore(register: Int, value: Int)
    }

    /// Runs the program over one input, with its choice points on `stack`.
    private struct Machine {
        let program: [Instruction]
        let sets: [ScalarSet]
        let classes: UnsafePointer<UInt8>
        let scalars: [UInt32]
        let flags: [UInt8]
        let stepBudget: Int
        let choicePointBudget: Int
        var steps = 0
        var stack: [ChoicePoint] = []
        var registers: [Int] = []

        init(program: [Instruction], sets: [ScalarSet], classes: UnsafePointer<UInt8>, scalars: [UInt32], flags: [UInt8],
             stepBudget: Int, choicePointBudget: Int) {
            self.program = program
            self.sets = sets
            self.classes = classes
            self.scalars = scalars
            self.flags = flags
            self.stepBudget = stepBudget
            self.choicePointBudget = choicePointBudget
        }

        @inline(__always) private func isWord(_ i: Int) -> Bool {
            i >= 0 && i < scalars.count && flags[i] & ScalarClass.word != 0
        }

        private func holds(_ anchor: Anchor, at i: Int) -> Bool {
            let n = scalars.count
            switch anchor {
            case .lineStart: return i == 0 || scalars[i - 1] == 0x0A
            case .lineEnd: return i == n || scalars[i] == 0x0A
            case .textStart: return i == 0
            case .textEnd: return i == n
            case .textEndBeforeNewline: return i == n || (i == n - 1 && scalars[i] == 0x0A)
            case .wordBoundary: return isWord(i - 1) != isWord(i)
            case .notWordBoundary: return isWord(i - 1) == isWord(i)
            }
        }

        private func budgetError() -> PatternBudgetExceeded {
            PatternBudgetExceeded(scalarCount: scalars.count, exhausted: "its budget of \(stepBudget) backtracking steps")
        }

        @inline(__always) private mutating func push(_ point: ChoicePoint) throws {
            if stack.count >= choicePointBudget {
                throw PatternBudgetExceeded(scalarCount: scalars.count,
                                            exhausted: "its budget of \(choicePointBudget) saved backtracking positions")
            }
            stack.append(point)
        }

        /// Runs the program from `start` at scalar `position` to the first `succeed` it reaches;
        /// returns the position there, or -1 when every path fails. Choice points made inside are
        /// dropped on return. Recurses only into atomic groups and lookaheads (pattern nesting).
        mutating func run(_ start: Int, _ position: Int) throws -> Int {
            let base = stack.count
            let n = scalars.count
            var pc = start, i = position
            while true {
                steps &+= 1
                if steps > stepBudget { throw budgetError() }
                var failed = false
                switch program[pc] {
                case .scalar(let set):
                    if i < n && sets[set].contains(scalars[i], classes: classes) { i += 1; pc += 1 } else { failed = true }
                case .run(let set, let min, let max, let mode):
                    let available = Swift.min(max, n - i)
                    var length = 0
                    while length < available && sets[set].contains(scalars[i + length], classes: classes) { length += 1 }
                    steps &+= length
                    if length < min {
                        failed = true
                    } else {
                        switch mode {
                        case .greedy:
                            if length > min { try push(.shorterRun(pc: pc + 1, start: i, length: length, min: min)) }
                            i += length
                        case .lazy:
                            if length > min { try push(.longerRun(pc: pc + 1, start: i, length: min, max: length)) }
                            i += min
                        case .possessive:
                            i += length
                        }
                        pc += 1
                    }
                case .split(let preferred, let alternative):
                    try push(.resume(pc: alternative, position: i))
                    pc = preferred
                case .jump(let target):
                    pc = target
                case .markIteration(let register):
                    try push(.restore(register: register, value: registers[register]))
                    registers[register] = i
                    pc += 1
                case .requireProgress(let register):
                    if i == registers[register] { failed = true } else { pc += 1 }
                case .anchor(let anchor):
                    if holds(anchor, at: i) { pc += 1 } else { failed = true }
                case .atomic(let next):
                    let end = try run(pc + 1, i)
                    if end >= 0 { i = end; pc = next } else { failed = true }
                case .lookahead(let negative, let next):
                    let end = try run(pc + 1, i)
                    if (end >= 0) != negative { pc = next } else { failed = true }
                case .succeed:
                    stack.removeSubrange(base...)
                    return i
                }
                if !failed { continue }
                // Backtrack to the newest choice point of this run.
                var resumed = false
                while !resumed {
                    guard stack.count > base else { return -1 }
                    switch stack.removeLast() {
                    case .resume(let target, let from):
                        pc = target; i = from; resumed = true
                    case .shorterRun(let target, let from, let length, let min):
                        let next = length - 1
                        if next > min { stack.append(.shorterRun(pc: target, start: from, length: next, min: min)) }
                        pc = target; i = from + next; resumed = true
                    case .longerRun(let target, let from, let length, let max):
                        let next = length + 1
                        if next < max { stack.append(.longerRun(pc: target, start: from, length: next, max: max)) }
                        pc = target; i = from + next; resumed = true
                    case .restore(let register, let value):
                        registers[register] = value
                    }
                }
            }
        }
    }
}

/// Buffers one search reuses: the input decoded to scalars, and the machine's stack.
final class PatternScratch {
    var scalars: [UInt32] = []
    /// UTF-8 offset of each scalar, and of the end.
    var offsets: [Int] = []
    var flags: [UInt8] = []
    var stack: [PatternRegex.ChoicePoint] = []
    var registers: [Int] = []

    /// Decodes `p[start..<end]`.
    func load(_ p: UnsafePointer<UInt8>, start: Int, end: Int, classes: UnsafePointer<UInt8>) {
        scalars.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        flags.removeAll(keepingCapacity: true)
        var i = start
        while i < end {
            let (v, n) = UTF8Scalars.decode(p, i)
            scalars.append(v)
            offsets.append(i)
            flags.append(ScalarClass.of(v, table: classes))
            i += n
        }
        offsets.append(end)
    }
}

/// Turns a parsed pattern into a program. Counted repetitions of groups are expanded into copies
/// (bounded by `PatternRegex.maximumProgramSize`); repetitions of one scalar stay one `run`.
private struct PatternCompiler {
    typealias Node = PatternRegex.Node
    typealias Instruction = PatternRegex.Instruction
    var program: [Instruction] = []
    var sets: [ScalarSet] = []
    var registerCount = 0

    mutating func emit(_ instruction: Instruction) throws -> Int {
        guard program.count < PatternRegex.maximumProgramSize else {
            throw PatternError(message: "pattern too large: more than \(PatternRegex.maximumProgramSize) instructions after expanding counted repetitions", offset: 0)
        }
        program.append(instruction)
        return program.count - 1
    }

    /// Appends a copy of the instructions in `range` (their targets moved with them).
    mutating func emitCopy(of range: Range<Int>) throws {
        let delta = program.count - range.lowerBound
        for k in range { _ = try emit(program[k].shifted(by: delta)) }
    }

    mutating func compile(_ node: Node) throws {
        switch node {
        case .empty:
            break
        case .scalar(let set):
            sets.append(set)
            _ = try emit(.scalar(set: sets.count - 1))
        case .sequence(let nodes):
            for item in nodes { try compile(item) }
        case .alternation(let nodes):
            var jumpsToEnd: [Int] = []
            for (k, item) in nodes.enumerated() {
                if k == nodes.count - 1 {
                    try compile(item)
                    break
                }
                let split = try emit(.succeed)   // placeholder, patched below
                try compile(item)
                jumpsToEnd.append(try emit(.succeed))
                program[split] = .split(preferred: split + 1, alternative: program.count)
            }
            for jump in jumpsToEnd { program[jump] = .jump(program.count) }
        case .repetition(let inner, let min, let max, let mode):
            if case .scalar(let set) = inner {
                sets.append(set)
                _ = try emit(.run(set: sets.count - 1, min: min, max: max, mode: mode))
                return
            }
            if mode == .possessive {
                try compile(.atomic(.repetition(inner, min: min, max: max, mode: .greedy)))
                return
            }
            try compileRepetition(inner, min: min, max: max, greedy: mode == .greedy)
        case .atomic(let inner):
            let at = try emit(.succeed)   // placeholder
            try compile(inner)
            _ = try emit(.succeed)
            program[at] = .atomic(next: program.count)
        case .lookahead(let inner, let negative):
            let at = try emit(.succeed)   // placeholder
            try compile(inner)
            _ = try emit(.succeed)
            program[at] = .lookahead(negative: negative, next: program.count)
        case .anchor(let anchor):
            _ = try emit(.anchor(anchor))
        }
    }

    /// `inner{min,max}` for a group: `min` plain copies, then optional iterations that must each
    /// consume something, tried before (greedy) or after (lazy) what follows the repetition.
    private mutating func compileRepetition(_ inner: Node, min: Int, max: Int, greedy: Bool) throws {
        var compiled: Range<Int>? = nil
        for _ in 0..<min { try emitCopy(of: inner, compiled: &compiled) }
        if max == min { return }
        let register = registerCount
        registerCount += 1
        if max == Int.max {
            let loop = try emit(.succeed)   // placeholder
            _ = try emit(.markIteration(register: register))
            try emitCopy(of: inner, compiled: &compiled)
            _ = try emit(.requireProgress(register: register))
            _ = try emit(.jump(loop))
            let exit = program.count
            program[loop] = greedy ? .split(preferred: loop + 1, alternative: exit) : .split(preferred: exit, alternative: loop + 1)
            return
        }
        var splits: [Int] = []
        for _ in min..<max {
            splits.append(try emit(.succeed))   // placeholder
            _ = try emit(.markIteration(register: register))
            try emitCopy(of: inner, compiled: &compiled)
            _ = try emit(.requireProgress(register: register))
        }
        let exit = program.count
        for split in splits {
            program[split] = greedy ? .split(preferred: split + 1, alternative: exit) : .split(preferred: exit, alternative: split + 1)
        }
    }

    /// Emits `inner`: compiled the first time (its instructions recorded in `compiled`), copied after.
    private mutating func emitCopy(of inner: Node, compiled: inout Range<Int>?) throws {
        if let compiled {
            try emitCopy(of: compiled)
        } else {
            let start = program.count
            try compile(inner)
            compiled = start..<program.count
        }
    }
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

/// Parses the pattern syntax into nodes.
private struct PatternParser {
    let s: [UInt32]
    var i = 0
    var caseInsensitive = false
    /// How many groups and character classes enclose the current position.
    var nesting = 0

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
        var stacked = 0
        while !atEnd {
            var min = 0, max = Int.max
            var isInterval = false
            let c = s[i]
            if c == 0x2A { i += 1 }                              // *
            else if c == 0x2B { min = 1; i += 1 }                // +
            else if c == 0x3F { max = 1; i += 1 }                // ?
            else if c == 0x7B, let (lo, hi, length) = braces(at: i) {
                let limit = PatternRegex.maximumRepeatCount
                if lo > limit || (hi != Int.max && hi > limit) { throw fail("repeat count larger than \(limit)") }
                if lo > hi { throw fail("invalid repeat range {\(lo),\(hi)}: the lower bound is larger than the upper") }
                min = lo; max = hi; i += length; isInterval = true
            }
            else { break }
            // Each quantifier on a quantified atom nests the pattern one level deeper.
            stacked += 1
            if nesting + stacked > PatternRegex.maximumNesting {
                throw fail("quantifiers stacked deeper than \(PatternRegex.maximumNesting) levels")
            }
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
        /// The decimal number at `j` (saturating far above any allowed count), or nil when there is none.
        func number() -> Int? {
            var v: Int? = nil
            while j < s.count, s[j] >= 0x30, s[j] <= 0x39 {
                v = Swift.min((v ?? 0) * 10 + Int(s[j] - 0x30), 1 << 40)
                j += 1
            }
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
        case 0x5E: i += 1; return .anchor(.lineStart)      // ^
        case 0x24: i += 1; return .anchor(.lineEnd)        // $
        case 0x5C: return try parseEscape()
        case 0x2A, 0x2B, 0x3F: throw fail("quantifier without anything to repeat")
        default:
            i += 1
            return .scalar(literal(c))
        }
    }

    /// Enters one more level of groups or classes (`what`, for the message); the caller undoes it.
    mutating func enterNested(_ what: String) throws {
        nesting += 1
        if nesting > PatternRegex.maximumNesting {
            throw fail("\(what) nested deeper than \(PatternRegex.maximumNesting) levels")
        }
    }

    mutating func group(_ wrap: (PatternRegex.Node) -> PatternRegex.Node) throws -> PatternRegex.Node {
        try enterNested("groups")
        defer { nesting -= 1 }
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
        case 0x41: i += 1; return .anchor(.textStart)              // \A
        case 0x7A: i += 1; return .anchor(.textEnd)                // \z
        case 0x5A: i += 1; return .anchor(.textEndBeforeNewline)   // \Z
        case 0x62: i += 1; return .anchor(.wordBoundary)           // \b
        case 0x42: i += 1; return .anchor(.notWordBoundary)        // \B
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
        try enterNested("character classes")
        defer { nesting -= 1 }
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
