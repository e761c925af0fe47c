// Matrix products through OpenBLAS sgemm/sgemv, and the Linear op (y = x Wᵀ) with its backward.

import CBLAS

public enum Matmul {
    /// Row-major `C(m, n) = alpha · op(A) · op(B) + beta · C`, where op(A) is (m, k) and op(B) is (k, n).
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// A bias-free linear layer with the Hugging Face weight layout W (out, in).
public enum Linear {
    /// y (N, out) = x (N, in) · Wᵀ            — `beta` 0 overwrites y, 1 accumulates.
    @inline(__always)
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               rows: Int, inFeatures: Int, outFeatures: Int, beta: Float = 0) {
        if rows == 1 && beta == 0 {
            // One row: a matrix-vector product streams W once (decode).
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), 1,
                        weight, Int32(inFeatures), x, 1, 0, y, 1)
            return
        }
        Matmul.gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                    a: x, lda: inFeatures, b: weight, ldb: inFeatures, beta: beta, c: y, ldc: outFeatures)
    }

    /// Backward of `y = x · Wᵀ`:
    ///   dx (N, in)  += dy (N, out) · W (out, in)       (skipped when `dx` is nil)
    ///   dW (out, in) += dyᵀ (out, N) · x (N, in)
    @inline(__always)
    public static func backward(dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rows: Int, inFeatures: Int, outFeatures: Int) {
        if let dx {
            Matmul.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                        a: dy, lda: outFeatures, b: weight, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
        }
        Matmul.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                    a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
    }
}
