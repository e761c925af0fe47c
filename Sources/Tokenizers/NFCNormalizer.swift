// NFC normalization (Qwen2's normalizer) done only where it can change something: text is cut before
// every "inert" scalar (a starter that is its own NFC and never composes with what precedes it), and
// only the pieces holding other scalars go through the standard library's NFC.

/// NFC with a fast path for text that is already normalized.
enum NFCNormalizer {
    /// Starters (canonical combining class 0) that compose with the character before them: vowel signs
    /// of some Indic and Southeast Asian scripts and the Hangul vowel and trailing-consonant jamo
    /// (DerivedNormalizationProps.txt, NFC_QC=Maybe with ccc 0, in the Basic Multilingual Plane).
    private static let backwardComposingStarters: Set<UInt32> = [
        0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57,
        0x0DCF, 0x0DDF, 0x102E, 0x1B35,
    ]

    /// Bit per BMP scalar: 1 when inert. Built on first use.
    private static let inertBasicPlane: UnsafeMutablePointer<UInt64> = {
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 0x10000 / 64)
        words.initialize(repeating: 0, count: 0x10000 / 64)
        for v in UInt32(0)..<0x10000 where isInertSlow(v) { words[Int(v >> 6)] |= 1 << UInt64(v & 63) }
        return words
    }()

    private static func isInertSlow(_ v: UInt32) -> Bool {
        if v < 0x80 { return true }
        guard let scalar = Unicode.Scalar(v) else { return false }
        if scalar.properties.canonicalCombiningClass != .notReordered { return false }
        if backwardComposingStarters.contains(v) || (0x1161...0x1175).contains(v) || (0x11A8...0x11C2).contains(v) { return false }
        let text = String(Character(scalar))
        return text._nfcCodeUnits.elementsEqual(text.utf8)
    }

    /// Whether the scalar can start a piece that normalizes independently and is unchanged by NFC.
    /// Outside the BMP only emoji and CJK ideograph blocks are treated as inert; other scalars take the
    /// exact, slower path.
    @inline(__always) static func isInert(_ v: UInt32, _ table: UnsafePointer<UInt64>) -> Bool {
        if v < 0x10000 { return table[Int(v >> 6)] & (1 << UInt64(v & 63)) != 0 }
        return (0x1F000...0x1FAFF).contains(v) || (0x20000...0x2A6DF).contains(v) || (0x2A700...0x2EE5F).contains(v)
            || (0x30000...0x323AF).contains(v)
    }

    /// Writes NFC of `p[0..<count]` to `out` and returns true, or returns false (leaving `out` alone)
    /// when the text is already NFC by the quick check.
    static func normalize(_ p: UnsafePointer<UInt8>, _ count: Int, into out: inout [UInt8]) -> Bool {
        let table = UnsafePointer(inertBasicPlane)
        var i = 0
        var lastInert = 0       // start of the most recent inert scalar: where a piece may begin
        var copied = 0
        var changed = false
        while i < count {
            if p[i] < 0x80 { lastInert = i; i += 1; continue }
            let (v, n) = UTF8Scalars.decode(p, i)
            if isInert(v, table) { lastInert = i; i += n; continue }
            if !changed { out.removeAll(keepingCapacity: true); changed = true }
            // The piece: the inert scalar before the run (it may compose with it), then the run.
            let pieceStart = lastInert
            var j = i + n
            while j < count {
                if p[j] < 0x80 { break }
                let (w, m) = UTF8Scalars.decode(p, j)
                if isInert(w, table) { break }
                j += m
            }
            out.append(contentsOf: UnsafeBufferPointer(start: p + copied, count: pieceStart - copied))
            let piece = String(decoding: UnsafeBufferPointer(start: p + pieceStart, count: j - pieceStart), as: UTF8.self)
            out.append(contentsOf: piece._nfcCodeUnits)
            copied = j
            i = j
        }
        if changed { out.append(contentsOf: UnsafeBufferPointer(start: p + copied, count: count - copied)) }
        return changed
    }
}
