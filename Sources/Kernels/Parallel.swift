// The thread budget and the parallel-for every kernel uses (matrix products included: OpenBLAS
// itself runs single-threaded and Matmul splits products into per-thread blocks), so at any
// moment at most `Parallel.threads` threads compute (no oversubscription, no spinning workers).

import Dispatch
import CBLAS

public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = defaultThreads()

    /// Worker threads used by every parallel loop and split matrix product.
    public static var threads: Int { _threads }

    /// Upper bound of `threads` (sizes per-thread scratch space): the machine's cores, at least 2.
    public static var maxThreads: Int { max(2, ProcessInfoCores.active) }

    /// Sets the thread budget (≥ 1, ≤ maxThreads).
    public static func setThreads(_ n: Int) {
        _threads = min(max(1, n), maxThreads)
        openblas_set_num_threads(1)
    }

    static func defaultThreads() -> Int {
        openblas_set_num_threads(1)   // we split products ourselves (see Matmul)
        return max(1, ProcessInfoCores.active)
    }

    /// Splits `0..<count` into `threads` contiguous chunks (fewer if `count` is small relative to
    /// `minPerChunk`) and runs `body(range)` on each, in parallel; returns when all are done.
    @inline(__always)
    public static func forEachChunk(_ count: Int, minPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let chunks = min(threads, max(1, count / max(1, minPerChunk)))
        if chunks <= 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks
                let hi = count * (c + 1) / chunks
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// Runs `body(i)` for every i in `0..<count`, items dealt round-robin to the threads
    /// (for unequal work such as attention over sequences of different lengths).
    /// `body(item, worker)` gets the worker index (0..<threads) for per-thread scratch space.
    public static func forEach(_ count: Int, _ body: (_ item: Int, _ worker: Int) -> Void) {
        if count <= 0 { return }
        let workers = min(threads, count)
        if workers <= 1 { for i in 0..<count { body(i, 0) }; return }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < count { body(i, w); i += workers }
            }
        }
    }
}

import Foundation

enum ProcessInfoCores {
    static var active: Int { ProcessInfo.processInfo.activeProcessorCount }
}
