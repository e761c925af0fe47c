// The training path: batched forward over right-padded (B, T) token batches producing per-token
// log-probabilities of target tokens, and the hand-written backward to every parameter.
//
// Shapes: B sequences, T padded length, N packed rows (padding is dropped before the first op, so
// it can neither attend nor contribute; each gradient segment starts at a multiple of sgemm's row
// tile, see `TokenBatch.packedRows`), D hidden, F intermediate, V vocab, H heads, KV kv heads,
// hd head dim, L layers.

import Foundation
import Kernels

/// A right-padded batch: sequence b has `lengths[b]` valid tokens at positions 0..<lengths[b].
/// `targets[b, t]` is the token whose log-probability is read at position t (for causal LM
/// training, the next token).
public struct TokenBatch: Sendable {
    public let batchSize: Int
    public let maxLength: Int
    public let tokens: [Int32]    // (B, T)
    public let targets: [Int32]   // (B, T)
    public let lengths: [Int]     // (B)
    /// Consecutive sequences that form one gradient segment: each segment starts at a multiple of
    /// sgemm's row tile and its weight gradients are formed as one product, so micro-batches made of
    /// whole segments accumulate to exactly the same gradient whatever their size (a preference
    /// pair's chosen and rejected: 2; supervised examples: 1). The default, the whole batch, adds no
    /// alignment rows (at most 11 per segment: 3 % for 256-token segments) for callers that never
    /// accumulate.
    public let sequencesPerSegment: Int
    /// (B) first position of each sequence whose log-prob is asked for: positions before it (a
    /// prompt, when only the response is scored) skip the lm_head and the vocabulary softmax, and
    /// their log-probs read 0 and must get no gradient. 0 everywhere: every position is scored.
    public let scoredFrom: [Int]
    public var totalTokens: Int { lengths.reduce(0, +) }
    /// Rows the batch occupies packed: every segment starts at a multiple of `Matmul.rowTile`, so
    /// its rows always sit at the same positions within sgemm's tiles (size workspaces with this).
    public var packedRows: Int {
        stride(from: 0, to: batchSize, by: sequencesPerSegment).reduce(0) { rows, b in
            rows + Matmul.paddedRows(lengths[b ..< min(batchSize, b + sequencesPerSegment)].reduce(0, +))
        }
    }

    public init(tokens: [Int32], targets: [Int32], lengths: [Int], maxLength: Int, sequencesPerSegment: Int? = nil,
                scoredFrom: [Int]? = nil) {
        precondition(tokens.count == lengths.count * maxLength && targets.count == tokens.count,
                     "TokenBatch: tokens/targets must be (B, T)")
        precondition(lengths.allSatisfy { $0 >= 1 && $0 <= maxLength }, "TokenBatch: lengths must be in 1...T")
        precondition((sequencesPerSegment ?? 1) >= 1, "TokenBatch: sequencesPerSegment must be ≥ 1")
        precondition(scoredFrom.map { $0.count == lengths.count && $0.allSatisfy { $0 >= 0 } } ?? true,
                     "TokenBatch: scoredFrom must hold one position ≥ 0 per sequence")
        self.scoredFrom = scoredFrom ?? Array(repeating: 0, count: lengths.count)
        self.sequencesPerSegment = sequencesPerSegment ?? max(1, lengths.count)
        batchSize = lengths.count
        self.maxLength = maxLength
        self.tokens = tokens; self.targets = targets; self.lengths = lengths
    }
}

public enum BatchError: Error, CustomStringConvertible {
    case tokenOutOfRange(sequence: Int, position: Int, token: Int32, vocab: Int)
    case tooLong(sequence: Int, length: Int, maxPositions: Int)
    case overCapacity(rows: Int, capacity: Int)
    public var description: String {
        switch self {
        case let .tokenOutOfRange(s, p, t, v): return "token \(t) at sequence \(s), position \(p) is outside the vocabulary (0..<\(v))"
        case let .tooLong(s, l, m): return "sequence \(s) has \(l) tokens, more than max_position_embeddings \(m)"
        case let .overCapacity(r, c): return "batch has \(r) tokens, the workspace holds \(c)"
        }
    }
}

/// Activation and gradient buffers for batches of up to `capacity` packed rows (`TokenBatch.packedRows`:
/// tokens plus the padding that aligns each gradient segment to sgemm's row tile), allocated once
/// and reused by every forward/backward of that size or smaller.
public final class TrainingWorkspace {
    /// Rows each buffer holds (the requested capacity rounded up to the row tile).
    public let capacity: Int
    public let maxSequenceLength: Int
    let L: Int, D: Int, F: Int, V: Int, qDim: Int, kvDim: Int, H: Int
    /// Training: every layer's input is kept (for backward, or to recompute the layer from).
    let storesAllLayers: Bool
    /// Training without activation checkpointing: every layer's activations are kept. With
    /// checkpointing only the layer inputs are, and backward recomputes each layer from its input
    /// (the same operations on the same inputs: the same bits).
    public let storesAllActivations: Bool
    /// LoRA rank the workspace holds the low-rank activations for (0: none).
    public let loraRank: Int

    // Packed inputs (N)
    var packedTokens: [Int32]
    var packedTargets: [Int32]
    var positions: [Int32]
    var offsets: [Int] = []          // (B) first row of each sequence
    var lengths: [Int] = []
    var segments: [Range<Int>] = []  // row ranges of the batch's gradient segments
    var rows = 0
    var maxT = 0
    // Scored rows (M ≤ N): the rows the lm_head and softmax run on, packed like the rows (each
    // gradient segment's scored rows start at a multiple of the row tile). Identity when every
    // position is scored (`scoresAllRows`).
    var scoresAllRows = true
    var scoredSource: [Int] = []       // (M) the row each scored row is, −1 for alignment rows
    var scoredTargets: [Int32] = []    // (M)
    var scoredOffsets: [Int] = []      // (B) first scored row of each sequence
    var scoredFrom: [Int] = []         // (B) its first scored position
    var scoredSegments: [Range<Int>] = []
    var scoredRows = 0

    // Saved per layer (slot l; slot 0 only when not storing all layers / activations)
    let xIn: FloatBuffer             // (L, N, D) residual entering layer l
    let loraU: FloatBuffer           // (L, 7, N, r) s · x Aᵀ of each adapted projection
    let norm1: FloatBuffer           // (L, N, D)
    let rstd1: FloatBuffer           // (L, N)
    let q: FloatBuffer               // (L, N, H·hd) after RoPE
    let k: FloatBuffer               // (L, N, KV·hd) after RoPE
    let v: FloatBuffer               // (L, N, KV·hd)
    let att: FloatBuffer             // (L, N, H·hd) attention output before o_proj
    let lse: FloatBuffer             // (L, N, H)
    let xMid: FloatBuffer            // (L, N, D) residual after attention
    let norm2: FloatBuffer           // (L, N, D)
    let rstd2: FloatBuffer           // (L, N)
    let gate: FloatBuffer            // (L, N, F)
    let up: FloatBuffer              // (L, N, F)
    let act: FloatBuffer             // (L, N, F) silu(gate) ⊙ up
    // qwen3's per-head query/key norms (empty otherwise)
    let qPre: FloatBuffer            // (L, N, H·hd) q before its norm
    let kPre: FloatBuffer            // (L, N, KV·hd)
    let rstdQ: FloatBuffer           // (L, N·H)
    let rstdK: FloatBuffer           // (L, N·KV)
    // Gemma 2's sandwich norms (empty otherwise): the attention and MLP outputs before their norms
    let attnOut: FloatBuffer         // (L, N, D) att Woᵀ
    let rstdAttnOut: FloatBuffer     // (L, N)
    let mlpOut: FloatBuffer          // (L, N, D) act Wdᵀ
    let rstdMlpOut: FloatBuffer      // (L, N)
    // Final
    let xOut: FloatBuffer            // (N, D)
    let normF: FloatBuffer           // (N, D)
    let rstdF: FloatBuffer           // (N)
    let normScored: FloatBuffer      // (M, D) normF at the scored rows
    let probs: FloatBuffer           // (M, V) logits → probabilities → dLogits
    let logp: FloatBuffer            // (M)
    let lseF: FloatBuffer            // (M) final-logit soft-cap (Gemma 2): each row's log-sum-exp, for backward
    // Backward scratch
    let dX: FloatBuffer, dNorm: FloatBuffer          // (N, D)
    let dAtt: FloatBuffer, dQ: FloatBuffer           // (N, H·hd)
    let dK: FloatBuffer, dV: FloatBuffer             // (N, KV·hd)
    let dGate: FloatBuffer, dUp: FloatBuffer, dAct: FloatBuffer   // (N, F)
    let dLogp: FloatBuffer                            // (N)
    let dLoraU: FloatBuffer                           // (N, r)
    let dKPre: FloatBuffer                            // (N, KV·hd) qwen3: ∂/∂k before its norm
    let discardedNormGradient: FloatBuffer            // (D) a frozen norm's weight gradient, unused
    let normScratch: FloatBuffer                      // (threads, max(D, H·hd))
    let attScratch: FloatBuffer                       // (threads, 2 · 64 · (T + 16))

    /// - Parameters:
    ///   - capacity: most packed rows per batch (`TokenBatch.packedRows`; rounded up to the row tile).
    ///   - maxSequenceLength: longest sequence.
    ///   - training: false allocates one layer's activations (forward-only scoring).
    ///   - activationCheckpointing: training keeps only each layer's input (backward recomputes the rest).
    ///   - loraRank: the rank of the adapter the model carries (0: none).
    public init(config c: LlamaConfig, capacity: Int, maxSequenceLength: Int, training: Bool = true,
                activationCheckpointing: Bool = false, loraRank: Int = 0) {
        self.capacity = Matmul.paddedRows(capacity)
        self.maxSequenceLength = maxSequenceLength
        L = c.numHiddenLayers; D = c.hiddenSize; F = c.intermediateSize; V = c.vocabSize
        qDim = c.qDim; kvDim = c.kvDim; H = c.numAttentionHeads
        storesAllLayers = training
        storesAllActivations = training && !activationCheckpointing
        self.loraRank = loraRank
        let slots = storesAllActivations ? L : 1, N = self.capacity
        packedTokens = Array(repeating: 0, count: N)
        packedTargets = Array(repeating: 0, count: N)
        positions = Array(repeating: 0, count: N)
        xIn = FloatBuffer(count: (training ? L : 1) * N * D); norm1 = FloatBuffer(count: slots * N * D)
        loraU = FloatBuffer(count: slots * LoRAModule.allCases.count * N * loraRank)
        rstd1 = FloatBuffer(count: slots * N)
        q = FloatBuffer(count: slots * N * qDim); k = FloatBuffer(count: slots * N * kvDim)
        v = FloatBuffer(count: slots * N * kvDim); att = FloatBuffer(count: slots * N * qDim)
        lse = FloatBuffer(count: slots * N * H)
        xMid = FloatBuffer(count: slots * N * D); norm2 = FloatBuffer(count: slots * N * D)
        rstd2 = FloatBuffer(count: slots * N)
        gate = FloatBuffer(count: slots * N * F); up = FloatBuffer(count: slots * N * F)
        act = FloatBuffer(count: slots * N * F)
        let normed = c.qkNorm ? 1 : 0, KV = c.numKeyValueHeads
        qPre = FloatBuffer(count: normed * slots * N * qDim); kPre = FloatBuffer(count: normed * slots * N * kvDim)
        rstdQ = FloatBuffer(count: normed * slots * N * H); rstdK = FloatBuffer(count: normed * slots * N * KV)
        let sandwich = c.sandwichNorms ? 1 : 0
        attnOut = FloatBuffer(count: sandwich * slots * N * D); rstdAttnOut = FloatBuffer(count: sandwich * slots * N)
        mlpOut = FloatBuffer(count: sandwich * slots * N * D); rstdMlpOut = FloatBuffer(count: sandwich * slots * N)
        lseF = FloatBuffer(count: c.finalLogitSoftcap != nil && training ? N : 0)
        xOut = FloatBuffer(count: N * D); normF = FloatBuffer(count: N * D); rstdF = FloatBuffer(count: N)
        normScored = FloatBuffer(count: N * D)
        probs = FloatBuffer(count: N * V); logp = FloatBuffer(count: N)
        let g = training ? N : 0
        dX = FloatBuffer(count: g * D); dNorm = FloatBuffer(count: g * D)
        dAtt = FloatBuffer(count: g * qDim); dQ = FloatBuffer(count: g * qDim)
        dK = FloatBuffer(count: g * kvDim); dV = FloatBuffer(count: g * kvDim)
        dGate = FloatBuffer(count: g * F); dUp = FloatBuffer(count: g * F); dAct = FloatBuffer(count: g * F)
        dLogp = FloatBuffer(count: g)
        dLoraU = FloatBuffer(count: g * loraRank)
        dKPre = FloatBuffer(count: normed * g * kvDim)
        discardedNormGradient = FloatBuffer(count: training ? D : 0)
        normScratch = FloatBuffer(count: Parallel.maxThreads * max(D, qDim))   // norms' and biases' partial sums
        attScratch = FloatBuffer(count: Attention.scratchCount(maxKeys: maxSequenceLength))
    }

    /// A workspace for `model`: room for its adapter's low-rank activations, if it carries one.
    public convenience init(model: LlamaModel, capacity: Int, maxSequenceLength: Int, training: Bool = true,
                            activationCheckpointing: Bool = false) {
        self.init(config: model.config, capacity: capacity, maxSequenceLength: maxSequenceLength, training: training,
                  activationCheckpointing: activationCheckpointing, loraRank: model.adapter?.layout.rank ?? 0)
    }

    /// Bytes held by all buffers.
    public var bytes: Int {
        [xIn, loraU, norm1, rstd1, q, k, v, att, lse, xMid, norm2, rstd2, gate, up, act, qPre, kPre, rstdQ, rstdK,
         attnOut, rstdAttnOut, mlpOut, rstdMlpOut, xOut, normF, rstdF, normScored, probs, logp, lseF, dX, dNorm, dAtt, dQ, dK, dV, dGate, dUp, dAct, dLogp, dLoraU, dKPre, discardedNormGradient,
         normScratch, attScratch]
            .reduce(0) { $0 + $1.count * 4 }
    }

    /// Bytes of the saved per-layer activations (what activation checkpointing reduces).
    public var layerActivationBytes: Int {
        [xIn, loraU, norm1, rstd1, q, k, v, att, lse, xMid, norm2, rstd2, gate, up, act, qPre, kPre, rstdQ, rstdK,
         attnOut, rstdAttnOut, mlpOut, rstdMlpOut].reduce(0) { $0 + $1.count * 4 }
    }

    /// Layer l's input and saved activations (its slot): xIn, norm1, rstd1, q, k, v, att, lse, xMid,
    /// norm2, rstd2, gate, up, act — what forward writes and backward reads.
    func layerBuffers(_ l: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let s = slot(l), N = capacity
        return (xIn.pointer + inputSlot(l) * N * D, norm1.pointer + s * N * D, rstd1.pointer + s * N,
                q.pointer + s * N * qDim, k.pointer + s * N * kvDim, v.pointer + s * N * kvDim, att.pointer + s * N * qDim,
                lse.pointer + s * N * H, xMid.pointer + s * N * D, norm2.pointer + s * N * D, rstd2.pointer + s * N,
                gate.pointer + s * N * F, up.pointer + s * N * F, act.pointer + s * N * F)
    }

    /// qwen3: layer l's q and k before their per-head norms and the norms' rstd (its slot).
    func qkNormBuffers(_ l: Int) -> (qPre: UnsafeMutablePointer<Float>, kPre: UnsafeMutablePointer<Float>,
                                     rstdQ: UnsafeMutablePointer<Float>, rstdK: UnsafeMutablePointer<Float>) {
        let s = slot(l), N = capacity, KV = kvDim / (qDim / H)
        return (qPre.pointer + s * N * qDim, kPre.pointer + s * N * kvDim, rstdQ.pointer + s * N * H, rstdK.pointer + s * N * KV)
    }

    /// Gemma 2: layer l's attention and MLP outputs before their norms, and the norms' rstd (its slot).
    func sandwichBuffers(_ l: Int) -> (attnOut: UnsafeMutablePointer<Float>, rstdAttnOut: UnsafeMutablePointer<Float>,
                                       mlpOut: UnsafeMutablePointer<Float>, rstdMlpOut: UnsafeMutablePointer<Float>) {
        let s = slot(l), N = capacity
        return (attnOut.pointer + s * N * D, rstdAttnOut.pointer + s * N, mlpOut.pointer + s * N * D, rstdMlpOut.pointer + s * N)
    }

    /// u = s · x Aᵀ of module m in activation slot `slot`: (N, r).
    func loraU(slot: Int, _ m: LoRAModule) -> UnsafeMutablePointer<Float> {
        loraU.pointer + (slot * LoRAModule.allCases.count + m.index) * capacity * loraRank
    }

    /// Slot of layer l's activations, and of its input.
    func slot(_ l: Int) -> Int { storesAllActivations ? l : 0 }
    func inputSlot(_ l: Int) -> Int { storesAllLayers ? l : 0 }
}

extension LlamaModel {
    /// Forward pass. Writes logProbs (B, T): log p(targets[b, t] | tokens[b, 0…t]) for t < lengths[b],
    /// 0 at padding. With `training` the probabilities and activations are kept for `backward`.
    /// `logits`, when given, receives (totalTokens, V) logits: sequence after sequence, positions in order;
    /// `logitMeans`, when given (training only), receives (B, T) means over the vocabulary of each
    /// position's logits (0 at padding).
    public func forward(_ batch: TokenBatch, workspace ws: TrainingWorkspace,
                        logProbs: UnsafeMutablePointer<Float>, training: Bool = true,
                        logits: UnsafeMutablePointer<Float>? = nil,
                        logitMeans: UnsafeMutablePointer<Float>? = nil) throws {
        precondition(!training || ws.storesAllLayers, "forward(training:) needs a training workspace")
        try pack(batch, into: ws, scoreAll: logits != nil)
        let c = config, N = ws.rows, D = c.hiddenSize, V = c.vocabSize, eps = Float(c.rmsNormEps)
        precondition((adapter?.layout.rank ?? 0) <= ws.loraRank,
                     "forward: the workspace holds LoRA rank \(ws.loraRank), the model's adapter has rank \(adapter?.layout.rank ?? 0)")
        ws.packedTokens.withUnsafeBufferPointer { tok in
            Embedding.forward(out: ws.xIn.pointer, table: matrix(layout.embedding), tokens: tok.baseAddress!, rows: N, dim: D)
        }
        // Gemma: x = embed[tokens] · √hidden
        if let scale = c.embeddingScale { VectorMath.scale(scale, ws.xIn.pointer, N * D) }
        for l in 0..<c.numHiddenLayers {
            // xIn[l+1] = layer_l(xIn[l])   (the last layer, or a scoring workspace, writes xOut)
            let input = ws.xIn.pointer + ws.inputSlot(l) * ws.capacity * D
            let next = (l + 1 < c.numHiddenLayers && ws.storesAllLayers) ? ws.xIn.pointer + (l + 1) * ws.capacity * D : ws.xOut.pointer
            forwardLayer(l, workspace: ws, output: next)
            if next == ws.xOut.pointer && l + 1 < c.numHiddenLayers { input.update(from: next, count: N * D) }
        }
        // normF = rmsnorm(xOut) ⊙ w_final ; logits = normF[scored] Wheadᵀ   (M, V)
        RMSNorm.forward(out: ws.normF.pointer, rstd: ws.rstdF.pointer, x: ws.xOut.pointer,
                        weight: vector(layout.finalNorm), rows: N, dim: D, eps: eps, weightOffset: c.normWeightOffset)
        let M = ws.scoredRows, head = ws.scoresAllRows ? ws.normF.pointer : ws.gatherScored(ws.normF.pointer, into: ws.normScored.pointer)
        Linear.batchInvariantForward(y: ws.probs.pointer, x: head, weight: matrix(layout.lmHead), rows: M, inFeatures: D, outFeatures: V)
        // Gemma 2: logits = c · tanh(logits / c)
        if let cap = c.finalLogitSoftcap { LogitSoftcap.forward(ws.probs.pointer, count: M * V, cap: Float(cap)) }
        if let logits {   // sequences one after another, without the alignment rows (every row scored)
            var row = 0
            for b in 0..<batch.batchSize {
                (logits + row * V).update(from: ws.probs.pointer + ws.offsets[b] * V, count: ws.lengths[b] * V)
                row += ws.lengths[b]
            }
        }
        ws.scoredTargets.withUnsafeBufferPointer { tgt in
            if training {
                TargetLogProbs.forward(logp: ws.logp.pointer, logitsToProbs: ws.probs.pointer, targets: tgt.baseAddress!, rows: M, vocab: V,
                                       logitMeans: logitMeans == nil ? nil : ws.dLogp.pointer,
                                       lse: c.finalLogitSoftcap == nil ? nil : ws.lseF.pointer)
            } else {
                TargetLogProbs.scores(logp: ws.logp.pointer, logits: ws.probs.pointer, targets: tgt.baseAddress!, rows: M, vocab: V)
            }
        }
        // unpack (M) → (B, T): 0 before each sequence's first scored position and at padding
        ws.unpackScored(ws.logp.pointer, into: logProbs, maxLength: batch.maxLength)
        if let logitMeans, training {   // staged in dLogp, which backward overwrites
            ws.unpackScored(ws.dLogp.pointer, into: logitMeans, maxLength: batch.maxLength)
        }
    }

    /// Layer l of the forward pass on the packed rows: reads its input from the layer-input slot,
    /// writes its activations to layer l's slot and its output (the next residual) to `output`.
    /// Deterministic, so backward may call it again to recompute what activation checkpointing
    /// did not keep.
    func forwardLayer(_ l: Int, workspace ws: TrainingWorkspace, output next: UnsafeMutablePointer<Float>) {
        let c = config, N = ws.rows, D = c.hiddenSize, F = c.intermediateSize
        let qDim = c.qDim, kvDim = c.kvDim, eps = Float(c.rmsNormEps)
        let s = ws.slot(l), W = layout.layers[l]
        let (xIn, n1, r1, q, k, v, att, lse, xMid, n2, r2, gate, up, act) = ws.layerBuffers(l)
        /// y (+)= x Wᵀ (+ s · (x Aᵀ) Bᵀ when the adapter has module m)
        /// (+ b when the projection has a bias: y = x Wᵀ + b, then the LoRA path, as PEFT adds it)
        func project(_ m: LoRAModule, _ weight: Int, bias: Int? = nil, y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                     inFeatures: Int, outFeatures: Int, beta: Float = 0) {
            Linear.batchInvariantForward(y: y, x: x, weight: matrix(weight), rows: N, inFeatures: inFeatures, outFeatures: outFeatures, beta: beta)
            if let bias { Bias.forward(y: y, bias: vector(bias), rows: N, outFeatures: outFeatures) }
            if let adapter, let w = adapter.layout.layers[l][m.index] {
                LoRALinear.forward(y: y, u: ws.loraU(slot: s, m), x: x,
                                   a: adapter.parameters.pointer + w.a, b: adapter.parameters.pointer + w.b, scale: adapter.scale,
                                   rows: N, inFeatures: inFeatures, outFeatures: outFeatures, rank: adapter.layout.rank, batchInvariant: true)
            }
        }

        // n1 = rmsnorm(x) ⊙ w_in
        RMSNorm.forward(out: n1, rstd: r1, x: xIn, weight: vector(W.inputNorm), rows: N, dim: D, eps: eps, weightOffset: c.normWeightOffset)
        // q = n1 Wqᵀ (+ bq), k = n1 Wkᵀ (+ bk), v = n1 Wvᵀ (+ bv)   (each + its LoRA path)
        // qwen3: q = rmsnorm_head(n1 Wqᵀ) ⊙ w_qnorm, k = rmsnorm_head(n1 Wkᵀ) ⊙ w_knorm, over each head's hd values
        let hd = c.headDim, normed = c.qkNorm ? ws.qkNormBuffers(l) : nil
        project(.q, W.qProj, bias: W.qBias, y: normed?.qPre ?? q, x: n1, inFeatures: D, outFeatures: qDim)
        project(.k, W.kProj, bias: W.kBias, y: normed?.kPre ?? k, x: n1, inFeatures: D, outFeatures: kvDim)
        project(.v, W.vProj, bias: W.vBias, y: v, x: n1, inFeatures: D, outFeatures: kvDim)
        if let normed, let wq = W.qNorm, let wk = W.kNorm {
            RMSNorm.forward(out: q, rstd: normed.rstdQ, x: normed.qPre, weight: vector(wq), rows: N * c.numAttentionHeads, dim: hd, eps: eps)
            RMSNorm.forward(out: k, rstd: normed.rstdK, x: normed.kPre, weight: vector(wk), rows: N * c.numKeyValueHeads, dim: hd, eps: eps)
        }
        // q, k = rope(q), rope(k)
        ws.positions.withUnsafeBufferPointer { pos in
            RoPE.apply(q, positions: pos.baseAddress!, rows: N, heads: c.numAttentionHeads, table: rope)
            RoPE.apply(k, positions: pos.baseAddress!, rows: N, heads: c.numKeyValueHeads, table: rope)
        }
        // att = causal_softmax(q kᵀ / √hd) v
        // (Gemma 2: scores scaled by 1/√query_pre_attn_scalar, soft-capped, a window on some layers)
        Attention.forward(out: att, lse: lse, q: q, spans: spans(ws, k: k, v: v), shape: attentionShape(layer: l),
                          scratch: ws.attScratch.pointer, maxKeys: ws.maxT)
        /// out = residual + x Wᵀ, or (Gemma 2's sandwich norm, `norm`) out = residual + rmsnorm(x Wᵀ) ⊙ (1 + w)
        /// with x Wᵀ and the norm's rstd kept in `norm.pre` / `norm.rstd` for backward.
        func residualProjection(_ m: LoRAModule, _ weight: Int, x: UnsafePointer<Float>, inFeatures: Int, residual: UnsafePointer<Float>,
                                out: UnsafeMutablePointer<Float>, norm: (weight: Int, pre: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>)?) {
            guard let norm else {
                out.update(from: residual, count: N * D)
                project(m, weight, y: out, x: x, inFeatures: inFeatures, outFeatures: D, beta: 1)
                return
            }
            project(m, weight, y: norm.pre, x: x, inFeatures: inFeatures, outFeatures: D)
            RMSNorm.forward(out: out, rstd: norm.rstd, x: norm.pre, weight: vector(norm.weight), rows: N, dim: D, eps: eps,
                            weightOffset: c.normWeightOffset)
            VectorMath.axpy(1, residual, out, N * D)
        }
        let sandwich = c.sandwichNorms ? ws.sandwichBuffers(l) : nil
        // xMid = x + att Woᵀ   (Gemma 2: x + rmsnorm(att Woᵀ) ⊙ (1 + w_post_attention))
        residualProjection(.o, W.oProj, x: att, inFeatures: qDim, residual: xIn, out: xMid,
                           norm: sandwich.flatMap { s in W.attentionOutputNorm.map { ($0, s.attnOut, s.rstdAttnOut) } })
        // n2 = rmsnorm(xMid) ⊙ w_post
        RMSNorm.forward(out: n2, rstd: r2, x: xMid, weight: vector(W.postNorm), rows: N, dim: D, eps: eps, weightOffset: c.normWeightOffset)
        // gate = n2 Wgᵀ, up = n2 Wuᵀ, act = silu(gate) ⊙ up
        project(.gate, W.gateProj, y: gate, x: n2, inFeatures: D, outFeatures: F)
        project(.up, W.upProj, y: up, x: n2, inFeatures: D, outFeatures: F)
        if c.usesGeGLU { GeGLU.forward(out: act, gate: gate, up: up, count: N * F) }   // Gemma: gelu_tanh(gate) ⊙ up
        else { SwiGLU.forward(out: act, gate: gate, up: up, count: N * F) }
        // out = xMid + act Wdᵀ   (next layer's input; Gemma 2: xMid + rmsnorm(act Wdᵀ) ⊙ (1 + w_post_feedforward))
        residualProjection(.down, W.downProj, x: act, inFeatures: F, residual: xMid, out: next,
                           norm: sandwich.flatMap { s in W.mlpOutputNorm.map { ($0, s.mlpOut, s.rstdMlpOut) } })
    }

    /// Backward of `forward(training: true)` for the same batch: given dLogProbs (B, T) (∂loss/∂logProbs;
    /// padding entries ignored), accumulates ∂loss/∂θ into `gradients` (the caller zeroes it).
    /// Without an adapter θ is every parameter (layout of `parameters`; tied embeddings receive both
    /// the embedding and the lm_head gradient). With an adapter θ is the adapter's A and B (layout
    /// of `adapter.parameters`): the base is frozen and computes input gradients only, no weight
    /// gradient at all (it may be 16-bit). With activation checkpointing each layer is recomputed
    /// from its saved input before its backward.
    public func backward(dLogProbs: UnsafePointer<Float>, batchMaxLength T: Int, workspace ws: TrainingWorkspace,
                         gradients: FloatBuffer) {
        let lora = adapter
        precondition(gradients.count == (lora?.layout.count ?? layout.count), "backward: gradients must have the trained parameters' layout")
        precondition(lora != nil || isFloat32, "backward: a 16-bit model can only be trained through an adapter")
        precondition(ws.storesAllLayers, "backward needs a training workspace")
        let c = config, N = ws.rows, D = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize
        let qDim = c.qDim, kvDim = c.kvDim
        let grad = gradients.pointer
        let seg = ws.segments
        // (B, T) → (M): rows between segments get no gradient; unscored positions must get none
        let M = ws.scoredRows
        ws.dLogp.pointer.initialize(repeating: 0, count: M)
        for b in 0..<ws.lengths.count {
            let from = min(ws.scoredFrom[b], ws.lengths[b])
            precondition((0..<from).allSatisfy { dLogProbs[b * T + $0] == 0 },
                         "backward: sequence \(b) has a gradient at a position before its first scored one (TokenBatch.scoredFrom)")
            (ws.dLogp.pointer + ws.scoredOffsets[b]).update(from: dLogProbs + b * T + from, count: ws.lengths[b] - from)
        }
        // logp = logits[t] − lse  →  dLogits = dLogp · (onehot − p)
        // (Gemma 2, logits l = c·tanh(r/c): dR = dLogits · (1 − (l/c)²))
        ws.scoredTargets.withUnsafeBufferPointer { tgt in
            if let cap = c.finalLogitSoftcap {
                TargetLogProbs.backwardInPlaceSoftcapped(probsToDLogits: ws.probs.pointer, dLogp: ws.dLogp.pointer, targets: tgt.baseAddress!,
                                                         lse: ws.lseF.pointer, rows: M, vocab: V, cap: Float(cap))
            } else {
                TargetLogProbs.backwardInPlace(probsToDLogits: ws.probs.pointer, dLogp: ws.dLogp.pointer,
                                               targets: tgt.baseAddress!, rows: M, vocab: V)
            }
        }
        let dX = ws.dX.pointer, dNorm = ws.dNorm.pointer
        /// A norm's weight gradient: into `gradients` when training every parameter, discarded with an adapter.
        func normGradient(_ offset: Int) -> UnsafeMutablePointer<Float> { lora == nil ? grad + offset : ws.discardedNormGradient.pointer }
        // logits = normF[scored] Wheadᵀ: dNorm here (unscored rows 0), dW_head at the end (beside the
        // embedding, which it may be). The scored rows' gradient is staged in dX, cleared below.
        dNorm.initialize(repeating: 0, count: N * D)
        if ws.scoresAllRows {
            Linear.batchInvariantInputGradient(dx: dNorm, dy: ws.probs.pointer, weight: matrix(layout.lmHead), rows: N, inFeatures: D, outFeatures: V)
        } else {
            dX.initialize(repeating: 0, count: M * D)
            Linear.batchInvariantInputGradient(dx: dX, dy: ws.probs.pointer, weight: matrix(layout.lmHead), rows: M, inFeatures: D, outFeatures: V)
            ws.scatterScored(dX, into: dNorm)
        }
        // normF = rmsnorm(xOut) ⊙ w_final
        dX.initialize(repeating: 0, count: N * D)
        RMSNorm.backward(dx: dX, dWeight: normGradient(layout.finalNorm), dOut: dNorm, x: ws.xOut.pointer,
                         weight: vector(layout.finalNorm), rstd: ws.rstdF.pointer, rows: N, dim: D,
                         segments: seg, scratch: ws.normScratch.pointer, weightOffset: c.normWeightOffset)

        for l in stride(from: c.numHiddenLayers - 1, through: 0, by: -1) {
            // Activation checkpointing: recompute layer l from its saved input (same ops, same bits);
            // its output is not needed again (xOut's last use, the final norm, is behind us).
            if !ws.storesAllActivations { forwardLayer(l, workspace: ws, output: ws.xOut.pointer) }
            let W = layout.layers[l], s = ws.slot(l)
            let (xIn, n1, r1, q, k, v, att, lse, xMid, n2, r2, gate, up, act) = ws.layerBuffers(l)
            /// Backward of `project` (y (+)= x Wᵀ [+ s · (x Aᵀ) Bᵀ]): dx += dy W [+ LoRA's path];
            /// dW += Σ_seg dyᵀ x when training every parameter, dA and dB with an adapter.
            /// A bias (frozen with an adapter) gets dB += Σ_seg Σ_rows dy.
            func projectBackward(_ m: LoRAModule, _ weight: Int, bias: Int? = nil, dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                 x: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int) {
                guard let lora else {
                    Linear.batchInvariantBackward(dx: dx, dWeight: grad + weight, dy: dy, x: x, weight: self.weight(weight),
                                                  rows: N, segments: seg, inFeatures: inFeatures, outFeatures: outFeatures)
                    // y = x Wᵀ + b  →  dB = Σ_n dy[n]
                    if let bias {
                        Bias.backward(dBias: grad + bias, dy: dy, rows: N, outFeatures: outFeatures, segments: seg,
                                      scratch: ws.normScratch.pointer)
                    }
                    return
                }
                Linear.batchInvariantInputGradient(dx: dx, dy: dy, weight: matrix(weight), rows: N,
                                                   inFeatures: inFeatures, outFeatures: outFeatures)
                if let w = lora.layout.layers[l][m.index] {
                    LoRALinear.backward(dx: dx, dA: grad + w.a, dB: grad + w.b, du: ws.dLoraU.pointer, dy: dy, x: x,
                                        u: ws.loraU(slot: s, m), a: lora.parameters.pointer + w.a, b: lora.parameters.pointer + w.b,
                                        scale: lora.scale, rows: N, segments: seg, inFeatures: inFeatures, outFeatures: outFeatures,
                                        rank: lora.layout.rank)
                }
            }

            /// Backward of `residualProjection` (out = residual + [rmsnorm](x Wᵀ)): dX flows to the residual
            /// unchanged; dx += ∂/∂x, through Gemma 2's norm (∂/∂(x Wᵀ) staged in dNorm) when there is one.
            func residualProjectionBackward(_ m: LoRAModule, _ weight: Int, dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, inFeatures: Int,
                                            norm: (weight: Int, pre: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>)?) {
                guard let norm else {
                    projectBackward(m, weight, dx: dx, dy: dX, x: x, inFeatures: inFeatures, outFeatures: D)
                    return
                }
                dNorm.initialize(repeating: 0, count: N * D)
                RMSNorm.backward(dx: dNorm, dWeight: normGradient(norm.weight), dOut: dX, x: norm.pre, weight: vector(norm.weight),
                                 rstd: norm.rstd, rows: N, dim: D, segments: seg, scratch: ws.normScratch.pointer, weightOffset: c.normWeightOffset)
                projectBackward(m, weight, dx: dx, dy: dNorm, x: x, inFeatures: inFeatures, outFeatures: D)
            }
            let sandwich = c.sandwichNorms ? ws.sandwichBuffers(l) : nil
            // xOut = xMid + act Wdᵀ (Gemma 2: + rmsnorm(act Wdᵀ) ⊙ (1 + w)): dX flows to xMid unchanged, and
            ws.dAct.pointer.initialize(repeating: 0, count: N * F)
            residualProjectionBackward(.down, W.downProj, dx: ws.dAct.pointer, x: act, inFeatures: F,
                                       norm: sandwich.flatMap { s in W.mlpOutputNorm.map { ($0, s.mlpOut, s.rstdMlpOut) } })
            // act = silu(gate) ⊙ up
            ws.dGate.pointer.initialize(repeating: 0, count: N * F)
            ws.dUp.pointer.initialize(repeating: 0, count: N * F)
            if c.usesGeGLU {
                GeGLU.backward(dGate: ws.dGate.pointer, dUp: ws.dUp.pointer, dOut: ws.dAct.pointer, gate: gate, up: up, count: N * F)
            } else {
                SwiGLU.backward(dGate: ws.dGate.pointer, dUp: ws.dUp.pointer, dOut: ws.dAct.pointer,
                                gate: gate, up: up, count: N * F)
            }
            // gate = n2 Wgᵀ, up = n2 Wuᵀ
            dNorm.initialize(repeating: 0, count: N * D)
            projectBackward(.gate, W.gateProj, dx: dNorm, dy: ws.dGate.pointer, x: n2, inFeatures: D, outFeatures: F)
            projectBackward(.up, W.upProj, dx: dNorm, dy: ws.dUp.pointer, x: n2, inFeatures: D, outFeatures: F)
            // n2 = rmsnorm(xMid) ⊙ w_post   (dX += through the norm; dX now = ∂/∂xMid)
            RMSNorm.backward(dx: dX, dWeight: normGradient(W.postNorm), dOut: dNorm, x: xMid, weight: vector(W.postNorm),
                             rstd: r2, rows: N, dim: D, segments: seg, scratch: ws.normScratch.pointer, weightOffset: c.normWeightOffset)
            // xMid = x + att Woᵀ
            ws.dAtt.pointer.initialize(repeating: 0, count: N * qDim)
            residualProjectionBackward(.o, W.oProj, dx: ws.dAtt.pointer, x: att, inFeatures: qDim,
                                       norm: sandwich.flatMap { s in W.attentionOutputNorm.map { ($0, s.attnOut, s.rstdAttnOut) } })
            // att = causal_softmax(q kᵀ / √hd) v
            ws.dQ.pointer.initialize(repeating: 0, count: N * qDim)
            ws.dK.pointer.initialize(repeating: 0, count: N * kvDim)
            ws.dV.pointer.initialize(repeating: 0, count: N * kvDim)
            let sp = spans(ws, k: k, v: v)
            Attention.backward(dq: ws.dQ.pointer,
                               dKeys: ws.offsets.map { ws.dK.pointer + $0 * kvDim },
                               dValues: ws.offsets.map { ws.dV.pointer + $0 * kvDim },
                               dOut: ws.dAtt.pointer, out: att, lse: lse, q: q, spans: sp, shape: attentionShape(layer: l),
                               scratch: ws.attScratch.pointer, maxKeys: ws.maxT)
            // q, k = rope(q), rope(k): inverse rotation of the gradients
            ws.positions.withUnsafeBufferPointer { pos in
                RoPE.apply(ws.dQ.pointer, positions: pos.baseAddress!, rows: N, heads: c.numAttentionHeads, table: rope, inverse: true)
                RoPE.apply(ws.dK.pointer, positions: pos.baseAddress!, rows: N, heads: c.numKeyValueHeads, table: rope, inverse: true)
            }
            // qwen3: q = rmsnorm_head(qPre) ⊙ w_qnorm, k likewise → ∂/∂qPre (in dAtt, free again) and ∂/∂kPre
            var dQProj = ws.dQ.pointer, dKProj = ws.dK.pointer
            if c.qkNorm, let wq = W.qNorm, let wk = W.kNorm {
                let normed = ws.qkNormBuffers(l), hd = c.headDim, H = c.numAttentionHeads, KV = c.numKeyValueHeads
                ws.dAtt.pointer.initialize(repeating: 0, count: N * qDim)
                ws.dKPre.pointer.initialize(repeating: 0, count: N * kvDim)
                RMSNorm.backward(dx: ws.dAtt.pointer, dWeight: normGradient(wq), dOut: ws.dQ.pointer, x: normed.qPre, weight: vector(wq),
                                 rstd: normed.rstdQ, rows: N * H, dim: hd, segments: seg.map { ($0.lowerBound * H)..<($0.upperBound * H) },
                                 scratch: ws.normScratch.pointer)
                RMSNorm.backward(dx: ws.dKPre.pointer, dWeight: normGradient(wk), dOut: ws.dK.pointer, x: normed.kPre, weight: vector(wk),
                                 rstd: normed.rstdK, rows: N * KV, dim: hd, segments: seg.map { ($0.lowerBound * KV)..<($0.upperBound * KV) },
                                 scratch: ws.normScratch.pointer)
                dQProj = ws.dAtt.pointer; dKProj = ws.dKPre.pointer
            }
            // q = n1 Wqᵀ, k = n1 Wkᵀ, v = n1 Wvᵀ
            dNorm.initialize(repeating: 0, count: N * D)
            projectBackward(.q, W.qProj, bias: W.qBias, dx: dNorm, dy: dQProj, x: n1, inFeatures: D, outFeatures: qDim)
            projectBackward(.k, W.kProj, bias: W.kBias, dx: dNorm, dy: dKProj, x: n1, inFeatures: D, outFeatures: kvDim)
            projectBackward(.v, W.vProj, bias: W.vBias, dx: dNorm, dy: ws.dV.pointer, x: n1, inFeatures: D, outFeatures: kvDim)
            // n1 = rmsnorm(x) ⊙ w_in   (dX now = ∂/∂x entering layer l)
            RMSNorm.backward(dx: dX, dWeight: normGradient(W.inputNorm), dOut: dNorm, x: xIn, weight: vector(W.inputNorm),
                             rstd: r1, rows: N, dim: D, segments: seg, scratch: ws.normScratch.pointer, weightOffset: c.normWeightOffset)
        }
        // With an adapter the embedding and lm_head are frozen: nothing more to do.
        guard lora == nil else { return }
        // x = embed[tokens]  and  logits = normF Wheadᵀ (dW_head): segment by segment, the embedding's
        // scatter-add first, so a tied matrix receives its two contributions in the same order
        // whatever the batch composition. Threads own blocks of vocabulary rows. The pad token's row
        // gets no lookup gradient (transformers' nn.Embedding(padding_idx=pad_token_id)).
        let dEmbedding = grad + layout.embedding
        // Gemma's x = embed[tokens] · √hidden: the lookup gradient is dX · √hidden (dX is not read again)
        if let scale = c.embeddingScale { VectorMath.scale(scale, dX, N * D) }
        let padding = c.padTokenID.flatMap { $0 >= 0 && $0 < V ? Int32($0) : nil }
        ws.packedTokens.withUnsafeBufferPointer { tok in
            Linear.weightGradient(dWeight: grad + layout.lmHead, dy: ws.probs.pointer,
                                  x: ws.scoresAllRows ? ws.normF.pointer : ws.normScored.pointer, segments: ws.scoredSegments,
                                  inFeatures: D, outFeatures: V) { s, vocabRows in
                Embedding.backward(dTable: dEmbedding, dOut: dX, tokens: tok.baseAddress!, rows: seg[s],
                                   tableRows: vocabRows, dim: D, paddingToken: padding)
            }
        }
    }

    /// Drops padding: rows are the valid tokens of each sequence in order, each gradient segment
    /// starting at a multiple of `Matmul.rowTile` (the rows between segments hold token 0 at
    /// position 0: computed like any row, read by nothing, and given zero gradient).
    func pack(_ batch: TokenBatch, into ws: TrainingWorkspace, scoreAll: Bool = false) throws {
        let rows = batch.packedRows
        guard rows <= ws.capacity else { throw BatchError.overCapacity(rows: rows, capacity: ws.capacity) }
        ws.offsets = []; ws.lengths = batch.lengths; ws.segments = []
        ws.maxT = batch.lengths.max() ?? 0
        guard ws.maxT <= ws.maxSequenceLength else { throw BatchError.overCapacity(rows: ws.maxT, capacity: ws.maxSequenceLength) }
        var n = 0
        func alignToTile() {   // rows up to the next multiple of the tile: token 0 at position 0
            while n % Matmul.rowTile != 0 { ws.packedTokens[n] = 0; ws.packedTargets[n] = 0; ws.positions[n] = 0; n += 1 }
        }
        for b in 0..<batch.batchSize {
            if b % batch.sequencesPerSegment == 0 {
                alignToTile()
                ws.segments.append(n..<n)
            }
            let len = batch.lengths[b]
            guard len <= config.maxPositionEmbeddings else {
                throw BatchError.tooLong(sequence: b, length: len, maxPositions: config.maxPositionEmbeddings)
            }
            ws.offsets.append(n)
            for t in 0..<len {
                let tok = batch.tokens[b * batch.maxLength + t], tgt = batch.targets[b * batch.maxLength + t]
                guard tok >= 0 && Int(tok) < config.vocabSize else {
                    throw BatchError.tokenOutOfRange(sequence: b, position: t, token: tok, vocab: config.vocabSize)
                }
                guard tgt >= 0 && Int(tgt) < config.vocabSize else {
                    throw BatchError.tokenOutOfRange(sequence: b, position: t, token: tgt, vocab: config.vocabSize)
                }
                ws.packedTokens[n] = tok; ws.packedTargets[n] = tgt; ws.positions[n] = Int32(t)
                n += 1
            }
            ws.segments[ws.segments.count - 1] = ws.segments[ws.segments.count - 1].lowerBound ..< n
        }
        alignToTile()
        ws.rows = n
        ws.packScoredRows(scoredFrom: scoreAll ? nil : batch.scoredFrom, sequencesPerSegment: batch.sequencesPerSegment)
    }

    func spans(_ ws: TrainingWorkspace, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) -> [AttentionSpan] {
        (0..<ws.lengths.count).map { b in
            AttentionSpan(queryRow: ws.offsets[b], queryCount: ws.lengths[b], start: 0,
                          keys: k + ws.offsets[b] * config.kvDim, values: v + ws.offsets[b] * config.kvDim)
        }
    }
}

extension TrainingWorkspace {
    /// Lays out the scored rows after `pack`: each sequence's positions from `scoredFrom[b]` on, each
    /// gradient segment's scored rows starting at a multiple of the row tile (so a scored row's
    /// lm_head product never depends on the rest of the batch). nil, or 0 everywhere: every row.
    func packScoredRows(scoredFrom from: [Int]?, sequencesPerSegment: Int) {
        let B = lengths.count
        guard let from, from.contains(where: { $0 > 0 }) else {
            scoresAllRows = true
            scoredSource = []; scoredTargets = packedTargets; scoredOffsets = offsets
            scoredFrom = Array(repeating: 0, count: B); scoredSegments = segments; scoredRows = rows
            return
        }
        scoresAllRows = false
        scoredSource.removeAll(keepingCapacity: true); scoredTargets.removeAll(keepingCapacity: true)
        scoredOffsets = []; scoredFrom = from.enumerated().map { min($1, lengths[$0]) }; scoredSegments = []
        func alignToTile() { while scoredSource.count % Matmul.rowTile != 0 { scoredSource.append(-1); scoredTargets.append(0) } }
        for b in 0..<B {
            if b % sequencesPerSegment == 0 {
                alignToTile()
                scoredSegments.append(scoredSource.count..<scoredSource.count)
            }
            scoredOffsets.append(scoredSource.count)
            for t in scoredFrom[b]..<lengths[b] {
                scoredSource.append(offsets[b] + t); scoredTargets.append(packedTargets[offsets[b] + t])
            }
            scoredSegments[scoredSegments.count - 1] = scoredSegments[scoredSegments.count - 1].lowerBound ..< scoredSource.count
        }
        alignToTile()
        scoredRows = scoredSource.count
    }

    /// The scored rows of `rowsBuffer` (N, D) into `out` (M, D), alignment rows 0; returns `out`.
    func gatherScored(_ rowsBuffer: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        for (j, r) in scoredSource.enumerated() {
            if r < 0 { (out + j * D).initialize(repeating: 0, count: D) } else { (out + j * D).update(from: rowsBuffer + r * D, count: D) }
        }
        return out
    }

    /// Adds the scored rows `scored` (M, D) to their rows of `rowsBuffer` (N, D).
    func scatterScored(_ scored: UnsafePointer<Float>, into rowsBuffer: UnsafeMutablePointer<Float>) {
        for (j, r) in scoredSource.enumerated() where r >= 0 {
            let dst = rowsBuffer + r * D, src = scored + j * D
            for i in 0..<D { dst[i] += src[i] }
        }
    }

    /// Per-scored-row values (M) → (B, T): 0 before each sequence's first scored position and at padding.
    func unpackScored(_ values: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, maxLength T: Int) {
        out.initialize(repeating: 0, count: lengths.count * T)
        for b in 0..<lengths.count {
            (out + b * T + scoredFrom[b]).update(from: values + scoredOffsets[b], count: lengths[b] - scoredFrom[b])
        }
    }
}
