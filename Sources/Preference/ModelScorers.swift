// Model-backed scoring on token ids: the pairwise A/B preference model (last-position logits of the
// tokens "A" and "B", with the text shared by a prompt's comparisons prefilled once and reused
// through the KV cache), the scalar reward model (LlamaForSequenceClassification's `score` head on
// the last token) and the general preference model (2k-dim embedding head, skew-symmetric score).

import Foundation
import Kernels
import Llama

/// Where a pairwise judge's P(A) comes from: idpo's engine (`PairwiseScorer`) or a serving engine.
public protocol PairwiseProbabilities: AnyObject {
    /// The prefix every sequence of the coming comparisons shares (computed once where possible).
    func setSharedPrefix(_ tokens: [Int32]) throws
    /// P(A) = softmax([l_A, l_B] / T)[0] at the last position of each sequence.
    func probabilityA(_ sequences: [[Int32]]) throws -> [Double]
    var computedTokens: Int { get }
    var naiveTokens: Int { get }
}

/// The pairwise preference model of RLHFlow (seed 001): P(A) = softmax([l_A, l_B] / T)[0] at the last
/// position of the prompt that shows two responses as A and B.
public final class PairwiseScorer: PairwiseProbabilities {
    public let model: LlamaModel
    public let tokenA: Int32
    public let tokenB: Int32
    public let temperature: Double
    /// Tokens computed by the model so far (prefix prefills + suffixes), and what a naive
    /// implementation (every sequence from scratch) would have computed.
    public private(set) var computedTokens = 0
    public private(set) var naiveTokens = 0

    /// Longest input this scorer accepts (min of the model's positions and `maxLength`).
    public let lengthLimit: Int
    /// KV slots kept: slot 0 holds the shared prefix of the current prompt, the others the most
    /// recently scored sequences. Every new sequence continues from the kept one it shares the
    /// longest prefix with: "[CONTEXT] c [RESPONSE A] r_i [RESPONSE B]" is computed once per
    /// response r_i shown as A, not once per comparison (a knockout of k shows each response as A
    /// in several comparisons).
    public private(set) var keptSlots: Int
    private let desiredSlots: Int
    private var cache: KVCache
    private var session: InferenceSession
    /// What each slot holds (token ids) and when it was last used.
    private var held: [[Int32]]
    private var lastUse: [Int]
    private var clock = 0

    /// The KV slots kept for inputs of up to `length` tokens: `desired`, capped so that the cache
    /// stays within a sixteenth of this machine's memory; below 5 only the shared prefix is reused
    /// (3 slots: the prefix and the two orders of a comparison).
    static func slots(config c: LlamaConfig, length: Int, desired: Int) -> Int {
        let perSlot = max(1, KVCache.estimatedBytes(config: c, slots: 1, maxLength: length))
        let fit = min(desired, MemoryBudget.physicalBytes / 16 / perSlot)
        return fit >= 5 ? fit : 3
    }

    /// New tokens one model call processes per sequence: longer prefills run in several calls, so the
    /// inference scratch stays at 2 × this many rows whatever the input length (an 8B judge's
    /// activations for 2 × 1,100 rows at once were 0.7 GB).
    public static let rowsPerCall = 256

    /// The cache starts at 512 positions and grows to the longest input seen.
    public init(model: LlamaModel, tokenA: Int32, tokenB: Int32, temperature: Double = 1, maxLength: Int = 4096,
                keptSlots: Int = 17) {
        self.model = model; self.tokenA = tokenA; self.tokenB = tokenB; self.temperature = temperature
        lengthLimit = min(maxLength, model.config.maxPositionEmbeddings)
        desiredSlots = max(5, keptSlots)
        let length = min(512, lengthLimit)
        self.keptSlots = Self.slots(config: model.config, length: length, desired: desiredSlots)
        cache = KVCache(config: model.config, slots: self.keptSlots, maxLength: length)
        // both orders in one call; only each order's last row of logits is read (2 rows, not 2 × length)
        session = InferenceSession(model: model, cache: cache, maxRows: 2 * Self.rowsPerCall, logitRows: 2)
        held = Array(repeating: [], count: self.keptSlots)
        lastUse = Array(repeating: 0, count: self.keptSlots)
    }

    /// Peak bytes of the cache and scratch once inputs of `length` tokens have been scored.
    public static func estimatedBytes(config c: LlamaConfig, length: Int, keptSlots: Int = 17) -> (cache: Int, scratch: Int) {
        let limit = min(length, c.maxPositionEmbeddings)
        return (KVCache.estimatedBytes(config: c, slots: slots(config: c, length: limit, desired: max(5, keptSlots)), maxLength: limit),
                InferenceSession.estimatedBytes(config: c, maxRows: 2 * min(limit, rowsPerCall), maxKeys: limit, logitRows: 2))
    }

    /// Grows the cache and scratch (by a quarter more than asked) to hold `length` positions; the
    /// kept sequences are dropped, the shared prefix is computed again.
    private func reserve(length: Int) throws {
        guard length > cache.maxLength else { return }
        guard length <= lengthLimit else {
            throw InferenceError.cacheFull(slot: 0, needed: length, capacity: lengthLimit)
        }
        let prefix = held[0]
        let grown = min(lengthLimit, max(length, cache.maxLength + cache.maxLength / 4, length + length / 4))
        keptSlots = Self.slots(config: model.config, length: grown, desired: desiredSlots)
        // the old cache is released before the new one is allocated (never both at once)
        session = InferenceSession(model: model, cache: KVCache(config: model.config, slots: 1, maxLength: 1), maxRows: 1, logitRows: 1)
        cache = KVCache(config: model.config, slots: 1, maxLength: 1)
        cache = KVCache(config: model.config, slots: keptSlots, maxLength: grown)
        session = InferenceSession(model: model, cache: cache, maxRows: 2 * Self.rowsPerCall, logitRows: 2)
        held = Array(repeating: [], count: keptSlots)
        lastUse = Array(repeating: 0, count: keptSlots)
        if !prefix.isEmpty {
            _ = try extend(slots: [0], tokens: [prefix])
            computedTokens += prefix.count
            held[0] = prefix
        }
    }

    /// Appends `tokens[i]` to slot `slots[i]` in calls of at most `rowsPerCall` tokens per slot;
    /// returns (P(A) read off) each sequence's last-token logits.
    private func extend(slots: [Int], tokens: [[Int32]]) throws -> [Double] {
        var done = Array(repeating: 0, count: slots.count)
        var probabilities = Array(repeating: Double.nan, count: slots.count)
        let V = model.config.vocabSize
        while true {
            var callSlots: [Int] = [], callTokens: [[Int32]] = [], members: [Int] = []
            for i in slots.indices where done[i] < tokens[i].count {
                let n = min(Self.rowsPerCall, tokens[i].count - done[i])
                callSlots.append(slots[i]); callTokens.append(Array(tokens[i][done[i]..<(done[i] + n)])); members.append(i)
                done[i] += n
            }
            if callSlots.isEmpty { return probabilities }
            try session.extend(slots: callSlots, tokens: callTokens)
            for (row, i) in members.enumerated() where done[i] == tokens[i].count {
                let l = session.logits.pointer + row * V
                let a = Double(l[Int(tokenA)]) / temperature, b = Double(l[Int(tokenB)]) / temperature
                let m = max(a, b)
                probabilities[i] = exp(a - m) / (exp(a - m) + exp(b - m))
            }
        }
    }

    /// Makes `tokens` the shared prefix (slot 0) for the following `probabilityA` calls of one prompt.
    /// The sequences kept from the previous prompt are dropped even when the prefix is the same, so a
    /// prompt's probabilities never depend on which prompt came before it (a resumed run judges
    /// from a batch boundary).
    public func setSharedPrefix(_ tokens: [Int32]) throws {
        for s in 1..<keptSlots { held[s] = []; cache.reset(slot: s) }
        guard tokens != held[0] else { return }
        held[0] = []; cache.reset(slot: 0)
        if !tokens.isEmpty {
            try reserve(length: tokens.count)
            _ = try extend(slots: [0], tokens: [tokens])
            computedTokens += tokens.count
        }
        held[0] = tokens
    }

    /// Length of the common prefix of `a` and `b`, at most `limit`.
    @inline(__always) static func commonPrefix(_ a: [Int32], _ b: [Int32], limit: Int) -> Int {
        var n = 0
        let m = min(limit, a.count, b.count)
        while n < m && a[n] == b[n] { n += 1 }
        return n
    }

    /// P(A) for each full prompt sequence (each computes at least its last token). Both sequences
    /// continue from the kept slots they share the longest prefixes with and run in one batch.
    public func probabilityA(_ sequences: [[Int32]]) throws -> [Double] {
        precondition(sequences.count <= 2, "at most two sequences per call (the two orders of a comparison)")
        try reserve(length: sequences.map(\.count).max() ?? 0)
        clock += 1
        // Sources first (they must not be overwritten in this call), then the least recently used
        // other slots as targets (never slot 0, the shared prefix).
        var sources: [(slot: Int, common: Int)] = []
        for seq in sequences {
            var best = (slot: 0, common: Self.commonPrefix(held[0], seq, limit: seq.count - 1))
            for s in 1..<keptSlots where keptSlots >= 5 && !held[s].isEmpty {
                let c = Self.commonPrefix(held[s], seq, limit: seq.count - 1)
                if c > best.common { best = (s, c) }
            }
            sources.append(best)
            lastUse[best.slot] = clock
        }
        var targets: [Int] = []
        for _ in sequences {
            let busy = Set(sources.map(\.slot) + targets)
            let target = (1..<keptSlots).filter { !busy.contains($0) }.min { lastUse[$0] < lastUse[$1] }!
            targets.append(target)
        }
        var suffixes: [[Int32]] = []
        for (i, seq) in sequences.enumerated() {
            let (source, common) = sources[i]
            cache.fork(from: source, to: targets[i], length: common)
            held[targets[i]] = seq
            lastUse[targets[i]] = clock
            suffixes.append(Array(seq[common...]))
            computedTokens += seq.count - common
            naiveTokens += seq.count
        }
        return try extend(slots: targets, tokens: suffixes)
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
        session = InferenceSession(model: model, cache: cache, maxRows: min(length, PairwiseScorer.rowsPerCall), logitRows: 1)   // no lm_head: hidden states only
    }

    /// The reward of a full (prompt + response) token sequence: the head on the last token's final hidden state.
    public func reward(_ tokens: [Int32]) throws -> Double {
        cache.reset(slot: 0)
        try session.extendInCalls(slot: 0, tokens: tokens, hiddenOnly: true)
        let D = model.config.hiddenSize
        return head.withUnsafeBufferPointer { Double(VectorMath.dot($0.baseAddress!, session.hidden, D)) }
    }
}

/// A preference model asked for something its inputs do not allow (message says what).
public struct PreferenceModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One response's output of the general preference model: its unit preference vector and, with a
/// prompt head, the block weights read at the last prompt token.
public struct PreferenceEmbedding: Equatable, Sendable {
    /// v = normalize(W_value · h_last) ∈ R^d, d = value_head rows (even).
    public var vector: [Double]
    /// w = softmax(W_prompt · h_prompt) ∈ R^{d/2}; nil without a prompt head (every w_b = 1).
    public var blockWeights: [Double]?
}

/// The general preference model (GPM, the GPM repository's inference): a backbone whose final hidden
/// state at the last token gives v = normalize(W_value · h_last) ∈ R^d (`value_head.weight`, (d, D),
/// d even), and, when the checkpoint has `prompt_head.weight` (d/2, D), block weights
/// w = softmax(W_prompt · h_p) at the prompt's last token p. With R = block-diag of w_b·[[0, −1], [1, 0]],
/// s(i ≻ j) = v_i·Rᵀ·v_j = Σ_b w_b (v_i[2b]·v_j[2b+1] − v_i[2b+1]·v_j[2b]) (w from i's sequence; w_b = 1
/// without a prompt head) and P(i ≻ j) = σ(s(i ≻ j) / τ). One forward pass per response; a response
/// continues from the KV cache of the tokens it shares with the previous one (the prompt).
public final class GeneralPreferenceScorer {
    public let model: LlamaModel
    let valueHead: [Float]      // (d, D)
    let promptHead: [Float]?    // (d/2, D)
    /// d: the length of v (rows of value_head.weight).
    public let dimension: Int
    public let tau: Double
    /// Longest input accepted (min of the model's positions and `maxLength`).
    public let lengthLimit: Int
    private let cache: KVCache
    private let session: InferenceSession
    /// The tokens slot 0 holds, and the block weights of its first `promptLength` tokens.
    private var held: [Int32] = []
    private var heldWeights: (promptLength: Int, weights: [Double])? = nil
    /// Tokens computed so far, and what scoring every sequence from scratch would have computed.
    public private(set) var computedTokens = 0
    public private(set) var naiveTokens = 0

    /// `valueHead` is (d, D) row-major, `promptHead` (d/2, D) or nil.
    public init(model: LlamaModel, valueHead: [Float], promptHead: [Float]? = nil, tau: Double = 0.1, maxLength: Int = 4096) {
        let D = model.config.hiddenSize
        precondition(valueHead.count % D == 0 && (valueHead.count / D) % 2 == 0 && valueHead.count > 0, "GPM value head must be (d, hidden), d even")
        let d = valueHead.count / D
        precondition(promptHead.map { $0.count == d / 2 * D } ?? true, "GPM prompt head must be (d/2, hidden)")
        self.model = model; self.valueHead = valueHead; dimension = d; self.tau = tau
        self.promptHead = promptHead
        lengthLimit = min(maxLength, model.config.maxPositionEmbeddings)
        cache = KVCache(config: model.config, slots: 1, maxLength: lengthLimit)
        session = InferenceSession(model: model, cache: cache, maxRows: min(lengthLimit, PairwiseScorer.rowsPerCall), logitRows: 1)   // no lm_head: hidden states only
    }

    /// `rows` · h for the session's current hidden state: (rows.count / D) dot products.
    private func project(_ rows: [Float]) -> [Double] {
        let D = model.config.hiddenSize
        return rows.withUnsafeBufferPointer { w in (0..<(rows.count / D)).map { Double(VectorMath.dot(w.baseAddress! + $0 * D, session.hidden, D)) } }
    }

    /// The embedding of a full token sequence whose first `promptLength` tokens are the prompt (the
    /// prompt head reads the hidden state at index promptLength − 1 of this very sequence, as the
    /// repository's gather does; it needs 1 ≤ promptLength < tokens.count).
    public func embedding(_ tokens: [Int32], promptLength: Int? = nil) throws -> PreferenceEmbedding {
        guard !tokens.isEmpty else { throw PreferenceModelError("the general preference model got an empty sequence") }
        guard tokens.count <= lengthLimit else {
            throw PreferenceModelError("a \(tokens.count)-token input is longer than the general preference model's limit of \(lengthLimit) tokens")
        }
        var common = 0
        let limit = tokens.count - 1          // the last token is always computed (its hidden state is read)
        while common < min(limit, held.count, cache.lengths[0]) && held[common] == tokens[common] { common += 1 }
        // until this sequence is in, the slot holds nothing reusable (a failed extend leaves it part-written)
        let heldPromptWeights = heldWeights
        held = []; heldWeights = nil
        var weights: [Double]? = nil
        if let promptHead {
            guard let p = promptLength, p >= 1, p < tokens.count else {
                throw PreferenceModelError("the prompt head needs the prompt's length in 1..<\(tokens.count) (the sequence's length), got \(promptLength.map(String.init) ?? "none")")
            }
            if let h = heldPromptWeights, h.promptLength == p, common >= p {
                weights = h.weights       // the hidden state at p − 1 depends on the shared tokens only
            } else {
                common = min(common, p - 1)
                cache.truncate(slot: 0, to: common)
                try session.extendInCalls(slot: 0, tokens: Array(tokens[common..<p]), hiddenOnly: true)
                computedTokens += p - common
                // w = softmax(W_prompt · h_{p−1})
                let logits = project(promptHead)
                let m = logits.max()!
                let e = logits.map { exp($0 - m) }, z = e.reduce(0, +)
                weights = e.map { $0 / z }
                common = p
            }
        }
        cache.truncate(slot: 0, to: common)
        try session.extendInCalls(slot: 0, tokens: Array(tokens[common...]), hiddenOnly: true)
        computedTokens += tokens.count - common
        naiveTokens += tokens.count
        held = tokens
        heldWeights = weights.flatMap { w in promptLength.map { ($0, w) } }
        var v = project(valueHead)
        // F.normalize(x, p = 2): x / max(‖x‖, 1e-12)
        let norm = max(1e-12, v.reduce(0) { $0 + $1 * $1 }.squareRoot())
        v = v.map { $0 / norm }
        return PreferenceEmbedding(vector: v, blockWeights: weights)
    }

    /// s(i ≻ j) = Σ_b w_b (v_i[2b]·v_j[2b+1] − v_i[2b+1]·v_j[2b]), w = i's block weights (1 without).
    public static func score(_ i: PreferenceEmbedding, _ j: PreferenceEmbedding) -> Double {
        let vi = i.vector, vj = j.vector
        var s = 0.0
        var b = 0
        while b + 1 < vi.count {
            s += (i.blockWeights?[b / 2] ?? 1) * (vi[b] * vj[b + 1] - vi[b + 1] * vj[b])
            b += 2
        }
        return s
    }

    /// The k × k matrices of scores s (diagonal 0) and probabilities σ(s/τ) (diagonal ½).
    public func matrices(_ embeddings: [PreferenceEmbedding]) -> (scores: [[Double]], probabilities: [[Double]]) {
        let k = embeddings.count
        var s = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for i in 0..<k { for j in 0..<k where i != j { s[i][j] = Self.score(embeddings[i], embeddings[j]) } }
        return (s, s.map { $0.map { 1 / (1 + exp(-$0 / tau)) } })
    }
}
