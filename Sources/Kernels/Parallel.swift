// The thread budget and the parallel-for every kernel uses (matrix products included: OpenBLAS
// itself runs single-threaded and Matmul splits products into per-thread blocks), so at any
// moment at most `Parallel.threads` threads compute: no oversubscription.
//
// Work runs on a small pool of persistent workers that spin briefly between jobs and then sleep:
// a decode step issues ~50 parallel regions of a few microseconds each, where waking a sleeping
// thread for every region (as libdispatch does) would cost more than the work.

import Foundation
import Synchronization
import CBLAS

public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = defaultThreads()
    nonisolated(unsafe) private static var pool: WorkerPool? = nil

    /// Worker threads used by every parallel loop and split matrix product.
    public static var threads: Int { _threads }

    /// Upper bound of `threads` (sizes per-thread scratch space): the machine's cores, at least 2.
    public static var maxThreads: Int { max(2, ProcessInfo.processInfo.activeProcessorCount) }

    /// Sets the thread budget (≥ 1, ≤ maxThreads). Call from the main thread, outside parallel work.
    public static func setThreads(_ n: Int) {
        _threads = min(max(1, n), maxThreads)
        openblas_set_num_threads(1)
    }

    static func defaultThreads() -> Int {
        openblas_set_num_threads(1)   // we split products ourselves (see Matmul)
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Runs `body(part)` for part in 0..<parts (parts ≤ threads) on the pool, part 0 on the caller.
    /// Nested calls (from inside a part) run serially on their thread.
    static func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 || WorkerPool.busy.load(ordering: .relaxed) {
            for p in 0..<parts { body(p) }
            return
        }
        if pool == nil || pool!.workers < parts - 1 { pool = WorkerPool(workers: max(parts, _threads) - 1) }
        pool!.run(parts: parts, body)
    }

    /// Splits `0..<count` into `threads` contiguous chunks (fewer if `count` is small relative to
    /// `minPerChunk`) and runs `body(range)` on each, in parallel; returns when all are done.
    @inline(__always)
    public static func forEachChunk(_ count: Int, minPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let chunks = min(threads, max(1, count / max(1, minPerChunk)))
        if chunks <= 1 { body(0..<count); return }
        run(parts: chunks) { c in
            let lo = count * c / chunks
            let hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Splits `0..<count` into at most `parts` contiguous blocks whose bounds are multiples of `align`
    /// (the last ends at `count`) and runs `body(block)` on each, in parallel. The blocks depend only
    /// on (count, align, parts), never on which thread runs them (matrix products split by it keep
    /// their tile alignment).
    public static func forEachAlignedBlock(_ count: Int, align: Int, parts: Int, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let blocks = (count + align - 1) / align
        let parts = min(parts, blocks)
        if parts <= 1 { body(0..<count); return }
        run(parts: parts) { p in
            let lo = min(count, blocks * p / parts * align), hi = min(count, blocks * (p + 1) / parts * align)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every i in `0..<count`, items dealt round-robin to the threads
    /// (for unequal work such as attention over sequences of different lengths).
    /// `body(item, worker)` gets the worker index (0..<threads) for per-thread scratch space.
    public static func forEach(_ count: Int, _ body: (_ item: Int, _ worker: Int) -> Void) {
        if count <= 0 { return }
        let workers = min(threads, count)
        if workers <= 1 { for i in 0..<count { body(i, 0) }; return }
        run(parts: workers) { w in
            var i = w
            while i < count { body(i, w); i += workers }
        }
    }
}

/// Persistent worker threads. The caller publishes a job by bumping `generation`; workers spin on
/// it for up to `spinSeconds`, then sleep on a condition variable until the next job.
final class WorkerPool: @unchecked Sendable {
    static let busy = Atomic<Bool>(false)
    static let spinSeconds = 0.0002

    let workers: Int
    let generation = Atomic<Int>(0)
    let remaining = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let condition = NSCondition()
    nonisolated(unsafe) var job: ((Int) -> Void)? = nil
    nonisolated(unsafe) var parts = 0

    init(workers: Int) {
        self.workers = workers
        for w in 1...max(1, workers) where workers > 0 {
            let t = Thread { [unowned self] in self.workerLoop(index: w) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    func run(parts: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            job = body
            self.parts = parts
            remaining.store(workers, ordering: .sequentiallyConsistent)
            Self.busy.store(true, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock(); condition.broadcast(); condition.unlock()
            }
            body(0)
            while remaining.load(ordering: .acquiring) > 0 { spinHint() }
            Self.busy.store(false, ordering: .relaxed)
            job = nil
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var g = generation.load(ordering: .acquiring)
            if g == seen {
                let start = DispatchTime.now().uptimeNanoseconds
                var spins = 0
                while g == seen {
                    spinHint()
                    spins += 1
                    if spins & 255 == 0,
                       Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 > Self.spinSeconds {
                        condition.lock()
                        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        condition.unlock()
                    }
                    g = generation.load(ordering: .acquiring)
                }
            }
            seen = g
            if index < parts, let job { job(index) }
            remaining.wrappingSubtract(1, ordering: .releasing)
        }
    }

    @inline(__always) private func spinHint() {
        // A few dependent no-op cycles between polls (Swift has no portable `pause`).
        var x = 0
        for i in 0..<8 { x &+= i }
        _ = Unmanaged.passUnretained(self)
        if x < 0 { sched_yield() }
    }
}
