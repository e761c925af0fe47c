// Root-mean-square normalisation (Llama): y = x / sqrt(mean(x²) + ε) ⊙ w.

import Foundation

public enum RMSNorm {
    /// out (N, D) = x · rstd ⊙ weight, with rstd (N) = 1 / sqrt(mean_d x² + eps) saved for backward.
    /// `weightOffset` 1 scales by (1 + w) instead (Gemma's norm, whose weights are stored as offsets).
    public static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               rows: Int, dim: Int, eps: Float, weightOffset: Float = 0) {
        Parallel.forEachChunk(rows, minPerChunk: 16) { range in
            for n in range {
                let xr = x + n * dim, yr = out + n * dim
                let meanSquare = VectorMath.dot(xr, xr, dim) / Float(dim)
                let r = 1 / (meanSquare + eps).squareRoot()
                rstd[n] = r
                // HF order: (x · rstd) · w   (Gemma: (x · rstd) · (1 + w))
                if weightOffset == 0 {
                    for d in 0..<dim { yr[d] = weight[d] * (xr[d] * r) }
                } else {
                    for d in 0..<dim { yr[d] = (xr[d] * r) * (weightOffset + weight[d]) }
                }
            }
        }
    }

    /// Backward of `out = x · rstd ⊙ (o + w)` (o = `weightOffset`, 0 but for Gemma):
    ///   dx[n,d] += rstd · (dOut⊙w)[d] − rstd³ / D · x[n,d] · Σ_e (dOut⊙w)[e] · x[n,e]
    ///   dW[d]   += Σ_s Σ_{n ∈ s} dOut[n,d] · x[n,d] · rstd[n]
    /// The weight gradient is summed per row segment s (rows in order, from zero) and the segment sums
    /// are added in order, so it never depends on which other segments share the batch (see
    /// `Linear.weightGradient`). Rows run in parallel for dx, dimensions for dW.
    /// `scratch` holds `Parallel.maxThreads × D` floats (per-thread segment sums).
    public static func backward(dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, rows: Int, dim: Int, segments: [Range<Int>]? = nil,
                                scratch: UnsafeMutablePointer<Float>, weightOffset: Float = 0) {
        Parallel.forEachChunk(rows, minPerChunk: 16) { range in
            for n in range {
                let xr = x + n * dim, gr = dOut + n * dim, dxr = dx + n * dim
                let r = rstd[n]
                var dotGWX: Float = 0
                for d in 0..<dim { dotGWX += gr[d] * (weightOffset + weight[d]) * xr[d] }
                let k = r * r * r * dotGWX / Float(dim)
                for d in 0..<dim { dxr[d] += r * gr[d] * (weightOffset + weight[d]) - k * xr[d] }
            }
        }
        // dW[d] += Σ_n dOut[n,d] · x[n,d] · rstd[n], segment by segment
        SegmentSums.accumulate(into: dWeight, dim: dim, rows: rows, segments: segments, scratch: scratch) { n, lo, width, partial in
            let xr = x + n * dim + lo, gr = dOut + n * dim + lo
            let r = rstd[n]
            for d in 0..<width { partial[d] += gr[d] * xr[d] * r }
        }
    }
}

/// Column sums over rows formed one row segment at a time in a fixed order (each segment's sum from
/// zero, then added to the total), so a weight gradient never depends on which other segments share
/// the batch; columns are split across the threads. Shared by the norms' and the biases' gradients.
enum SegmentSums {
    /// dst (dim) += Σ_s (Σ_{n ∈ s} row_n) where `addRow(n, lo, width, partial)` adds columns
    /// lo..<lo+width of row n's contribution to `partial`. `scratch` holds threads × dim floats.
    static func accumulate(into dst: UnsafeMutablePointer<Float>, dim: Int, rows: Int, segments: [Range<Int>]?,
                           scratch: UnsafeMutablePointer<Float>,
                           addRow: (_ n: Int, _ lo: Int, _ width: Int, _ partial: UnsafeMutablePointer<Float>) -> Void) {
        let segments = segments ?? [0..<rows]
        let chunks = Swift.min(Parallel.threads, Swift.max(1, dim * rows / 4096), Swift.max(1, dim / 16))
        segments.withUnsafeBufferPointer { segments in
            Parallel.forEachChunk(chunks) { cr in
                for c in cr {
                    // columns lo..<hi, partial sums in this chunk's scratch row
                    let lo = dim * c / chunks, hi = dim * (c + 1) / chunks
                    let partial = scratch + c * dim + lo, width = hi - lo
                    for seg in segments {
                        partial.initialize(repeating: 0, count: width)
                        for n in seg { addRow(n, lo, width, partial) }
                        VectorMath.axpy(1, partial, dst + lo, width)
                    }
                }
            }
        }
    }
}
