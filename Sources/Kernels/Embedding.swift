// Token embedding lookup and its backward (scatter-add into the table).

public enum Embedding {
    /// out[n, :] = table[tokens[n], :]         out (N, D), table (V, D)
    public static func forward(out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>,
                               tokens: UnsafePointer<Int32>, rows: Int, dim: Int) {
        Parallel.forEachChunk(rows, minPerChunk: 64) { range in
            for n in range {
                (out + n * dim).update(from: table + Int(tokens[n]) * dim, count: dim)
            }
        }
    }

    /// Backward of `out[n] = table[tokens[n]]`:  dTable[tokens[n], :] += dOut[n, :]
    /// (serial: two rows may share a token).
    public static func backward(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                tokens: UnsafePointer<Int32>, rows: Int, dim: Int) {
        for n in 0..<rows {
            VectorMath.axpy(1, dOut + n * dim, dTable + Int(tokens[n]) * dim, dim)
        }
    }

    /// The same scatter-add restricted to rows `rows` of dOut and to table rows `tableRows` (a thread
    /// that owns those table rows can run it beside others; rows are added in order).
    public static func backward(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                tokens: UnsafePointer<Int32>, rows: Range<Int>, tableRows: Range<Int>, dim: Int) {
        for n in rows where tableRows.contains(Int(tokens[n])) {
            VectorMath.axpy(1, dOut + n * dim, dTable + Int(tokens[n]) * dim, dim)
        }
    }
}
