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

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= Self.mapThreshold {
            guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
                fatalError("out of memory allocating \(bytes) bytes")
            }
            mappedBytes = bytes
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
