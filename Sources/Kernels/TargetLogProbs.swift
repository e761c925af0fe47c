// Log-probabilities of target tokens from logits (log-softmax + gather), forward and backward.

import Foundation

public enum TargetLogProbs {
    /// For each row n of logits (N, V):
    ///   lse_n = log Σ_v exp(logits[n, v]),   logp[n] = logits[n, targets[n]] − lse_n
    /// and, in place, logits[n, :] ← softmax(logits[n, :]) (the probabilities backward needs).
    /// `logitMeans[n]`, when given, receives mean_v logits[n, v] (TRL's logits/* metrics).
    public static func forward(logp: UnsafeMutablePointer<Float>, logitsToProbs logits: UnsafeMutablePointer<Float>,
                               targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                               logitMeans: UnsafeMutablePointer<Float>? = nil) {
        Parallel.forEachChunk(rows, minPerChunk: 4) { range in
            for n in range {
                let row = logits + n * vocab
                if let logitMeans { logitMeans[n] = rowMean(row, vocab) }
                let target = row[Int(targets[n])]
                let m = VectorMath.max(row, vocab)
                let sum = VectorMath.expShiftedInPlace(row, vocab, shift: m)
                // lse and the difference in Double: logp carries one float32 rounding.
                logp[n] = Float(Double(target) - (Double(m) + Foundation.log(sum)))
                VectorMath.scale(Float(1 / sum), row, vocab)
            }
        }
    }

    /// Backward of `logp[n] = logits[n, t_n] − lse_n`, in place on the probabilities:
    ///   dLogits[n, v] = dLogp[n] · (1[v = t_n] − p[n, v])
    /// (the buffer goes from probabilities to gradients; rows with dLogp = 0 become all zero).
    public static func backwardInPlace(probsToDLogits probs: UnsafeMutablePointer<Float>, dLogp: UnsafePointer<Float>,
                                       targets: UnsafePointer<Int32>, rows: Int, vocab: Int) {
        Parallel.forEachChunk(rows, minPerChunk: 4) { range in
            for n in range {
                let row = probs + n * vocab
                VectorMath.scale(-dLogp[n], row, vocab)
                row[Int(targets[n])] += dLogp[n]
            }
        }
    }

    @inline(__always) static func rowMean(_ row: UnsafePointer<Float>, _ n: Int) -> Float {
        VectorMath.sum(row, n) / Float(n)
    }

    /// Log-softmax statistics only (no probabilities kept): logp[n] = logits[n, t_n] − lse_n.
    /// Used for scoring where no backward follows; `logits` is left unchanged.
    public static func scores(logp: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                              targets: UnsafePointer<Int32>, rows: Int, vocab: Int) {
        Parallel.forEachChunk(rows, minPerChunk: 4) { range in
            for n in range {
                let row = logits + n * vocab
                let m = VectorMath.max(row, vocab)
                let sum = VectorMath.sumExpShifted(row, vocab, shift: m)
                logp[n] = Float(Double(row[Int(targets[n])]) - (Double(m) + Foundation.log(sum)))
            }
        }
    }
}
