// Matrix products through OpenBLAS sgemm/sgemv, and the Linear op (y = x Wᵀ) with its backward.
//
// Threading: OpenBLAS runs single-threaded and we split each large product into `Parallel.threads`
// blocks of C ourselves. So exactly `Parallel.threads` threads compute at any moment: OpenBLAS's
// own workers never spin (sched_yield) while our parallel loops run, and a product may also be
// called serially from inside a parallel loop (`gemmSerial`).
//
// Batch invariance (training and scoring): sgemm computes C in register tiles, and the bits of an
// output row depend on the kernel that computes its tile (full or edge) and on its position in the
// tile (measured: rows 6–11 of a 12-row tile differ from rows 0–5), and on how the columns were
// split. The trainers therefore start every gradient segment (a pair, an example) at a multiple of
// `Matmul.rowTile` (found by probing OpenBLAS at startup; `TokenBatch.sequencesPerSegment`) and the
// training path splits products independently of the row count (`batchInvariantGemm`), so a
// sequence's results never depend on which other sequences share the batch. Weight gradients sum
// over rows, so they are formed one segment (a sequence or a pair) at a time in a fixed order
// (`Linear.weightGradient`). Together these make gradient accumulation exact: one micro-batch of 8
// pairs and 8 of 1 give the same bits.

import CBLAS
import CSIMD

public enum Matmul {
    /// Products below this many multiply-adds run on one thread.
    static let splitThreshold = 1 << 18

    /// Rows sgemm computes as one full tile here (12 for OpenBLAS's Haswell, Zen and Prescott kernels,
    /// 16 for SkylakeX and Cooperlake; `Scripts/batch_invariance_probe.c`): a row's result is the same
    /// whatever the row count, as long as the count is a multiple of this and the row keeps its place
    /// within the tile. 1 when the probe finds no such tile (results then agree to rounding only).
    public static let rowTile: Int = RowTileProbe.find()

    /// `rows` rounded up to a multiple of `rowTile`: the rows a batch-invariant product computes.
    @inline(__always)
    public static func paddedRows(_ rows: Int) -> Int { (rows + rowTile - 1) / rowTile * rowTile }

    /// Blocks a product is split into start at multiples of this (of `rowTile` so row blocks stay in
    /// full tiles, of 16 so column blocks do).
    static let splitAlign: Int = {
        var a = 16
        while a % rowTile != 0 { a += 16 }
        return a
    }()

    /// Row-major `C(m, n) = alpha · op(A) · op(B) + beta · C`, where op(A) is (m, k) and op(B) is (k, n).
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored. Split across `Parallel.threads`.
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let threads = Parallel.threads
        if threads == 1 || m * n * k < splitThreshold || (m < 32 && n < 32) {
            gemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        gemmBlocks(byRows: m >= n, parts: threads, align: 32, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// The product as `parts` blocks of C's rows (`byRows`) or columns starting at multiples of
    /// `align` (`Parallel.forEachAlignedBlock`), each computed by `gemmSerial` on its thread.
    static func gemmBlocks(byRows: Bool, parts: Int, align: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                           alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        Parallel.forEachAlignedBlock(byRows ? m : n, align: align, parts: parts) { block in
            let lo = block.lowerBound
            if byRows {
                // rows lo..<hi of C come from rows lo..<hi of op(A)
                let aPart = transA ? a + lo : a + lo * lda
                gemmSerial(transA: transA, transB: transB, m: block.count, n: n, k: k, alpha: alpha, a: aPart, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                // columns lo..<hi of C come from columns lo..<hi of op(B)
                let bPart = transB ? b + lo * ldb : b + lo
                gemmSerial(transA: transA, transB: transB, m: m, n: block.count, k: k, alpha: alpha, a: a, lda: lda,
                           b: bPart, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }

    /// `C(m, n) = op(A) · op(B) + beta · C` (A not transposed) for batch-invariant products: `m` a
    /// multiple of `rowTile` and every row block starting at one, so a row of C gets the same bits
    /// whatever m is, as long as it sits at the same position within its tile. How the product is
    /// split never depends on m: wide outputs (n ≥ `columnSplitWidth`, the lm_head) split their
    /// columns at boundaries fixed by n and the thread count, the rest split rows.
    public static func batchInvariantGemm(transB: Bool, m: Int, n: Int, k: Int,
                                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                          beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        precondition(m % rowTile == 0, "batch-invariant products need rows padded to the row tile")
        // Wide outputs by columns at boundaries fixed by n; the rest by tile-aligned row blocks.
        let byRows = n < columnSplitWidth
        let parts = byRows && m * n * k < splitThreshold ? 1 : Parallel.threads
        Parallel.forEachAlignedBlock(byRows ? m : n, align: byRows ? splitAlign : 64, parts: parts) { block in
            let lo = block.lowerBound
            if byRows {
                // rows lo..<hi of C come from rows lo..<hi of A
                invariantBlock(transB: transB, m: block.count, n: n, k: k, a: a + lo * lda, lda: lda, b: b, ldb: ldb,
                               beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                // columns lo..<hi of C come from columns lo..<hi of op(B)
                invariantBlock(transB: transB, m: m, n: block.count, k: k, a: a, lda: lda, b: transB ? b + lo * ldb : b + lo,
                               ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }

    /// OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake) send products with m·n·k ≤ 100³ to a separate
    /// "small matrix" kernel whose bits differ from the regular one (`sgemm_small_kernel_permit`), so
    /// a row's result would depend on how many rows share its block. Blocks that could fall under
    /// that bound for some row count (n·k·rowTile ≤ 100³: only tiny models) are therefore computed
    /// one row tile at a time — every call the same shape (rowTile, n, k), so the same kernel, whatever
    /// m is; all others by one sgemm with m ≥ rowTile, which keeps them above the bound.
    static let smallKernelBound = 1_000_000

    @inline(__always)
    static func invariantBlock(transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                               b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if n * k * rowTile <= smallKernelBound {
            for row in stride(from: 0, to: m, by: rowTile) {
                gemmSerial(transA: false, transB: transB, m: min(rowTile, m - row), n: n, k: k, a: a + row * lda, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + row * ldc, ldc: ldc)
            }
        } else {
            gemmSerial(transA: false, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// Outputs at least this wide split by columns in `batchInvariantGemm`.
    static let columnSplitWidth = 2048

    /// The same product on the calling thread only.
    @inline(__always)
    public static func gemmSerial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int,
                                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

}

/// y (M, O) = beta · y + x (M, I) · Wᵀ for few rows (M ≤ `maxRows`: decode, short prefills): rows
/// of W are split across threads, and each thread multiplies its rows of W with all M rows of x in
/// register tiles (`csimd_xwt`: 4 × 6 on AVX-512), so W is read from memory once per call and
/// without sgemm's packing. Every output is one dot product in the order of `csimd_dot4` whatever M,
/// the tiling or the thread split, so a row's result never depends on which other rows share the
/// batch or where it sits in it (generation relies on this).
public enum SmallMatmul {
    public static let maxRows = 128

    public static func xWt(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           rows M: Int, inFeatures I: Int, outFeatures O: Int, beta: Float) {
        // Chunks of whole 4-row tiles of W; enough of them per thread to balance.
        let tiles = (O + 3) / 4
        Parallel.forEachChunk(tiles, minPerChunk: max(1, 32 / max(1, M))) { range in
            csimd_xwt(y, O, x, M, weight, I, range.lowerBound * 4, min(O, range.upperBound * 4), beta)
        }
    }
}

/// Finds `Matmul.rowTile`: the smallest candidate t such that, for row counts that are multiples
/// of t (and blocks starting at multiples of t), every row of `x · Wᵀ` and `x · W` has the same bits
/// as in one large product. Random data, shapes big enough to take sgemm's ordinary path; ~10 ms.
enum RowTileProbe {
    static func find() -> Int {
        openblas_set_num_threads(1)
        let k = 96, n = 80, total = 480    // total rows: a multiple of every candidate
        var state: UInt64 = 0x9E3779B97F4A7C15
        func random() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int32(truncatingIfNeeded: state >> 33)) / Float(Int32.max) - 0.5
        }
        let x = (0..<(total * k)).map { _ in random() }
        let w = (0..<(n * k)).map { _ in random() }
        var reference = [Float](repeating: 0, count: total * n), part = reference
        func product(_ transB: Bool, rows: Int, firstRow: Int, into c: UnsafeMutablePointer<Float>) {
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(rows), Int32(n), Int32(k), 1,
                                xp.baseAddress! + firstRow * k, Int32(k), wp.baseAddress!, Int32(transB ? k : n), 0, c, Int32(n))
                }
            }
        }
        candidates: for tile in [12, 16, 24, 32, 48, 96, 160, 240, 480] {
            for transB in [true, false] {
                product(transB, rows: total, firstRow: 0, into: &reference)
                for multiple in [1, 2, 3, 5] where tile * (multiple + 1) <= total {
                    for first in [0, tile] {
                        let rows = tile * multiple
                        product(transB, rows: rows, firstRow: first, into: &part)
                        for i in 0..<(rows * n) where part[i].bitPattern != reference[first * n + i].bitPattern {
                            continue candidates
                        }
                    }
                }
            }
            return tile
        }
        return 1
    }
}

/// A bias-free linear layer with the Hugging Face weight layout W (out, in).
public enum Linear {
    /// y (N, out) = x (N, in) · Wᵀ            — `beta` 0 overwrites y, 1 accumulates.
    @inline(__always)
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               rows: Int, inFeatures: Int, outFeatures: Int, beta: Float = 0) {
        if rows <= SmallMatmul.maxRows {
            SmallMatmul.xWt(y: y, x: x, weight: weight, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, beta: beta)
            return
        }
        // (split by W's chunks, as a 16-bit copy of W would be: the same sgemm calls, the same bits)
        Matmul.gemmWidened(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, weight: WeightMatrix(weight),
                           beta: beta, c: y, ldc: outFeatures)
    }

    /// `y = x · Wᵀ` with every row's bits independent of the other rows (training, scoring), given
    /// rows padded to `Matmul.rowTile` and each sequence at a fixed position within the tiles
    /// (`TokenBatch.packedRows`): always sgemm, split independently of the row count.
    @inline(__always)
    public static func batchInvariantForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                             rows: Int, inFeatures: Int, outFeatures: Int, beta: Float = 0) {
        Matmul.batchInvariantGemmWidened(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, weight: WeightMatrix(weight),
                                         beta: beta, c: y, ldc: outFeatures)
    }

    /// Backward of `batchInvariantForward`:
    ///   dx (N, in)  += dy (N, out) · W (out, in)        (row-invariant like the forward)
    ///   dW (out, in) += Σ_s dy[s]ᵀ · x[s]              (see `weightGradient`)
    @inline(__always)
    public static func batchInvariantBackward(dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                              dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                              rows: Int, segments: [Range<Int>], inFeatures: Int, outFeatures: Int) {
        if let dx {
            Matmul.batchInvariantGemm(transB: false, m: rows, n: inFeatures, k: outFeatures,
                                      a: dy, lda: outFeatures, b: weight, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
        }
        weightGradient(dWeight: dWeight, dy: dy, x: x, segments: segments, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    /// dW (out, in) += dy[s]ᵀ (out, |s|) · x[s] (|s|, in) for each row segment s in order, one product
    /// each: a segment's contribution, and the order contributions are added, never depend on which
    /// other segments share the batch (gradient accumulation over micro-batches is then exact).
    /// Threads own blocks of W's rows; `beforeSegment(s, block)` runs on the owning thread before
    /// segment s is added to rows `block` (the tied embedding's scatter-add goes there).
    public static func weightGradient(dWeight: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                      segments: [Range<Int>], inFeatures I: Int, outFeatures O: Int,
                                      beforeSegment: ((_ segment: Int, _ outRows: Range<Int>) -> Void)? = nil) {
        let rows = segments.reduce(0) { $0 + $1.count }
        let parts = O * I * rows < Matmul.splitThreshold ? 1 : Parallel.threads
        segments.withUnsafeBufferPointer { segments in
            Parallel.forEachAlignedBlock(O, align: Matmul.splitAlign, parts: parts) { outRows in
                for (s, seg) in segments.enumerated() {
                    beforeSegment?(s, outRows)
                    if seg.isEmpty { continue }
                    Matmul.gemmSerial(transA: true, transB: false, m: outRows.count, n: I, k: seg.count,
                                      a: dy + seg.lowerBound * O + outRows.lowerBound, lda: O, b: x + seg.lowerBound * I, ldb: I,
                                      beta: 1, c: dWeight + outRows.lowerBound * I, ldc: I)
                }
            }
        }
    }
}
