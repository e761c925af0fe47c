// The GPT-2 byte-level alphabet: a bijection between the 256 byte values and 256 printable Unicode
// characters, used by byte-level BPE vocabularies ("Ġthe" is the bytes " the").

/// Maps bytes to the characters byte-level vocabularies spell them with, and back.
enum ByteLevelAlphabet {
    /// `character[b]`: the scalar value that spells byte `b`.
    static let characterForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + extra
                extra += 1
            }
        }
        return table
    }()

    /// `byteForCharacter[v]` for v < 324: the byte spelled by scalar `v`, or -1 when `v` is not in the
    /// alphabet. Every alphabet character is below U+0144.
    static let byteForCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for b in 0..<256 { table[Int(characterForByte[b])] = Int16(b) }
        return table
    }()

    /// The bytes a vocabulary string stands for, or nil when it has a character outside the alphabet.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let v = Int(scalar.value)
            guard v < byteForCharacter.count, byteForCharacter[v] >= 0 else { return nil }
            out.append(UInt8(byteForCharacter[v]))
        }
        return out
    }

    /// Appends the bytes a vocabulary string stands for and returns true, or returns false (appending
    /// nothing) when it has a character outside the alphabet. Reads the UTF-8 directly: every alphabet
    /// character takes one or two bytes.
    static func appendBytes<S: StringProtocol>(of token: S, to out: inout [UInt8]) -> Bool {
        let mark = out.count
        let table = byteForCharacter
        var utf8 = token.utf8.makeIterator()
        while let b = utf8.next() {
            var v = Int(b)
            if b >= 0x80 {
                guard b & 0xE0 == 0xC0, let c = utf8.next() else { out.removeLast(out.count - mark); return false }
                v = Int(b & 0x1F) << 6 | Int(c & 0x3F)
            }
            guard v < table.count, table[v] >= 0 else { out.removeLast(out.count - mark); return false }
            out.append(UInt8(table[v]))
        }
        return true
    }

    /// The vocabulary spelling of `bytes` ("Ġthe" for " the").
    static func spelling(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(characterForByte[Int(b)])!) }
        return String(s)
    }
}
