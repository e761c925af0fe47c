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

    /// Uses the CPU's SHA extensions when it has them (true by default; tests turn them off to check
    /// the portable code).
    nonisolated(unsafe) public static var useCPUExtensions = true {
        didSet { csimd_sha256_disable(useCPUExtensions ? 0 : 1) }
    }

    /// Compresses `blocks` whole 64-byte blocks starting at `p` (CSIMD: SHA extensions or portable C).
    private mutating func compress(_ p: UnsafePointer<UInt8>, blocks: Int) {
        var words = state   // eight UInt32s, contiguous
        withUnsafeMutableBytes(of: &words) { raw in
            _ = csimd_sha256_blocks(raw.baseAddress!.assumingMemoryBound(to: UInt32.self), p, blocks)
        }
        state = words
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
