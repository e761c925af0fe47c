// The machine's real limits, measured on the spot: the FMA peak of the cores in use (a register-only
// fused multiply-add loop at the widest SIMD width, CSIMD) and the streaming read bandwidth — the two
// ceilings that benchmark figures are reported against (FLOP-bound work vs. batch-1 decode).

import Foundation
import CSIMD

public enum MachineLimits {
    /// The SIMD path chosen at run time ("avx512", "avx2", "sse2", "neon").
    public static var simdPath: String { String(cString: csimd_widest()) }

    /// Every path this CPU can run, widest first (tests force each in turn).
    public static var availableSIMDPaths: [String] {
        #if arch(x86_64)
        var paths = ["sse2"]
        if CPUInfo.current.hasAVX2FMA { paths.insert("avx2", at: 0) }
        if CPUInfo.current.flags.contains("avx512f") { paths.insert("avx512", at: 0) }
        return paths
        #else
        return [String(cString: csimd_widest())]
        #endif
    }

    /// Forces a narrower SIMD path (nil: the widest again). For tests and measurements only; the
    /// choice applies to the whole process.
    public static func forceSIMDPath(_ path: String?) {
        if let path { path.withCString { csimd_force($0) } } else { csimd_force(nil) }
    }

    /// GFLOP/s of all `Parallel.threads` threads running the FMA loop at once.
    public static func fmaPeakGFLOPS(milliseconds: Int = 300) -> Double {
        let threads = Parallel.threads
        let perThread = UnsafeMutablePointer<Double>.allocate(capacity: threads)
        defer { perThread.deallocate() }
        Parallel.forEach(threads) { i, _ in perThread[i] = csimd_fma_flops(Int32(milliseconds)) }
        return (0..<threads).reduce(0) { $0 + perThread[$1] } / 1e9
    }

    /// GB/s of reading a buffer far larger than the caches (sum of all floats), all threads together;
    /// the best of a few passes.
    public static func streamingBandwidthGBps(bytes: Int = 512 << 20) -> Double {
        let count = bytes / 4
        let buffer = FloatBuffer(count: count)
        Parallel.forEachChunk(count, minPerChunk: 1 << 16) { r in for i in r { buffer.pointer[i] = Float(i & 7) } }
        var best = 0.0
        for _ in 0..<4 {
            let start = DispatchTime.now().uptimeNanoseconds
            var partial = [Float](repeating: 0, count: Parallel.threads)
            partial.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(Parallel.threads) { t, _ in
                    let per = (count + Parallel.threads - 1) / Parallel.threads
                    let lo = t * per, hi = min(count, lo + per)
                    out[t] = hi > lo ? VectorMath.sum(buffer.pointer + lo, hi - lo) : 0
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if partial.reduce(0, +).isNaN { return 0 }
            best = max(best, Double(count * 4) / seconds / 1e9)
        }
        return best
    }
}
