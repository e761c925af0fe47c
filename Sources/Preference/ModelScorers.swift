// Model-backed scoring on token ids: the pairwise A/B preference model (last-position logits of the
// tokens "A" and "B", with the text shared by a prompt's comparisons prefilled once and reused
// through the KV cache), the scalar reward model (LlamaForSequenceClassification's `score` head on
// the last token) and the general preference model (2k-dim embedding head, skew-symmetric score).

import Foundation
import Kernels
import Llama

/// The pairwise preference model of RLHFlow (seed 001): P(A) = softmax([l_A, l_B] / T)[0] at the last
/// position of the prompt that shows two responses as A and B.
public final class PairwiseScorer {
    public let model: LlamaModel
    public let tokenA: Int32
    public let tokenB: Int32
    public let temperature: Double
    /// Tokens computed by the model so far (prefix prefills + suffixes), and what a naive
    /// implementation (every sequence from scratch) would have computed.
    public private(set) var computedTokens = 0
    public private(set) var naiveTokens = 0

    private var cache: KVCache
    private var session: InferenceSession
    private var prefix: [Int32] = []

    public init(model: LlamaModel, tokenA: Int32, tokenB: Int32, temperature: Double = 1, maxLength: Int = 4096) {
        self.model = model; self.tokenA = tokenA; self.tokenB = tokenB; self.temperature = temperature
        let length = min(maxLength, model.config.maxPositionEmbeddings)
        cache = KVCache(config: model.config, slots: 3, maxLength: length)
        // both orders in one call; only each order's last row of logits is read (2 rows, not 2 × length)
        session = InferenceSession(model: model, cache: cache, maxRows: 2 * length, logitRows: 2)
    }

    /// Makes `tokens` the shared prefix (slot 0) for the following `probabilityA` calls of one prompt.
    public func setSharedPrefix(_ tokens: [Int32]) throws {
        guard tokens != prefix else { return }
        prefix = []
        cache.reset(slot: 0)
        if !tokens.isEmpty {
            try session.extend(slots: [0], tokens: [tokens])
            computedTokens += tokens.count
        }
        prefix = tokens
    }

    /// P(A) for each full prompt sequence (each must hold at least one token beyond its common
    /// prefix with the shared prefix). Both sequences are continued from forks of the shared prefix
    /// and run in one batch.
    public func probabilityA(_ sequences: [[Int32]]) throws -> [Double] {
        precondition(sequences.count <= 2, "at most two sequences per call (the two orders of a comparison)")
        var slots: [Int] = [], suffixes: [[Int32]] = []
        for (i, seq) in sequences.enumerated() {
            let slot = i + 1
            var common = 0
            while common < min(prefix.count, seq.count - 1) && prefix[common] == seq[common] { common += 1 }
            cache.fork(from: 0, to: slot)
            cache.truncate(slot: slot, to: common)
            slots.append(slot)
            suffixes.append(Array(seq[common...]))
            computedTokens += seq.count - common
            naiveTokens += seq.count
        }
        try session.extend(slots: slots, tokens: suffixes)
        let V = model.config.vocabSize
        return (0..<sequences.count).map { row in
            let l = session.logits.pointer + row * V
            let a = Double(l[Int(tokenA)]) / temperature, b = Double(l[Int(tokenB)]) / temperature
            let m = max(a, b)
            return exp(a - m) / (exp(a - m) + exp(b - m))
        }
    }
}

/// A scalar reward model: r = w · h_last (LlamaForSequenceClassification, num_labels = 1).
public final class RewardScorer {
    public let model: LlamaModel
    let head: [Float]      // (D)
    private let cache: KVCache
    private let session: InferenceSession

    public init(model: LlamaModel, scoreWeight: [Float], maxLength: Int = 4096) {
        precondition(scoreWeight.count == model.config.hiddenSize, "score.weight must be (1, hidden)")
        self.model = model; head = scoreWeight
        let length = min(maxLength, model.config.maxPositionEmbeddings)
        cache = KVCache(config: model.config, slots: 1, maxLength: length)
        session = InferenceSession(model: model, cache: cache, maxRows: length, logitRows: 1)   // no lm_head: hidden states only
    }

    /// The reward of a full (prompt + response) token sequence: the head on the last token's final hidden state.
    public func reward(_ tokens: [Int32]) throws -> Double {
        cache.reset(slot: 0)
        try session.extend(slots: [0], tokens: [tokens], hiddenOnly: true)
        let D = model.config.hiddenSize
        return head.withUnsafeBufferPointer { Double(VectorMath.dot($0.baseAddress!, session.hidden, D)) }
    }
}

/// The general preference model (GPM): v = normalize(W · h_last) ∈ R^{2k}; with R the
/// block-diagonal of [[0, −1], [1, 0]], s(i ≻ j) = ⟨R v_i, v_j⟩ (skew-symmetric) and
/// P(i ≻ j) = σ(s(i ≻ j) / τ).
public final class GeneralPreferenceScorer {
    public let model: LlamaModel
    let head: [Float]      // (2k, D)
    public let dimension: Int
    public let tau: Double
    private let cache: KVCache
    private let session: InferenceSession

    public init(model: LlamaModel, headWeight: [Float], tau: Double = 0.1, maxLength: Int = 4096) {
        let D = model.config.hiddenSize
        precondition(headWeight.count % D == 0 && (headWeight.count / D) % 2 == 0, "GPM head must be (2k, hidden)")
        self.model = model; head = headWeight; dimension = headWeight.count / D; self.tau = tau
        let length = min(maxLength, model.config.maxPositionEmbeddings)
        cache = KVCache(config: model.config, slots: 1, maxLength: length)
        session = InferenceSession(model: model, cache: cache, maxRows: length, logitRows: 1)   // no lm_head: hidden states only
    }

    /// The unit preference embedding of a full token sequence.
    public func embedding(_ tokens: [Int32]) throws -> [Double] {
        cache.reset(slot: 0)
        try session.extend(slots: [0], tokens: [tokens], hiddenOnly: true)
        let D = model.config.hiddenSize
        var v = head.withUnsafeBufferPointer { w in (0..<dimension).map { Double(VectorMath.dot(w.baseAddress! + $0 * D, session.hidden, D)) } }
        let norm = max(1e-12, v.reduce(0) { $0 + $1 * $1 }.squareRoot())
        v = v.map { $0 / norm }
        return v
    }

    /// s(i ≻ j) = ⟨R v_i, v_j⟩ = Σ_blocks (v_i[2b]·v_j[2b+1] − v_i[2b+1]·v_j[2b])
    public static func score(_ vi: [Double], _ vj: [Double]) -> Double {
        var s = 0.0
        var b = 0
        while b + 1 < vi.count { s += vi[b] * vj[b + 1] - vi[b + 1] * vj[b]; b += 2 }
        return s
    }

    /// The k × k matrices of scores s and probabilities σ(s/τ).
    public func matrices(_ embeddings: [[Double]]) -> (scores: [[Double]], probabilities: [[Double]]) {
        let k = embeddings.count
        var s = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for i in 0..<k { for j in 0..<k where i != j { s[i][j] = Self.score(embeddings[i], embeddings[j]) } }
        return (s, s.map { $0.map { 1 / (1 + exp(-$0 / tau)) } })
    }
}
