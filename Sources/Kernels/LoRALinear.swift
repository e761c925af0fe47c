// The low-rank path of a LoRA linear layer (PEFT's `lora_B(lora_A(x)) * scaling`), forward and
// backward, beside the frozen base product `Linear` computes:
//     y (N, out) = x Wᵀ + s · (x Aᵀ) Bᵀ,    A (r, in), B (out, r)

import Foundation

public enum LoRALinear {
    /// u (N, r) = s · x Aᵀ   (saved for backward)
    /// y (N, out) += u Bᵀ
    /// `batchInvariant`: rows padded to `Matmul.rowTile` and every row's bits independent of the
    /// others (training, scoring); else the product `Linear.forward` picks (decode, prefill).
    public static func forward(y: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                               a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale s: Float,
                               rows N: Int, inFeatures I: Int, outFeatures O: Int, rank r: Int, batchInvariant: Bool) {
        if batchInvariant {
            Linear.batchInvariantForward(y: u, x: x, weight: a, rows: N, inFeatures: I, outFeatures: r)
        } else {
            Linear.forward(y: u, x: x, weight: a, rows: N, inFeatures: I, outFeatures: r)
        }
        VectorMath.scale(s, u, N * r)
        if batchInvariant {
            Linear.batchInvariantForward(y: y, x: u, weight: b, rows: N, inFeatures: r, outFeatures: O, beta: 1)
        } else {
            Linear.forward(y: y, x: u, weight: b, rows: N, inFeatures: r, outFeatures: O, beta: 1)
        }
    }

    /// Backward of `forward(batchInvariant: true)`, given dy (N, out); accumulates into dA, dB, dx:
    ///   dB (out, r)  += Σ_seg dyᵀ u                     (y += u Bᵀ)
    ///   du (N, r)     = s · dy B                        (u = s · x Aᵀ; du holds ∂/∂(x Aᵀ))
    ///   dA (r, in)   += Σ_seg duᵀ x
    ///   dx (N, in)   += du A
    /// Weight gradients are formed segment by segment, as `Linear.weightGradient` (exact gradient
    /// accumulation over micro-batches). `du` is scratch of N · r floats.
    public static func backward(dx: UnsafeMutablePointer<Float>, dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>,
                                du: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                u: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale s: Float,
                                rows N: Int, segments: [Range<Int>], inFeatures I: Int, outFeatures O: Int, rank r: Int) {
        Linear.weightGradient(dWeight: dB, dy: dy, x: u, segments: segments, inFeatures: r, outFeatures: O)
        Matmul.batchInvariantGemm(transB: false, m: N, n: r, k: O, a: dy, lda: O, b: b, ldb: r, beta: 0, c: du, ldc: r)
        VectorMath.scale(s, du, N * r)
        Linear.weightGradient(dWeight: dA, dy: du, x: x, segments: segments, inFeatures: I, outFeatures: r)
        Matmul.batchInvariantGemm(transB: false, m: N, n: I, k: r, a: du, lda: r, b: a, ldb: I, beta: 1, c: dx, ldc: I)
    }
}

extension Linear {
    /// dx (N, in) += dy (N, out) · W (out, in) for W in any storage: the input gradient alone, for a
    /// frozen weight (LoRA's base, a frozen lm_head). Row-invariant like `batchInvariantForward`;
    /// 16-bit W is widened a chunk of its rows at a time, the chunks' contributions added in order.
    public static func batchInvariantInputGradient(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, weight: WeightMatrix,
                                                   rows N: Int, inFeatures I: Int, outFeatures O: Int) {
        if let f = weight.float32 {
            Matmul.batchInvariantGemm(transB: false, m: N, n: I, k: O, a: dy, lda: O, b: f, ldb: I, beta: 1, c: dx, ldc: I)
            return
        }
        WidenedProduct.forEachChunk(weight, outFeatures: O, inFeatures: I) { w, outRows in
            Matmul.batchInvariantGemm(transB: false, m: N, n: I, k: outRows.count, a: dy + outRows.lowerBound, lda: O,
                                      b: w, ldb: I, beta: 1, c: dx, ldc: I)
        }
    }
}
