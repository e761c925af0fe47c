// The SwiGLU gate of the Llama MLP: h = silu(g) ⊙ u, silu(g) = g · σ(g).

public enum SwiGLU {
    /// out (N·F) = silu(gate) ⊙ up, elementwise over `count` values.
    public static func forward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>,
                               up: UnsafePointer<Float>, count: Int) {
        Parallel.forEachChunk(count / 8 + 1, minPerChunk: 512) { range in
            let lo = range.lowerBound * 8, hi = Swift.min(range.upperBound * 8, count)
            var i = lo
            let one = F8(repeating: 1)
            while i + 8 <= hi {
                let g = load8(gate + i)
                // HF: x / (1 + exp(-x)) — silu as torch computes it
                let s = g / (one + VectorMath.exp8(-g))
                store8(out + i, s * load8(up + i))
                i += 8
            }
            while i < hi { let g = gate[i]; out[i] = g / (1 + VectorMath.exp(-g)) * up[i]; i += 1 }
        }
    }

    /// Backward of `out = silu(g) ⊙ u`, with σ = σ(g):
    ///   dGate += dOut · u · σ · (1 + g · (1 − σ))
    ///   dUp   += dOut · silu(g)
    public static func backward(dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                count: Int) {
        Parallel.forEachChunk(count / 8 + 1, minPerChunk: 512) { range in
            let lo = range.lowerBound * 8, hi = Swift.min(range.upperBound * 8, count)
            var i = lo
            let one = F8(repeating: 1)
            while i + 8 <= hi {
                let g = load8(gate + i), u = load8(up + i), d = load8(dOut + i)
                let sig = one / (one + VectorMath.exp8(-g))
                store8(dGate + i, load8(dGate + i) + d * u * sig * (one + g * (one - sig)))
                store8(dUp + i, load8(dUp + i) + d * g * sig)
                i += 8
            }
            while i < hi {
                let g = gate[i], sig = 1 / (1 + VectorMath.exp(-g))
                dGate[i] += dOut[i] * up[i] * sig * (1 + g * (1 - sig))
                dUp[i] += dOut[i] * g * sig
                i += 1
            }
        }
    }
}
