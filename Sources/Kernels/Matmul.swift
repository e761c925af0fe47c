// Matrix products through OpenBLAS sgemm/sgemv, and the Linear op (y = x Wᵀ) with its backward.
//
// Threading: OpenBLAS runs single-threaded and we split each large product into `Parallel.threads`
// blocks of C ourselves. So exactly `Parallel.threads` threads compute at any moment: OpenBLAS's
// own workers never spin (sched_yield) while our parallel loops run, and a product may also be
// called serially from inside a parallel loop (`gemmSerial`).

import CBLAS

public enum Matmul {
    /// Products below this many multiply-adds run on one thread.
    static let splitThreshold = 1 << 18

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
        let splitRows = m >= n
        let extent = splitRows ? m : n
        let align = 32
        let blocks = (extent + align - 1) / align
        Parallel.forEachChunk(threads) { range in
            for part in range {
                let lo = min(extent, blocks * part / threads * align)
                let hi = min(extent, blocks * (part + 1) / threads * align)
                if lo >= hi { continue }
                if splitRows {
                    // rows lo..<hi of C come from rows lo..<hi of op(A)
                    let aPart = transA ? a + lo : a + lo * lda
                    gemmSerial(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha, a: aPart, lda: lda,
                               b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
                } else {
                    // columns lo..<hi of C come from columns lo..<hi of op(B)
                    let bPart = transB ? b + lo * ldb : b + lo
                    gemmSerial(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                               b: bPart, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                }
            }
        }
    }

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

/// y (M, O) = beta · y + x (M, I) · Wᵀ for few rows (M ≤ `maxRows`, decode): each row of W is read
/// once from memory and multiplied with all M rows of x (which stay in L1), so the product runs at
/// memory bandwidth instead of paying sgemm's packing of W. Rows of W are split across threads.
/// Every output is one `dot` of a row of x with a row of W in the same operation order whatever M is,
/// so a row's result never depends on which other rows share the batch (generation relies on this).
public enum SmallMatmul {
    public static let maxRows = 32

    public static func xWt(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           rows M: Int, inFeatures I: Int, outFeatures O: Int, beta: Float) {
        Parallel.forEachChunk(O, minPerChunk: 128) { range in
            var o = range.lowerBound
            let end = range.upperBound
            if M == 1 {
                // four weight rows against one x row
                while o + 4 <= end {
                    let w0 = weight + o * I
                    let (d0, d1, d2, d3) = dot4(w0, w0 + I, w0 + 2 * I, w0 + 3 * I, x, I)
                    store(y + o, d0, beta); store(y + o + 1, d1, beta); store(y + o + 2, d2, beta); store(y + o + 3, d3, beta)
                    o += 4
                }
                while o < end { store(y + o, VectorMath.dot(weight + o * I, x, I), beta); o += 1 }
                return
            }
            while o < end {
                // one weight row against groups of four x rows
                let w = weight + o * I
                var m = 0
                while m + 4 <= M {
                    let xm = x + m * I
                    let (d0, d1, d2, d3) = dot4(xm, xm + I, xm + 2 * I, xm + 3 * I, w, I)
                    store(y + m * O + o, d0, beta); store(y + (m + 1) * O + o, d1, beta)
                    store(y + (m + 2) * O + o, d2, beta); store(y + (m + 3) * O + o, d3, beta)
                    m += 4
                }
                while m < M { store(y + m * O + o, VectorMath.dot(x + m * I, w, I), beta); m += 1 }
                o += 1
            }
        }
    }

    @inline(__always) static func store(_ p: UnsafeMutablePointer<Float>, _ v: Float, _ beta: Float) {
        p.pointee = beta == 0 ? v : beta * p.pointee + v
    }

    /// (a0·v, a1·v, a2·v, a3·v) over n elements, sharing the loads of v.
    @inline(__always)
    static func dot4(_ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a2: UnsafePointer<Float>,
                     _ a3: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) -> (Float, Float, Float, Float) {
        var s0 = F8(), s1 = F8(), s2 = F8(), s3 = F8()
        var t0 = F8(), t1 = F8(), t2 = F8(), t3 = F8()
        var i = 0
        while i + 16 <= n {
            let vv = load8(v + i), vw = load8(v + i + 8)
            s0.addProduct(load8(a0 + i), vv); s1.addProduct(load8(a1 + i), vv)
            s2.addProduct(load8(a2 + i), vv); s3.addProduct(load8(a3 + i), vv)
            t0.addProduct(load8(a0 + i + 8), vw); t1.addProduct(load8(a1 + i + 8), vw)
            t2.addProduct(load8(a2 + i + 8), vw); t3.addProduct(load8(a3 + i + 8), vw)
            i += 16
        }
        if i + 8 <= n {
            let vv = load8(v + i)
            s0.addProduct(load8(a0 + i), vv); s1.addProduct(load8(a1 + i), vv)
            s2.addProduct(load8(a2 + i), vv); s3.addProduct(load8(a3 + i), vv)
            i += 8
        }
        s0 += t0; s1 += t1; s2 += t2; s3 += t3
        var r0 = s0.sum(), r1 = s1.sum(), r2 = s2.sum(), r3 = s3.sum()
        while i < n { r0 += a0[i] * v[i]; r1 += a1[i] * v[i]; r2 += a2[i] * v[i]; r3 += a3[i] * v[i]; i += 1 }
        return (r0, r1, r2, r3)
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
        Matmul.gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                    a: x, lda: inFeatures, b: weight, ldb: inFeatures, beta: beta, c: y, ldc: outFeatures)
    }

    /// Backward of `y = x · Wᵀ`:
    ///   dx (N, in)  += dy (N, out) · W (out, in)       (skipped when `dx` is nil; overwritten when
    ///                                                   `overwriteDx`, saving the caller a zero fill)
    ///   dW (out, in) += dyᵀ (out, N) · x (N, in)
    @inline(__always)
    public static func backward(dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rows: Int, inFeatures: Int, outFeatures: Int, overwriteDx: Bool = false) {
        if let dx {
            Matmul.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                        a: dy, lda: outFeatures, b: weight, ldb: inFeatures, beta: overwriteDx ? 0 : 1, c: dx, ldc: inFeatures)
        }
        Matmul.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                    a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
    }
}
