// Flat, 64-byte aligned Float storage: parameters, gradients, moments and activations all live in these.

import Foundation

/// A fixed-size, 64-byte aligned, heap-allocated array of `Float`.
/// Owned by one object; kernels take its `pointer` (or a slice of it) and never allocate.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// Bytes mapped with mmap (large buffers), 0 for posix_memalign.
    private let mappedBytes: Int

    /// Buffers of at least this many bytes are anonymous mappings: the kernel hands out zeroed
    /// pages as they are first touched, so they need no memset — which wrote every page twice
    /// (the kernel's zeroing on the fault, then ours). A C probe of 2.9 GB (a SmolLM2-135M train
    /// stage's workspace) took 2–4.5 s with posix_memalign + memset and 1.1 s mapped.
    static let mapThreshold = 1 << 20

    /// Buffers of at least this many bytes start on a 2 MiB boundary, span whole 2 MiB pages and ask
    /// for transparent huge pages (MADV_HUGEPAGE: honoured where THP is `madvise` or `always`): one
    /// fault and one TLB entry per 2 MiB instead of per 4 kB.
    static let hugePageThreshold = 4 << 20
    static let hugePage = 2 << 20

    /// An anonymous zero-filled mapping of at least `bytes`: its start and mapped length.
    static func map(_ bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        guard bytes >= hugePageThreshold else {
            guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
                fatalError("out of memory allocating \(bytes) bytes")
            }
            return (raw, bytes)
        }
        let length = (bytes + hugePage - 1) / hugePage * hugePage
        guard let raw = mmap(nil, length + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        // trim to a 2 MiB-aligned start: the head and the tail beyond it are unmapped again
        let start = (Int(bitPattern: raw) + hugePage - 1) / hugePage * hugePage
        let head = start - Int(bitPattern: raw)
        if head > 0 { munmap(raw, head) }
        if hugePage - head > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + length)!, hugePage - head) }
        let aligned = UnsafeMutableRawPointer(bitPattern: start)!
        _ = madvise(aligned, length, 14 /* MADV_HUGEPAGE */)
        return (aligned, length)
    }

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= Self.mapThreshold {
            let (raw, mapped) = Self.map(bytes)
            mappedBytes = mapped
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))   // page-aligned, zero-filled
            return
        }
        var raw: UnsafeMutableRawPointer? = nil
        let status = posix_memalign(&raw, 64, bytes)
        guard status == 0, let raw else { fatalError("out of memory allocating \(bytes) bytes") }
        memset(raw, 0, bytes)
        mappedBytes = 0
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates and copies `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { if mappedBytes > 0 { munmap(pointer, mappedBytes) } else { free(pointer) } }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    /// Sets every element to zero.
    public func zero() { memset(pointer, 0, count * MemoryLayout<Float>.stride) }

    /// Copies the contents into a Swift array (tests, I/O).
    public func toArray() -> [Float] { Array(buffer) }

    /// Copies all of `other` (same count) into this buffer.
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        pointer.update(from: other.pointer, count: count)
    }
}
