// Root-mean-square normalisation (Llama): y = x / sqrt(mean(x²) + ε) ⊙ w.

import Foundation

public enum RMSNorm {
    /// out (N, D) = x · rstd ⊙ weight, with rstd (N) = 1 / sqrt(mean_d x² + eps) saved for backward.
    public static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               rows: Int, dim: Int, eps: Float) {
        Parallel.forEachChunk(rows, minPerChunk: 16) { range in
            for n in range {
                let xr = x + n * dim, yr = out + n * dim
                let meanSquare = VectorMath.dot(xr, xr, dim) / Float(dim)
                let r = 1 / (meanSquare + eps).squareRoot()
                rstd[n] = r
                // HF order: (x · rstd) · w
                for d in 0..<dim { yr[d] = weight[d] * (xr[d] * r) }
            }
        }
    }

    /// Backward of `out = x · rstd ⊙ w`:
    ///   dW[d] += Σ_n dOut[n,d] · x[n,d] · rstd[n]
    ///   dx[n,d] += rstd · (dOut⊙w)[d] − rstd³ / D · x[n,d] · Σ_e (dOut⊙w)[e] · x[n,e]
    /// `scratch` holds `Parallel.threads × D` floats (per-thread partial dW).
    public static func backward(dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, rows: Int, dim: Int,
                                scratch: UnsafeMutablePointer<Float>) {
        let chunks = Swift.min(Parallel.threads, Swift.max(1, rows / 16))
        scratch.initialize(repeating: 0, count: chunks * dim)
        Parallel.forEachChunk(chunks) { cr in
            for c in cr {
                let partial = scratch + c * dim
                let lo = rows * c / chunks, hi = rows * (c + 1) / chunks
                for n in lo..<hi {
                    let xr = x + n * dim, gr = dOut + n * dim, dxr = dx + n * dim
                    let r = rstd[n]
                    var dotGWX: Float = 0
                    for d in 0..<dim {
                        dotGWX += gr[d] * weight[d] * xr[d]
                        partial[d] += gr[d] * xr[d] * r
                    }
                    let k = r * r * r * dotGWX / Float(dim)
                    for d in 0..<dim { dxr[d] += r * gr[d] * weight[d] - k * xr[d] }
                }
            }
        }
        for c in 0..<chunks { VectorMath.axpy(1, scratch + c * dim, dWeight, dim) }
    }
}
