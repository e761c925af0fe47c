// SHA-256 (FIPS 180-4) over bytes and files, streamed in chunks: content identities for caches and
// resume checks (a cache is reused only when the SHA-256 of everything it was made from matches).

import Foundation
import CSIMD

/// Incremental SHA-256.
///
///     var h = SHA256(); h.update(bytes); h.update(file: url); let hex = h.finalize().hex
public struct SHA256 {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var pending = [UInt8]()      // < 64 bytes not yet compressed
    private var length: UInt64 = 0       // bytes seen

    public init() { pending.reserveCapacity(64) }

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 &- n)) }

    /// Uses the CPU's SHA extensions when it has them (true by default; tests turn them off to check
    /// the portable code).
    nonisolated(unsafe) public static var useCPUExtensions = true {
        didSet { csimd_sha256_disable(useCPUExtensions ? 0 : 1) }
    }

    /// Compresses `blocks` whole 64-byte blocks starting at `p` (SHA extensions, else portable code).
    private mutating func compress(_ p: UnsafePointer<UInt8>, blocks: Int) {
        var words = state   // eight UInt32s, contiguous
        let done = withUnsafeMutableBytes(of: &words) { raw in
            csimd_sha256_blocks(raw.baseAddress!.assumingMemoryBound(to: UInt32.self), p, blocks)
        }
        if done != 0 { state = words; return }
        compressPortable(p, blocks: blocks)
    }

    /// FIPS 180-4 §6.2.2, one block after another.
    private mutating func compressPortable(_ p: UnsafePointer<UInt8>, blocks: Int) {
        var (h0, h1, h2, h3, h4, h5, h6, h7) = state
        Self.k.withUnsafeBufferPointer { kp in
            let w = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
            defer { w.deallocate() }
            for b in 0..<blocks {
                let block = p + 64 * b
                for i in 0..<16 {
                    let q = block + 4 * i
                    w[i] = UInt32(q[0]) << 24 | UInt32(q[1]) << 16 | UInt32(q[2]) << 8 | UInt32(q[3])
                }
                for i in 16..<64 {
                    let x = w[i - 15], y = w[i - 2]
                    let s0 = Self.rotr(x, 7) ^ Self.rotr(x, 18) ^ (x >> 3)
                    let s1 = Self.rotr(y, 17) ^ Self.rotr(y, 19) ^ (y >> 10)
                    w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                }
                var a = h0, bb = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                for i in 0..<64 {
                    let S1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = h &+ S1 &+ ch &+ kp[i] &+ w[i]
                    let S0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                    let maj = (a & bb) ^ (a & c) ^ (bb & c)
                    let t2 = S0 &+ maj
                    h = g; g = f; f = e; e = d &+ t1; d = c; c = bb; bb = a; a = t1 &+ t2
                }
                h0 = h0 &+ a; h1 = h1 &+ bb; h2 = h2 &+ c; h3 = h3 &+ d
                h4 = h4 &+ e; h5 = h5 &+ f; h6 = h6 &+ g; h7 = h7 &+ h
            }
        }
        state = (h0, h1, h2, h3, h4, h5, h6, h7)
    }

    /// Adds `count` bytes at `p`.
    public mutating func update(_ p: UnsafeRawPointer, count: Int) {
        var p = p.assumingMemoryBound(to: UInt8.self), n = count
        length &+= UInt64(count)
        if !pending.isEmpty {
            let take = min(64 - pending.count, n)
            pending.append(contentsOf: UnsafeBufferPointer(start: p, count: take))
            p += take; n -= take
            if pending.count == 64 {
                let full = pending
                full.withUnsafeBufferPointer { compress($0.baseAddress!, blocks: 1) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let blocks = n / 64
        if blocks > 0 { compress(p, blocks: blocks); p += 64 * blocks; n -= 64 * blocks }
        if n > 0 { pending.append(contentsOf: UnsafeBufferPointer(start: p, count: n)) }
    }

    public mutating func update<D: DataProtocol>(_ data: D) {
        for region in data.regions { region.withUnsafeBytes { if let b = $0.baseAddress { update(b, count: $0.count) } } }
    }

    public mutating func update(_ string: String) { update(Data(string.utf8)) }

    /// Adds the bytes of the file at `url`, read in 4 MiB chunks (never the whole file at once).
    public mutating func update(file url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw SHA256.FileError(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw SHA256.FileError(path: url.path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            update(buffer, count: n)
        }
    }

    /// The 32-byte digest (the hasher should not be used afterwards).
    public mutating func finalize() -> Digest {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        let padding = (56 &- (Int(length % 64) + 1) + 64) % 64
        tail += [UInt8](repeating: 0, count: padding)
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        let savedLength = length
        update(tail, count: tail.count)
        length = savedLength
        let (h0, h1, h2, h3, h4, h5, h6, h7) = state
        var out = [UInt8]()
        for v in [h0, h1, h2, h3, h4, h5, h6, h7] { for s in [24, 16, 8, 0] as [UInt32] { out.append(UInt8(truncatingIfNeeded: v >> s)) } }
        return Digest(bytes: out)
    }

    public struct Digest: Equatable, Sendable, CustomStringConvertible {
        public let bytes: [UInt8]
        public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }
        public var description: String { hex }
    }

    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot read \(path) to hash it: \(reason)" }
    }

    /// SHA-256 of `data`, as lowercase hex.
    public static func hex<D: DataProtocol>(_ data: D) -> String { var h = SHA256(); h.update(data); return h.finalize().hex }

    /// SHA-256 of a file's bytes, streamed, as lowercase hex.
    public static func hex(file url: URL) throws -> String { var h = SHA256(); try h.update(file: url); return h.finalize().hex }
}
