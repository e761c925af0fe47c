// Weight matrices as stored: float32, or 16-bit (bfloat16, float16) read in place — for frozen
// models, straight from the memory-mapped checkpoint — and widened to float32 as the kernels read
// them. Both widenings are exact, and the products below are arranged so that every output has the
// bits of the same product over float32 copies of the weights (tested on every path):
//   - few rows (decode, ≤ `SmallMatmul.maxRows`): `csimd_xwt16`, csimd_xwt's tiles and order with a
//     widening load;
//   - many rows (prefill, scoring): W's rows (output features) are widened in chunks into one scratch
//     buffer and multiplied by sgemm. A column of C does not keep its bits when the columns around
//     it change: OpenBLAS's Haswell/Zen kernels compute the last couple of hundred columns of a call
//     differently (measured on a Zen 3 host: splitting a 150 × 4000 × 64 product at any column
//     changed ~10 % of the outputs; the AVX-512 kernels did not). So the float32 product is split the
//     same way — the same weight chunks, chosen from W's shape alone, and the same thread blocks
//     within each — and both issue identical sgemm calls on any kernel. Chunks hold at least
//     `WidenedProduct.minimumChunkElements` weights, so each call stays above the small-matrix
//     bound (m·n·k > 100³, Matmul.invariantBlock) whenever the whole product would.

import Foundation
import CSIMD

/// A weight matrix (out, in), row-major, as the kernels read it.
public struct WeightMatrix: @unchecked Sendable {
    public enum Element: String, Sendable {
        case float32 = "F32", bfloat16 = "BF16", float16 = "F16"
        public var bytes: Int { self == .float32 ? 4 : 2 }
        var csimdKind: Int32 { self == .bfloat16 ? Int32(CSIMD_BF16) : Int32(CSIMD_F16) }
    }
    public let base: UnsafeRawPointer
    public let element: Element

    public init(_ pointer: UnsafePointer<Float>) { base = UnsafeRawPointer(pointer); element = .float32 }
    public init(_ pointer: UnsafeMutablePointer<Float>) { self.init(UnsafePointer(pointer)) }
    /// 16-bit (or float32) elements at `base`.
    public init(base: UnsafeRawPointer, element: Element) { self.base = base; self.element = element }

    /// The float32 elements, when stored as float32.
    @inline(__always) public var float32: UnsafePointer<Float>? {
        element == .float32 ? base.assumingMemoryBound(to: Float.self) : nil
    }
    @inline(__always) var halves: UnsafePointer<UInt16> { base.assumingMemoryBound(to: UInt16.self) }

    /// Float → bfloat16 bits, rounding to nearest even (NaN stays NaN, quiet).
    @inline(__always)
    public static func bfloat16Bits(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x0040 }
        return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// dst[i] = element `first + i` as float32, for i < count (exact).
    public func widen(into dst: UnsafeMutablePointer<Float>, first: Int, count: Int) {
        if let f = float32 { dst.update(from: f + first, count: count); return }
        csimd_widen16(dst, halves + first, count, element.csimdKind)
    }
}

/// Products over weights in any storage through float32 sgemm, a chunk of W's rows at a time (see
/// the header): 16-bit chunks widened into a scratch, float32 chunks read in place.
enum WidenedProduct {
    /// Weights widened per chunk (16 MB of float32); a matrix this small is widened whole.
    static let chunkElements = 1 << 22
    /// Every chunk of a split matrix holds at least this many weights (balanced split), so
    /// rows · chunk · in > 100³ for any row count: sgemm never takes its small-matrix kernel for a
    /// chunk when it would not for the whole matrix.
    static let minimumChunkElements = 1 << 20

    nonisolated(unsafe) private static var scratch = FloatBuffer(count: 0)
    private static let lock = NSLock()

    /// Output-feature ranges W (O, I) is widened in: one when it fits `chunkElements`, else equal
    /// widths that are multiples of 64 (so thread splits inside a chunk stay on the float32 path's
    /// alignments).
    static func chunks(outFeatures O: Int, inFeatures I: Int) -> [Range<Int>] {
        if O * I <= chunkElements { return [0..<O] }
        let parts = (O * I + chunkElements - 1) / chunkElements
        let width = ((O + parts - 1) / parts + 63) / 64 * 64
        return stride(from: 0, to: O, by: width).map { $0..<min(O, $0 + width) }
    }

    /// Runs `body(rows of W in float32, their output range)` for each chunk: float32 rows in place,
    /// 16-bit ones widened into the shared scratch (threads widen disjoint rows; products are
    /// serialised on the scratch).
    static func forEachChunk(_ w: WeightMatrix, outFeatures O: Int, inFeatures I: Int,
                             _ body: (UnsafePointer<Float>, Range<Int>) -> Void) {
        let ranges = chunks(outFeatures: O, inFeatures: I)
        if let f = w.float32 {
            for r in ranges { body(f + r.lowerBound * I, r) }
            return
        }
        lock.lock(); defer { lock.unlock() }
        let need = ranges.map(\.count).max()! * I
        if scratch.count < need { scratch = FloatBuffer(count: need) }
        let s = scratch.pointer
        for r in ranges {
            Parallel.forEachChunk(r.count, minPerChunk: max(1, 65_536 / max(1, I))) { rows in
                w.widen(into: s + rows.lowerBound * I, first: (r.lowerBound + rows.lowerBound) * I, count: rows.count * I)
            }
            body(UnsafePointer(s), r)
        }
    }
}

extension Matmul {
    /// `C(m, n) = A (m, k) · Wᵀ + beta · C` for W (n, k) in any storage, the same sgemm calls for
    /// float32 and 16-bit W (so the same bits): W's chunks (`WidenedProduct.chunks`, from its shape),
    /// and within each the serial/rows/columns decision of `gemm` made on the whole product.
    public static func gemmWidened(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, weight: WeightMatrix,
                                   beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let threads = Parallel.threads
        let serial = threads == 1 || m * n * k < splitThreshold || (m < 32 && n < 32)
        WidenedProduct.forEachChunk(weight, outFeatures: n, inFeatures: k) { w, cols in
            let cc = c + cols.lowerBound
            if serial {
                gemmSerial(transA: false, transB: true, m: m, n: cols.count, k: k, a: a, lda: lda, b: w, ldb: k,
                           beta: beta, c: cc, ldc: ldc)
            } else if m >= n {
                // the float32 product's row blocks, each over this chunk's columns
                Parallel.forEachAlignedBlock(m, align: 32, parts: threads) { rows in
                    gemmSerial(transA: false, transB: true, m: rows.count, n: cols.count, k: k, a: a + rows.lowerBound * lda,
                               lda: lda, b: w, ldb: k, beta: beta, c: cc + rows.lowerBound * ldc, ldc: ldc)
                }
            } else {
                gemmBlocks(byRows: false, parts: threads, align: 32, transA: false, transB: true, m: m, n: cols.count, k: k,
                           alpha: 1, a: a, lda: lda, b: w, ldb: k, beta: beta, c: cc, ldc: ldc)
            }
        }
    }

    /// `batchInvariantGemm(transB: true, …)` for W (n, k) in any storage, the same calls for float32
    /// and 16-bit W: the rows/columns decision and the row blocks of the whole product, per chunk of
    /// W's rows. The split depends on n, k and the thread count only, never on m.
    public static func batchInvariantGemmWidened(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                                 weight: WeightMatrix, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        precondition(m % rowTile == 0, "batch-invariant products need rows padded to the row tile")
        let byRows = n < columnSplitWidth
        let parts = byRows && m * n * k < splitThreshold ? 1 : Parallel.threads
        WidenedProduct.forEachChunk(weight, outFeatures: n, inFeatures: k) { w, cols in
            let cc = c + cols.lowerBound
            if byRows {
                Parallel.forEachAlignedBlock(m, align: splitAlign, parts: parts) { rows in
                    invariantBlock(transB: true, m: rows.count, n: cols.count, k: k, a: a + rows.lowerBound * lda, lda: lda,
                                   b: w, ldb: k, beta: beta, c: cc + rows.lowerBound * ldc, ldc: ldc)
                }
            } else {
                Parallel.forEachAlignedBlock(cols.count, align: 64, parts: parts) { block in
                    invariantBlock(transB: true, m: m, n: block.count, k: k, a: a, lda: lda, b: w + block.lowerBound * k,
                                   ldb: k, beta: beta, c: cc + block.lowerBound, ldc: ldc)
                }
            }
        }
    }
}

extension SmallMatmul {
    /// `xWt` over 16-bit weights: csimd_xwt's tiles and per-output order, weights widened as loaded.
    public static func xWt(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: WeightMatrix,
                           rows M: Int, inFeatures I: Int, outFeatures O: Int, beta: Float) {
        if let f = weight.float32 { xWt(y: y, x: x, weight: f, rows: M, inFeatures: I, outFeatures: O, beta: beta); return }
        let tiles = (O + 3) / 4, w = weight.halves, kind = weight.element.csimdKind
        Parallel.forEachChunk(tiles, minPerChunk: max(1, 32 / max(1, M))) { range in
            csimd_xwt16(y, O, x, M, w, I, range.lowerBound * 4, min(O, range.upperBound * 4), beta, kind)
        }
    }
}

extension Linear {
    /// `forward` over a weight matrix in any storage (16-bit: bits of the float32 product).
    @inline(__always)
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: WeightMatrix,
                               rows: Int, inFeatures: Int, outFeatures: Int, beta: Float = 0) {
        if let f = weight.float32 {
            forward(y: y, x: x, weight: f, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, beta: beta)
        } else if rows <= SmallMatmul.maxRows {
            SmallMatmul.xWt(y: y, x: x, weight: weight, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, beta: beta)
        } else {
            Matmul.gemmWidened(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, weight: weight,
                               beta: beta, c: y, ldc: outFeatures)
        }
    }

    /// `batchInvariantForward` over a weight matrix in any storage (16-bit: bits of the float32 product).
    @inline(__always)
    public static func batchInvariantForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: WeightMatrix,
                                             rows: Int, inFeatures: Int, outFeatures: Int, beta: Float = 0) {
        if let f = weight.float32 {
            batchInvariantForward(y: y, x: x, weight: f, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, beta: beta)
        } else {
            Matmul.batchInvariantGemmWidened(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, weight: weight,
                                             beta: beta, c: y, ldc: outFeatures)
        }
    }
}

extension Embedding {
    /// out[n, :] = table[tokens[n], :] widened to float32     out (N, D), table (V, D) in any storage
    public static func forward(out: UnsafeMutablePointer<Float>, table: WeightMatrix,
                               tokens: UnsafePointer<Int32>, rows: Int, dim: Int) {
        Parallel.forEachChunk(rows, minPerChunk: 64) { range in
            for n in range { table.widen(into: out + n * dim, first: Int(tokens[n]) * dim, count: dim) }
        }
    }
}
