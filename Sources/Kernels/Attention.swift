// Causal grouped-query attention over packed (variable-length) sequences, forward and backward.
//
// Rows of Q, K, V are "packed": the valid tokens of every sequence one after another, so padding
// never exists inside the kernel and can neither attend nor be attended to. Keys may also come
// from a KV cache (inference): a span names where its keys live and how many precede its queries.

import Foundation

/// Head geometry: `heads` query heads share `kvHeads` key/value heads (GQA), each `headDim` wide.
public struct AttentionShape: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
    public var groupSize: Int { heads / kvHeads }
    /// softmax scale 1/√headDim
    public var scale: Float { 1 / Float(headDim).squareRoot() }
    public init(heads: Int, kvHeads: Int, headDim: Int) {
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
    }
}

/// One sequence's queries and where its keys/values are.
/// Query i (0..<queryCount) is packed row `queryRow + i`, sits at position `start + i`, and attends
/// to key rows 0...start+i of `keys`/`values` (row stride kvDim).
public struct AttentionSpan {
    public var queryRow: Int
    public var queryCount: Int
    public var start: Int
    public var keys: UnsafeMutablePointer<Float>
    public var values: UnsafeMutablePointer<Float>
    public init(queryRow: Int, queryCount: Int, start: Int,
                keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        self.queryRow = queryRow; self.queryCount = queryCount; self.start = start
        self.keys = keys; self.values = values
    }
}

public enum Attention {
    /// Floats of per-thread scratch needed for keys up to `maxKeys`.
    public static func scratchCount(maxKeys: Int) -> Int { Parallel.maxThreads * (maxKeys + 16) }

    /// Forward, per span, head h (kv head h / groupSize), query row i at position t = start + i:
    ///   s_j = (q_i · k_j) · scale,  j = 0…t
    ///   p_j = exp(s_j − lse_i),     lse_i = log Σ_j exp(s_j)        (saved: lse (N, heads))
    ///   out_i = Σ_j p_j v_j                                           out (N, heads·headDim)
    public static func forward(out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, spans: [AttentionSpan], shape: AttentionShape,
                               scratch: UnsafeMutablePointer<Float>, maxKeys: Int) {
        let hd = shape.headDim, qDim = shape.qDim, kvDim = shape.kvDim, H = shape.heads
        let group = shape.groupSize, scale = shape.scale
        spans.withUnsafeBufferPointer { spans in
            Parallel.forEach(spans.count * shape.kvHeads) { task, worker in
                let span = spans[task / shape.kvHeads], kvh = task % shape.kvHeads
                let scores = scratch + worker * (maxKeys + 16)
                let kBase = span.keys + kvh * hd, vBase = span.values + kvh * hd
                for h in kvh * group ..< (kvh + 1) * group {
                    for i in 0..<span.queryCount {
                        let row = span.queryRow + i
                        let qr = q + row * qDim + h * hd
                        let keys = span.start + i + 1
                        for j in 0..<keys { scores[j] = VectorMath.dot(qr, kBase + j * kvDim, hd) * scale }
                        let m = VectorMath.max(scores, keys)
                        let sum = VectorMath.expShiftedInPlace(scores, keys, shift: m)
                        let inv = 1 / sum
                        let o = out + row * qDim + h * hd
                        o.initialize(repeating: 0, count: hd)
                        for j in 0..<keys { VectorMath.axpy(scores[j] * inv, vBase + j * kvDim, o, hd) }
                        lse[row * H + h] = m + Foundation.log(sum)
                    }
                }
            }
        }
    }

    /// Backward of the forward above (training spans: keys/values are the packed K, V rows of the
    /// sequence; dKeys/dValues point at the same rows of dK, dV). With D_i = dOut_i · out_i:
    ///   p_j  = exp(s_j − lse_i)                 (recomputed)
    ///   dv_j += p_j · dOut_i
    ///   ds_j = p_j · (dOut_i · v_j − D_i)
    ///   dq_i += scale · Σ_j ds_j k_j,   dk_j += scale · ds_j q_i
    /// Tasks are (span, kv head), so heads sharing a kv head never race on dK, dV.
    public static func backward(dq: UnsafeMutablePointer<Float>, dKeys: [UnsafeMutablePointer<Float>],
                                dValues: [UnsafeMutablePointer<Float>],
                                dOut: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
                                q: UnsafePointer<Float>, spans: [AttentionSpan], shape: AttentionShape,
                                scratch: UnsafeMutablePointer<Float>, maxKeys: Int) {
        let hd = shape.headDim, qDim = shape.qDim, kvDim = shape.kvDim, H = shape.heads
        let group = shape.groupSize, scale = shape.scale
        spans.withUnsafeBufferPointer { spans in
            Parallel.forEach(spans.count * shape.kvHeads) { task, worker in
                let s = task / shape.kvHeads, kvh = task % shape.kvHeads
                let span = spans[s]
                let p = scratch + worker * (maxKeys + 16)
                let kBase = span.keys + kvh * hd, vBase = span.values + kvh * hd
                let dkBase = dKeys[s] + kvh * hd, dvBase = dValues[s] + kvh * hd
                for h in kvh * group ..< (kvh + 1) * group {
                    for i in 0..<span.queryCount {
                        let row = span.queryRow + i
                        let qr = q + row * qDim + h * hd
                        let g = dOut + row * qDim + h * hd
                        let dqr = dq + row * qDim + h * hd
                        let keys = span.start + i + 1
                        let l = lse[row * H + h]
                        let dCoef = VectorMath.dot(g, out + row * qDim + h * hd, hd)
                        for j in 0..<keys { p[j] = VectorMath.dot(qr, kBase + j * kvDim, hd) * scale }
                        _ = VectorMath.expShiftedInPlace(p, keys, shift: l)
                        for j in 0..<keys {
                            let pj = p[j]
                            let vj = vBase + j * kvDim
                            VectorMath.axpy(pj, g, dvBase + j * kvDim, hd)
                            let ds = pj * (VectorMath.dot(g, vj, hd) - dCoef) * scale
                            VectorMath.axpy(ds, kBase + j * kvDim, dqr, hd)
                            VectorMath.axpy(ds, qr, dkBase + j * kvDim, hd)
                        }
                    }
                }
            }
        }
    }
}
