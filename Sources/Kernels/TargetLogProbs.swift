// Log-probabilities of target tokens from logits (log-softmax + gather), forward and backward.

import Foundation

/// Final-logit soft-capping (Gemma 2's `final_logit_softcapping`): l ← c·tanh(l / c).
public enum LogitSoftcap {
    /// In place over `count` logits, as transformers computes it: `l / c`, `tanh`, `· c`.
    public static func forward(_ logits: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        Parallel.forEachChunk(count, minPerChunk: 1 << 14) { range in
            for i in range { logits[i] = Foundation.tanh(logits[i] / cap) * cap }
        }
    }
}

public enum TargetLogProbs {
    /// For each row n of logits (N, V):
    ///   lse_n = log Σ_v exp(logits[n, v]),   logp[n] = logits[n, targets[n]] − lse_n
    /// and, in place, logits[n, :] ← softmax(logits[n, :]) (the probabilities backward needs).
    /// `logitMeans[n]`, when given, receives mean_v logits[n, v] (TRL's logits/* metrics); `lse[n]`,
    /// when given, lse_n (what a soft-capped backward needs to recover the logits).
    public static func forward(logp: UnsafeMutablePointer<Float>, logitsToProbs logits: UnsafeMutablePointer<Float>,
                               targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                               logitMeans: UnsafeMutablePointer<Float>? = nil, lse: UnsafeMutablePointer<Float>? = nil) {
        Parallel.forEachChunk(rows, minPerChunk: 4) { range in
            for n in range {
                let row = logits + n * vocab
                if let logitMeans { logitMeans[n] = rowMean(row, vocab) }
                let target = row[Int(targets[n])]
                let m = VectorMath.max(row, vocab)
                let sum = VectorMath.expShiftedInPlace(row, vocab, shift: m)
                // lse and the difference in Double: logp carries one float32 rounding.
                let logSumExp = Double(m) + Foundation.log(sum)
                logp[n] = Float(Double(target) - logSumExp)
                lse?[n] = Float(logSumExp)
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

    /// Backward of `logp[n] = l[n, t_n] − lse_n` through a soft-cap l = c·tanh(r/c) of the raw logits r,
    /// in place on the probabilities (Gemma 2's final-logit soft-capping):
    ///   dR[n, v] = dLogp[n] · (1[v = t_n] − p[n, v]) · (1 − (l[n, v]/c)²),  l[n, v] = log p[n, v] + lse_n
    /// (|l| ≤ c keeps every p above exp(−2c − log V) > 0 for the caps in use, so log p is exact enough).
    public static func backwardInPlaceSoftcapped(probsToDLogits probs: UnsafeMutablePointer<Float>, dLogp: UnsafePointer<Float>,
                                                 targets: UnsafePointer<Int32>, lse: UnsafePointer<Float>, rows: Int, vocab: Int, cap: Float) {
        Parallel.forEachChunk(rows, minPerChunk: 4) { range in
            for n in range {
                let row = probs + n * vocab, g = dLogp[n], t = Int(targets[n])
                if g == 0 { row.initialize(repeating: 0, count: vocab); continue }
                for v in 0..<vocab {
                    let p = row[v], l = (Foundation.log(p) + lse[n]) / cap
                    row[v] = g * ((v == t ? 1 : 0) - p) * (1 - l * l)
                }
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
