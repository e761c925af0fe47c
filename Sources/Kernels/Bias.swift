// The bias of a linear layer (Qwen2's q/k/v projections): y = x Wᵀ + b, its forward and backward.

/// y[n, :] += b for every row n of y (N, O).
public enum Bias {
    /// y (N, O) += b (O) broadcast over the rows.
    public static func forward(y: UnsafeMutablePointer<Float>, bias b: UnsafePointer<Float>, rows: Int, outFeatures O: Int) {
        Parallel.forEachChunk(rows, minPerChunk: 64) { range in
            for n in range { VectorMath.axpy(1, b, y + n * O, O) }
        }
    }

    /// Backward of `y[n] += b`: dB (O) += Σ_n dy[n] (N, O). Summed per row segment s (rows in order,
    /// from zero) and the segment sums added in order, as `RMSNorm.backward`'s weight gradient, so
    /// it never depends on which other segments share the batch. Columns run in parallel;
    /// `scratch` holds `Parallel.maxThreads × O` floats.
    public static func backward(dBias: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, rows: Int, outFeatures O: Int,
                                segments: [Range<Int>]? = nil, scratch: UnsafeMutablePointer<Float>) {
        SegmentSums.accumulate(into: dBias, dim: O, rows: rows, segments: segments, scratch: scratch) { n, lo, width, partial in
            VectorMath.axpy(1, dy + n * O + lo, partial, width)
        }
    }
}
