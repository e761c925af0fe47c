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

    /// Backward of `out[n] = table[tokens[n]]`:  dTable[tokens[n], :] += dOut[n, :]  for n in `rows`, in
    /// order, touching only table rows in `tableRows` (so threads owning disjoint table rows can run
    /// it side by side). Lookups of `paddingToken` send no gradient, as PyTorch's
    /// `nn.Embedding(padding_idx=pad_token_id)` in transformers' Llama.
    public static func backward(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                tokens: UnsafePointer<Int32>, rows: Range<Int>, tableRows: Range<Int>, dim: Int,
                                paddingToken: Int32? = nil) {
        for n in rows where tableRows.contains(Int(tokens[n])) && tokens[n] != paddingToken {
            VectorMath.axpy(1, dOut + n * dim, dTable + Int(tokens[n]) * dim, dim)
        }
    }
}
