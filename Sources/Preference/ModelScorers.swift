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
        session = InferenceSession(model: model, cache: cache, maxRows: min(length, PairwiseScorer.rowsPerCall), logitRows: 1)   // no lm_head: hidden states only
    }

    /// The unit preference embedding of a full token sequence.
    public func embedding(_ tokens: [Int32]) throws -> [Double] {
        cache.reset(slot: 0)
        try session.extendInCalls(slot: 0, tokens: tokens, hiddenOnly: true)
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
