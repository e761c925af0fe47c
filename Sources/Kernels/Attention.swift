// Causal grouped-query attention over packed (variable-length) sequences, forward and backward.
//
// Rows of Q, K, V are "packed": the valid tokens of every sequence one after another, so padding
// never exists inside the kernel and can neither attend nor be attended to. Keys may also come
// from a KV cache (inference): a span names where its keys live and how many precede its queries.

import Foundation
import CSIMD

/// Head geometry: `heads` query heads share `kvHeads` key/value heads (GQA), each `headDim` wide.
public struct AttentionShape: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
    public var groupSize: Int { heads / kvHeads }
    /// Sliding-window attention (Mistral): the query at position t sees keys t − window < j ≤ t
    /// (transformers' `kv_idx > q_idx − sliding_window`); nil: every earlier key.
    public let window: Int?
    /// Score scale: 1/√headDim, or 1/√query_pre_attn_scalar (Gemma 2).
    public let scale: Float
    /// Attention-logit soft-cap c (Gemma 2's `attn_logit_softcapping`): scores s ← c·tanh(s/c)
    /// before the softmax; nil: none.
    public let softcap: Float?
    public init(heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil, scaleDenominator: Double? = nil, softcap: Float? = nil) {
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.window = window
        // transformers: scaling = head_dim ** -0.5 (or query_pre_attn_scalar ** -0.5), a Python float
        scale = Float(1 / (scaleDenominator ?? Double(headDim)).squareRoot())
        self.softcap = softcap
    }
    /// The first key the query at position t sees.
    @inline(__always) public func firstKey(position t: Int) -> Int { window.map { Swift.max(0, t - $0 + 1) } ?? 0 }
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
    /// Queries handled per block: scores for a block are (queryBlock, keys) in per-thread scratch.
    public static let queryBlock = 64

    /// Floats of scratch per thread for keys up to `maxKeys` (two score blocks).
    static func scratchStride(maxKeys: Int) -> Int { 2 * queryBlock * (maxKeys + 16) }

    /// Floats of scratch to pass to `forward`/`backward` for keys up to `maxKeys`.
    public static func scratchCount(maxKeys: Int) -> Int { Parallel.maxThreads * scratchStride(maxKeys: maxKeys) }

    /// Forward, per span, head h (kv head h / groupSize), query row i at position t = start + i:
    ///   s_j = (q_i · k_j) · scale,  j = lo…t  (lo = 0, or t − window + 1 with a sliding window)
    ///   (soft-capped: s_j ← c·tanh(s_j / c))
    ///   p_j = exp(s_j − lse_i),     lse_i = log Σ_j exp(s_j)        (saved: lse (N, heads))
    ///   out_i = Σ_j p_j v_j                                           out (N, heads·headDim)
    /// Blocks of queries go through sgemm (S = Q Kᵀ, O = P V); single queries (decode) through dot
    /// products. Tasks are (span, kv head) pairs spread over the threads.
    public static func forward(out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, spans: [AttentionSpan], shape: AttentionShape,
                               scratch: UnsafeMutablePointer<Float>, maxKeys: Int) {
        let hd = shape.headDim, qDim = shape.qDim, kvDim = shape.kvDim, H = shape.heads, scale = shape.scale
        forEachSpanAndKVHead(spans, shape: shape, scratch: scratch, maxKeys: maxKeys) { _, span, kvh, S in
            let kBase = span.keys + kvh * hd, vBase = span.values + kvh * hd
            for h in kvh * shape.groupSize ..< (kvh + 1) * shape.groupSize {
                if span.queryCount < 8 {
                    for i in 0..<span.queryCount {
                        let row = span.queryRow + i
                        let qr = q + row * qDim + h * hd
                        let keys = span.start + i + 1, lo = shape.firstKey(position: span.start + i), n = keys - lo
                        for j in lo..<keys { S[j - lo] = VectorMath.dot(qr, kBase + j * kvDim, hd) * scale }
                        if let cap = shape.softcap { Self.softcap(S, n, cap) }
                        let m = VectorMath.max(S, n)
                        let sum = Float(VectorMath.expShiftedInPlace(S, n, shift: m))
                        let inv = 1 / sum
                        let o = out + row * qDim + h * hd
                        o.initialize(repeating: 0, count: hd)
                        for j in lo..<keys { VectorMath.axpy(S[j - lo] * inv, vBase + j * kvDim, o, hd) }
                        lse[row * H + h] = m + Foundation.log(sum)
                    }
                    continue
                }
                var i0 = 0
                while i0 < span.queryCount {
                    let bq = min(queryBlock, span.queryCount - i0)
                    let row0 = span.queryRow + i0
                    let nk = span.start + i0 + bq
                    // S (bq, nk) = Q_blk K[0..<nk]ᵀ · scale
                    Matmul.gemmSerial(transA: false, transB: true, m: bq, n: nk, k: hd, alpha: scale,
                                      a: q + row0 * qDim + h * hd, lda: qDim, b: kBase, ldb: kvDim,
                                      beta: 0, c: S, ldc: nk)
                    // P = causal softmax(S), row r sees keys lo ..< start + i0 + r + 1 (lo > 0 in a window)
                    for r in 0..<bq {
                        let keys = span.start + i0 + r + 1, srow = S + r * nk
                        let lo = shape.firstKey(position: keys - 1), seen = srow + lo
                        if let cap = shape.softcap { Self.softcap(seen, keys - lo, cap) }
                        let m = VectorMath.max(seen, keys - lo)
                        let sum = Float(VectorMath.expShiftedInPlace(seen, keys - lo, shift: m))
                        VectorMath.scale(1 / sum, seen, keys - lo)
                        if lo > 0 { srow.initialize(repeating: 0, count: lo) }
                        if keys < nk { (srow + keys).initialize(repeating: 0, count: nk - keys) }
                        lse[(row0 + r) * H + h] = m + Foundation.log(sum)
                    }
                    // O_blk = P V[0..<nk]
                    Matmul.gemmSerial(transA: false, transB: false, m: bq, n: hd, k: nk, a: S, lda: nk,
                                      b: vBase, ldb: kvDim, beta: 0, c: out + row0 * qDim + h * hd, ldc: qDim)
                    i0 += bq
                }
            }
        }
    }

    /// Backward of the forward above (training spans: keys/values are the packed K, V rows of the
    /// sequence; dKeys/dValues point at the same rows of dK, dV). Per query block, with
    /// D_i = dOut_i · out_i:
    ///   P   = exp(S − lse)  (recomputed, causal)
    ///   dV += Pᵀ dOut
    ///   dP  = dOut Vᵀ,   dS = P ⊙ (dP − D) · scale
    ///   (soft-capped, s = c·tanh(r/c) with r = q·k·scale: dS = P ⊙ (dP − D) · (1 − tanh²(r/c)) · scale,
    ///    r recomputed into P's block once P is no longer needed)
    ///   dQ += dS K,      dK += dSᵀ Q
    /// Tasks are (span, kv head), so heads sharing a kv head never race on dK, dV.
    public static func backward(dq: UnsafeMutablePointer<Float>, dKeys: [UnsafeMutablePointer<Float>],
                                dValues: [UnsafeMutablePointer<Float>],
                                dOut: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
                                q: UnsafePointer<Float>, spans: [AttentionSpan], shape: AttentionShape,
                                scratch: UnsafeMutablePointer<Float>, maxKeys: Int) {
        let hd = shape.headDim, qDim = shape.qDim, kvDim = shape.kvDim, H = shape.heads, scale = shape.scale
        let half = scratchStride(maxKeys: maxKeys) / 2
        forEachSpanAndKVHead(spans, shape: shape, scratch: scratch, maxKeys: maxKeys) { s, span, kvh, P in
            let dP = P + half
            let kBase = span.keys + kvh * hd, vBase = span.values + kvh * hd
            let dkBase = dKeys[s] + kvh * hd, dvBase = dValues[s] + kvh * hd
            for h in kvh * shape.groupSize ..< (kvh + 1) * shape.groupSize {
                var i0 = 0
                while i0 < span.queryCount {
                    let bq = min(queryBlock, span.queryCount - i0)
                    let row0 = span.queryRow + i0
                    let nk = span.start + i0 + bq
                    let qBlk = q + row0 * qDim + h * hd, gBlk = dOut + row0 * qDim + h * hd
                    // P = exp(Q Kᵀ · scale − lse), zero above the diagonal
                    Matmul.gemmSerial(transA: false, transB: true, m: bq, n: nk, k: hd, alpha: scale,
                                      a: qBlk, lda: qDim, b: kBase, ldb: kvDim, beta: 0, c: P, ldc: nk)
                    for r in 0..<bq {
                        let keys = span.start + i0 + r + 1, prow = P + r * nk
                        let lo = shape.firstKey(position: keys - 1)
                        if let cap = shape.softcap { Self.softcap(prow + lo, keys - lo, cap) }
                        _ = VectorMath.expShiftedInPlace(prow + lo, keys - lo, shift: lse[(row0 + r) * H + h])
                        if lo > 0 { prow.initialize(repeating: 0, count: lo) }
                        if keys < nk { (prow + keys).initialize(repeating: 0, count: nk - keys) }
                    }
                    // dV[0..<nk] += Pᵀ dOut_blk
                    Matmul.gemmSerial(transA: true, transB: false, m: nk, n: hd, k: bq, a: P, lda: nk,
                                      b: gBlk, ldb: qDim, beta: 1, c: dvBase, ldc: kvDim)
                    // dP = dOut_blk Vᵀ
                    Matmul.gemmSerial(transA: false, transB: true, m: bq, n: nk, k: hd, a: gBlk, lda: qDim,
                                      b: vBase, ldb: kvDim, beta: 0, c: dP, ldc: nk)
                    // dS = P ⊙ (dP − D) · scale   (in dP)
                    for r in 0..<bq {
                        let d = VectorMath.dot(gBlk + r * qDim, out + (row0 + r) * qDim + h * hd, hd)
                        let prow = P + r * nk, drow = dP + r * nk
                        csimd_softmax_backward_row(drow, prow, d, shape.softcap == nil ? scale : 1, nk)
                    }
                    if let cap = shape.softcap {
                        // s = c·tanh(r/c)  →  ∂s/∂r = 1 − tanh²(r/c); r = Q Kᵀ · scale again (P is free now)
                        Matmul.gemmSerial(transA: false, transB: true, m: bq, n: nk, k: hd, alpha: scale,
                                          a: qBlk, lda: qDim, b: kBase, ldb: kvDim, beta: 0, c: P, ldc: nk)
                        for r in 0..<bq {
                            let keys = span.start + i0 + r + 1, rrow = P + r * nk, drow = dP + r * nk
                            for j in shape.firstKey(position: keys - 1)..<keys {
                                let t = Foundation.tanh(rrow[j] / cap)
                                drow[j] *= (1 - t * t) * scale
                            }
                        }
                    }
                    // dQ_blk += dS K[0..<nk]
                    Matmul.gemmSerial(transA: false, transB: false, m: bq, n: hd, k: nk, a: dP, lda: nk,
                                      b: kBase, ldb: kvDim, beta: 1, c: dq + row0 * qDim + h * hd, ldc: qDim)
                    // dK[0..<nk] += dSᵀ Q_blk
                    Matmul.gemmSerial(transA: true, transB: false, m: nk, n: hd, k: bq, a: dP, lda: nk,
                                      b: qBlk, ldb: qDim, beta: 1, c: dkBase, ldc: kvDim)
                    i0 += bq
                }
            }
        }
    }

    /// s ← c·tanh(s / c) over n scores (transformers: `w / c`, `tanh`, `· c`, in float32).
    @inline(__always) static func softcap(_ s: UnsafeMutablePointer<Float>, _ n: Int, _ cap: Float) {
        for j in 0..<n { s[j] = Foundation.tanh(s[j] / cap) * cap }
    }

    /// Runs `body(spanIndex, span, kvHead, scratch)` for every (span, kv head) task, dealt to the
    /// threads; `scratch` is the worker's own `scratchStride` floats. Heads sharing a kv head
    /// run in one task, so their writes to dK, dV never race.
    private static func forEachSpanAndKVHead(
        _ spans: [AttentionSpan], shape: AttentionShape, scratch: UnsafeMutablePointer<Float>, maxKeys: Int,
        _ body: (_ spanIndex: Int, _ span: AttentionSpan, _ kvHead: Int, _ scratch: UnsafeMutablePointer<Float>) -> Void
    ) {
        let stride = scratchStride(maxKeys: maxKeys)
        spans.withUnsafeBufferPointer { spans in
            Parallel.forEach(spans.count * shape.kvHeads) { task, worker in
                body(task / shape.kvHeads, spans[task / shape.kvHeads], task % shape.kvHeads, scratch + worker * stride)
            }
        }
    }
}
