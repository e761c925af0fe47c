// The SwiGLU gate of the Llama MLP: h = silu(g) ⊙ u, silu(g) = g · σ(g) (vector code in CSIMD).

import CSIMD

public enum SwiGLU {
    /// out (N·F) = silu(gate) ⊙ up, elementwise over `count` values; silu as torch computes it,
    /// x / (1 + exp(−x)).
    public static func forward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>,
                               up: UnsafePointer<Float>, count: Int) {
        Parallel.forEachChunk(count / 16 + 1, minPerChunk: 256) { range in
            let lo = range.lowerBound * 16, hi = Swift.min(range.upperBound * 16, count)
            if hi > lo { csimd_swiglu_forward(out + lo, gate + lo, up + lo, hi - lo) }
        }
    }

    /// Backward of `out = silu(g) ⊙ u`, with σ = σ(g):
    ///   dGate += dOut · u · σ · (1 + g · (1 − σ))
    ///   dUp   += dOut · silu(g)
    public static func backward(dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                count: Int) {
        Parallel.forEachChunk(count / 16 + 1, minPerChunk: 256) { range in
            let lo = range.lowerBound * 16, hi = Swift.min(range.upperBound * 16, count)
            if hi > lo { csimd_swiglu_backward(dGate + lo, dUp + lo, gate + lo, up + lo, dOut + lo, hi - lo) }
        }
    }
}
