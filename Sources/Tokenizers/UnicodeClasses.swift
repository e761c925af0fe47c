// Character classes used by the pre-tokenizer scanners, as the Rust `regex` and Oniguruma engines
// define them: \p{L} and \p{N} are whole general categories, \s is White_Space (U+0085, U+2028 and
// U+3000 included, U+001C–U+001F excluded), \w is Rust's Unicode word class. Plus UTF-8 decoding.

/// Bit flags describing one Unicode scalar.
enum ScalarClass {
    static let letter: UInt8 = 1       // \p{L}: Lu Ll Lt Lm Lo
    static let number: UInt8 = 2       // \p{N}: Nd Nl No
    static let space: UInt8 = 4        // \s: White_Space
    static let lineBreak: UInt8 = 8    // \r or \n
    static let word: UInt8 = 16        // \w: Alphabetic, marks, Nd, Pc, Join_Control

    /// A scalar that is none of \s, \p{L}, \p{N}: matched by `[^\s\p{L}\p{N}]`.
    @inline(__always) static func isOther(_ c: UInt8) -> Bool { c & (letter | number | space) == 0 }

    /// White_Space (PropList.txt); stable since Unicode 6.3.
    static func isWhiteSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Computes the flags of scalar value `v` from the standard library's Unicode data.
    static func compute(_ v: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(v) else { return 0 }
        var flags: UInt8 = 0
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            flags |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            flags |= number
        default: break
        }
        if isWhiteSpace(v) { flags |= space }
        if v == 0x0A || v == 0x0D { flags |= lineBreak }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            flags |= word
        default:
            if properties.isAlphabetic || properties.isJoinControl { flags |= word }
        }
        return flags
    }

    /// Flags of every BMP scalar (surrogates are 0), built once.
    static let basicPlane: UnsafeMutablePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for v in 0..<UInt32(0x10000) { table[Int(v)] = compute(v) }
        return table
    }()

    /// Flags of scalar value `v`.
    @inline(__always) static func of(_ v: UInt32, table: UnsafePointer<UInt8>) -> UInt8 {
        v < 0x10000 ? table[Int(v)] : compute(v)
    }
}

/// Decoding of well-formed UTF-8 (the scanners only see bytes from Swift strings).
enum UTF8Scalars {
    /// The scalar starting at `p[i]` and its length in bytes.
    @inline(__always) static func decode(_ p: UnsafePointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F), 4)
    }

    /// The length in bytes of the scalar whose first byte is `lead`.
    @inline(__always) static func length(lead b: UInt8) -> Int {
        b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
    }

    /// The start of the scalar that ends just before `i` (the previous scalar boundary).
    @inline(__always) static func previousBoundary(_ p: UnsafePointer<UInt8>, _ i: Int) -> Int {
        var j = i - 1
        while p[j] & 0xC0 == 0x80 { j -= 1 }
        return j
    }
}
