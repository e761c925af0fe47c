// The hand-written split scanners against the generic regex engine on random text, the Unicode
// classes the scanners rely on, the byte-level alphabet, and the streaming decoder's hold-back rule.

import Foundation
import XCTest
@testable import Tokenizers
import Support

final class ScannerTests: XCTestCase {
    /// Scalars that exercise every branch of the patterns: letters of several scripts and cases,
    /// digits of several kinds, all kinds of whitespace, apostrophes and contraction letters.
    static let alphabet: [String] = [
        "a", "s", "S", "t", "T", "r", "R", "e", "E", "v", "V", "m", "M", "l", "L", "d", "D", "k", "x", "ſ", "\u{212A}",
        "é", "ß", "Ж", "ж", "λ", "中", "日", "ㄱ", "각", "ع", "क", "्", "\u{301}", "ǅ", "ʰ",
        "0", "7", "٣", "०", "５", "²", "½", "Ⅻ", "①",
        " ", " ", " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2003}", "\u{2028}",
        "\u{2029}", "\u{202F}", "\u{3000}", "\u{200B}", "\u{1C}", "\u{FEFF}",
        "'", "'", "’", "\"", ".", ",", "!", "?", "-", "_", "(", ")", "<", "|", ">", "/", "#", "$", "€", "+", "=",
        "😀", "👍🏽", "\u{200D}", "\u{FE0F}", "🇫", "\u{E000}", "\u{10FFFD}", "\u{0}", "\u{7F}",
    ]

    private func randomText(_ rng: inout SeededGenerator, maxLength: Int = 24) -> String {
        var s = ""
        for _ in 0..<Int.random(in: 0...maxLength, using: &rng) { s += ScannerTests.alphabet.randomElement(using: &rng)! }
        return s
    }

    private func spans(_ text: String, _ run: (UnsafePointer<UInt8>, Int, inout [Span]) throws -> Void) rethrows -> [String] {
        var out: [Span] = []
        var bytes = Array(text.utf8)
        bytes.append(0)
        try bytes.withUnsafeBufferPointer { try run($0.baseAddress!, text.utf8.count, &out) }
        return out.map { String(decoding: bytes[$0.start..<$0.end], as: UTF8.self) }
    }

    func testScannersAgreeWithRegexEngine() throws {
        let cases: [(String, KnownSplitPattern)] = [
            (KnownSplitPattern.gpt2Pattern, .gpt2),
            (KnownSplitPattern.llama3Pattern, .llama3(maximumDigits: 3)),
            (KnownSplitPattern.qwen2Pattern, .llama3(maximumDigits: 1)),
        ]
        var rng = SeededGenerator(seed: 42)
        for (pattern, kind) in cases {
            XCTAssertEqual(KnownSplitPattern.recognize(pattern), kind)
            let scanner = SplitScanner(kind)
            let regex = try PatternRegex(pattern)
            for _ in 0..<4000 {
                let text = randomText(&rng)
                let fast = spans(text) { p, n, out in scanner.split(p, start: 0, end: n, into: &out) }
                let slow = try spans(text) { p, n, out in try regex.matches(p, start: 0, end: n, into: &out) }
                XCTAssertEqual(fast, slow, "\(kind) on \(text.debugDescription)")
                XCTAssertEqual(fast.joined(), text, "scanner matches must tile the text")
                if fast != slow { return }
            }
        }
    }

    func testKnownSplits() {
        let llama = SplitScanner(.llama3(maximumDigits: 3))
        func split(_ scanner: SplitScanner, _ text: String) -> [String] {
            spans(text) { p, n, out in scanner.split(p, start: 0, end: n, into: &out) }
        }
        XCTAssertEqual(split(llama, "DON'T stop, I'M 12345 here"), ["DON", "'T", " stop", ",", " I", "'M", " ", "123", "45", " here"])
        XCTAssertEqual(split(llama, "x'ſ"), ["x", "'ſ"])
        XCTAssertEqual(split(llama, "a  \n\n b"), ["a", "  \n\n", " b"])
        XCTAssertEqual(split(llama, "a\u{3000}b\u{85}c"), ["a", "\u{3000}b", "\u{85}c"])
        XCTAssertEqual(split(llama, "...\r\n\r\nx"), ["...\r\n\r\n", "x"])
        XCTAssertEqual(split(llama, "  x  "), [" ", " x", "  "])
        let gpt2 = SplitScanner(.gpt2)
        XCTAssertEqual(split(gpt2, "DON'T it's 12345 ?!"), ["DON", "'", "T", " it", "'s", " 12345", " ?!"])
        XCTAssertEqual(split(gpt2, "a\t\tb"), ["a", "\t", "\t", "b"])
    }

    func testUnicodeClassesFollowTheRegexEngines() {
        let table = UnsafePointer(ScalarClass.basicPlane)
        func flags(_ s: Unicode.Scalar) -> UInt8 { ScalarClass.of(s.value, table: table) }
        for s: Unicode.Scalar in ["\u{85}", "\u{2028}", "\u{3000}", "\u{A0}", "\u{0B}", "\u{1680}", "\u{205F}"] {
            XCTAssertNotEqual(flags(s) & ScalarClass.space, 0, "U+\(String(s.value, radix: 16)) is White_Space")
        }
        for s: Unicode.Scalar in ["\u{1C}", "\u{1F}", "\u{200B}", "\u{FEFF}", "\u{180E}"] {
            XCTAssertEqual(flags(s) & ScalarClass.space, 0, "U+\(String(s.value, radix: 16)) is not White_Space")
        }
        XCTAssertNotEqual(flags("ʰ") & ScalarClass.letter, 0)    // Lm
        XCTAssertNotEqual(flags("ǅ") & ScalarClass.letter, 0)    // Lt
        XCTAssertNotEqual(flags("Ⅻ") & ScalarClass.number, 0)    // Nl
        XCTAssertNotEqual(flags("½") & ScalarClass.number, 0)    // No
        XCTAssertEqual(flags("\u{301}") & (ScalarClass.letter | ScalarClass.number), 0)  // Mn is neither
        XCTAssertNotEqual(flags("\u{301}") & ScalarClass.word, 0)
        XCTAssertNotEqual(ScalarClass.of(0x20000, table: table) & ScalarClass.letter, 0)  // CJK extension B
    }

    func testByteLevelAlphabetIsABijection() {
        var seen = Set<UInt32>()
        for b in 0..<256 {
            let c = ByteLevelAlphabet.characterForByte[b]
            XCTAssertTrue(seen.insert(c).inserted)
            XCTAssertEqual(ByteLevelAlphabet.bytes(of: ByteLevelAlphabet.spelling(of: [UInt8(b)])), [UInt8(b)])
        }
        XCTAssertEqual(ByteLevelAlphabet.spelling(of: Array(" the".utf8)), "Ġthe")
        XCTAssertEqual(ByteLevelAlphabet.spelling(of: [0x0A]), "Ċ")
        XCTAssertNil(ByteLevelAlphabet.bytes(of: "a b"))
    }

    func testIncompleteUTF8IsHeldBack() {
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0x41]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0x41, 0xE4]), 1)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xE4, 0xB8]), 2)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xE4, 0xB8, 0xAD]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xF0, 0x9F, 0x98]), 3)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xE0, 0x80]), 0, "E0 80 can never complete")
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xED, 0xA0]), 0, "surrogates are invalid")
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0x80]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xFF]), 0)
    }

    func testStreamingDecodeOfSplitCharacters() throws {
        let tokenizer = try TokenizerFixtures.load("llama3-tiny")
        // One token per byte: every multi-byte character arrives in pieces.
        let text = "é中😀 ok 👨‍👩‍👧"
        let byteIds = text.utf8.map { tokenizer.id(of: ByteLevelAlphabet.spelling(of: [$0]))! }
        var stream = tokenizer.makeStreamingDecoder()
        var pieces: [String] = []
        for id in byteIds { pieces.append(try stream.push(id)) }
        pieces.append(stream.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertTrue(pieces.allSatisfy { !$0.contains("\u{FFFD}") })
        XCTAssertEqual(pieces[0], "", "the first byte of é is held back")
        XCTAssertEqual(pieces[1], "é")
        // An unfinished character at the end becomes U+FFFD, as decode does.
        var cut = tokenizer.makeStreamingDecoder()
        XCTAssertEqual(try cut.push(Array(byteIds[0..<4])), "é")
        XCTAssertTrue(cut.hasPendingBytes)
        XCTAssertEqual(cut.finish(), "\u{FFFD}")
        XCTAssertEqual(try tokenizer.decode(Array(byteIds[0..<4])), "é\u{FFFD}")
    }
}

/// A small deterministic generator (SplitMix64) for reproducible random tests.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class NormalizerTests: XCTestCase {
    /// The quick-check path must give exactly the standard library's NFC of the whole text.
    func testNFCQuickPathEqualsFullNFC() {
        let pieces = ["a", "e", "E", "<", ">", "=", " ", "\n", "1", "é", "e\u{301}", "\u{301}", "\u{308}", "\u{304}", "\u{323}",
                      "\u{338}", "\u{345}", "Å", "\u{212B}", "\u{2126}", "ᄀ", "ᅡ", "ᆨ", "가", "각", "\u{9C7}", "\u{9BE}",
                      "\u{B47}", "\u{B3E}", "\u{B56}", "\u{DD9}", "\u{DCF}", "\u{1025}", "\u{102E}", "\u{1B05}", "\u{1B35}",
                      "か", "\u{3099}", "ｶ", "\u{FF9E}", "中", "\u{F900}", "\u{2F800}", "😀", "\u{1F3FD}", "\u{11131}",
                      "\u{11127}", "\u{1D15E}", "\u{1D165}", "\u{F73}", "\u{F71}", "\u{F72}", "ǅ", "ﬁ", "\u{0}", "\u{10FFFD}",
                      "\u{1E9B}", "\u{1100}\u{1161}\u{11A8}", "\u{AC00}\u{11A8}", "\u{30A6}\u{3099}", "\u{1E0A}\u{323}"]
        var rng = SeededGenerator(seed: 7)
        var output: [UInt8] = []
        for _ in 0..<20000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...10, using: &rng) { text += pieces.randomElement(using: &rng)! }
            let expected = Array(text._nfcCodeUnits)
            let bytes = Array(text.utf8)
            let changed = bytes.withUnsafeBufferPointer { b -> Bool in
                guard let base = b.baseAddress else { return false }
                return NFCNormalizer.normalize(base, b.count, into: &output)
            }
            let got = changed ? output : bytes
            XCTAssertEqual(got, expected, "NFC of \(text.unicodeScalars.map { String($0.value, radix: 16) })")
            if got != expected { return }
        }
    }
}
