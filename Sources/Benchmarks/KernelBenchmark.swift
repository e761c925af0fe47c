// The machine's real limits, measured on the spot: the FMA peak of the cores in use (a register-only
// fused multiply-add loop at the widest SIMD width, CSIMD) and the streaming read bandwidth — the two
// ceilings that benchmark figures are reported against (FLOP-bound work vs. batch-1 decode).

import Foundation
import CSIMD
import Kernels

/// Measures the machine's FLOP and memory-bandwidth ceilings with the current thread count.
public enum KernelBenchmark {
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
