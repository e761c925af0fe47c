// Memory planned, not discovered: byte estimates of what each stage allocates (weights, KV cache,
// inference scratch, training activations, optimizer moments), computed from the configuration
// before anything is allocated, and a check that refuses work this machine cannot hold with
// "needs about X GB; this machine has Y GB" — instead of a crash deep inside an allocation.

import Foundation
import Kernels

/// A refused plan: what it needed, what the machine has, and the largest parts.
public struct MemoryBudgetError: Error, CustomStringConvertible {
    public let what: String
    public let plan: MemoryPlan
    public let available: Int
    public var description: String {
        "\(what) needs about \(MemoryPlan.gigabytes(plan.total)); this machine has \(MemoryPlan.gigabytes(available)) (\(plan.summary)). "
            + "Lower the sizes named above (batch, k, lengths) or use a smaller model."
    }
}

/// Named byte counts that add up to a stage's peak; arithmetic saturates instead of overflowing, so
/// absurd sizes (a config with hidden_size 10⁹) give a huge estimate rather than a trap.
public struct MemoryPlan: CustomStringConvertible, Sendable {
    public private(set) var parts: [(name: String, bytes: Int)] = []
    public init() {}

    public mutating func add(_ name: String, _ bytes: Int) { parts.append((name, bytes)) }

    /// Σ parts, saturating at Int.max.
    public var total: Int { parts.reduce(0) { MemoryPlan.sum($0, $1.bytes) } }

    public var summary: String {
        parts.filter { $0.bytes > 0 }.map { "\($0.name) \(MemoryPlan.gigabytes($0.bytes))" }.joined(separator: ", ")
    }
    public var description: String { "\(MemoryPlan.gigabytes(total)) (\(summary))" }

    /// Throws when the plan exceeds the machine's physical memory.
    public func require(_ what: String) throws {
        let available = MemoryBudget.physicalBytes
        if total > available { throw MemoryBudgetError(what: what, plan: self, available: available) }
    }

    /// a · b · … in bytes, saturating at Int.max (negative factors count as 0).
    public static func product(_ factors: Int...) -> Int {
        var p = 1
        for f in factors {
            guard f > 0 else { return 0 }
            let (r, overflow) = p.multipliedReportingOverflow(by: f)
            if overflow { return Int.max }
            p = r
        }
        return p
    }

    public static func sum(_ a: Int, _ b: Int) -> Int {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : r
    }

    /// "1.6 GB" (10⁹ bytes; "MB" below one GB; saturated sizes as "more than …").
    public static func gigabytes(_ bytes: Int) -> String {
        bytes == Int.max ? "more than " + gigabytes(Double(bytes)) : gigabytes(Double(bytes))
    }

    public static func gigabytes(_ bytes: Double) -> String {
        let g = bytes / 1e9
        if g >= 100 { return String(format: "%.0f GB", g) }
        return g >= 1 ? String(format: "%.1f GB", g) : String(format: "%.0f MB", bytes / 1e6)
    }
}

public enum MemoryBudget {
    /// Physical memory of this machine (sysconf), or Int.max when unknown.
    public static var physicalBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        return MemoryPlan.product(pages, size)
    }
}

extension LlamaConfig {
    /// Parameters of this configuration (with or without lm_head), computed without allocating.
    public func parameterCount(languageModelHead: Bool = true) -> Int {
        let D = hiddenSize, F = intermediateSize
        let perLayer = MemoryPlan.sum(MemoryPlan.sum(MemoryPlan.product(D, qDim, 2), MemoryPlan.product(D, kvDim, 2)),
                                      MemoryPlan.sum(MemoryPlan.product(3, D, F), MemoryPlan.product(sandwichNorms ? 4 : 2, D)))
        var n = MemoryPlan.sum(MemoryPlan.product(vocabSize, D), MemoryPlan.product(numHiddenLayers, perLayer))
        n = MemoryPlan.sum(n, D)
        if languageModelHead && !tieWordEmbeddings { n = MemoryPlan.sum(n, MemoryPlan.product(vocabSize, D)) }
        return n
    }

    /// float32 bytes of the parameters.
    public var parameterBytes: Int { MemoryPlan.product(parameterCount(), 4) }
}

extension KVCache {
    /// Bytes of a cache for `slots` sequences of up to `maxLength` positions (keys and values).
    public static func estimatedBytes(config c: LlamaConfig, slots: Int, maxLength: Int) -> Int {
        MemoryPlan.product(2, c.numHiddenLayers, slots, min(maxLength, c.maxPositionEmbeddings), c.kvDim, 4)
    }
}

extension InferenceSession {
    /// Bytes of a session's scratch for up to `maxRows` new tokens per call (logits included).
    public static func estimatedBytes(config c: LlamaConfig, maxRows R: Int, maxKeys: Int, logitRows: Int? = nil) -> Int {
        let perRow = 3 * c.hiddenSize + 2 * c.qDim + 2 * c.kvDim + c.numAttentionHeads + 3 * c.intermediateSize + 1
        let logits = MemoryPlan.product(min(R, logitRows ?? R), c.vocabSize, 4)
        return MemoryPlan.sum(MemoryPlan.sum(MemoryPlan.product(R, perRow, 4), logits),
                              MemoryPlan.product(Attention.scratchCount(maxKeys: min(maxKeys, c.maxPositionEmbeddings)), 4))
    }
}

extension TrainingWorkspace {
    /// Bytes `TrainingWorkspace(config:capacity:maxSequenceLength:training:activationCheckpointing:loraRank:)` allocates.
    public static func estimatedBytes(config c: LlamaConfig, capacity: Int, maxSequenceLength: Int, training: Bool,
                                      activationCheckpointing: Bool = false, loraRank: Int = 0) -> Int {
        let N = Matmul.paddedRows(min(capacity, Int.max / 2)), L = training ? c.numHiddenLayers : 1
        let slots = training && !activationCheckpointing ? c.numHiddenLayers : 1
        let D = c.hiddenSize, F = c.intermediateSize
        // per layer: the input (every layer when training), then the activations (per slot)
        // qwen3 also keeps q and k before their head norms and the norms' rstd
        let qkNormRow = c.qkNorm ? c.qDim + c.kvDim + c.numAttentionHeads + c.numKeyValueHeads : 0
        // gemma2 keeps the attention and MLP outputs before their norms, and the norms' rstd
        let sandwichRow = c.sandwichNorms ? 2 * D + 2 : 0
        let perSlotRow = 3 * D + 2 + 2 * c.qDim + 2 * c.kvDim + c.numAttentionHeads + 3 * F + LoRAModule.allCases.count * loraRank + qkNormRow
            + sandwichRow
        var floats = MemoryPlan.sum(MemoryPlan.product(L, N, D), MemoryPlan.product(slots, N, perSlotRow))
        if training { floats = MemoryPlan.sum(floats, MemoryPlan.product(N, loraRank)) }
        // final: xOut, normF, rstdF, the scored rows' normF, logits/probabilities, logp
        floats = MemoryPlan.sum(floats, MemoryPlan.product(N, 3 * D + 2 + c.vocabSize))
        if training {
            floats = MemoryPlan.sum(floats, MemoryPlan.product(N, 2 * D + 2 * c.qDim + 2 * c.kvDim + 3 * F + 1 + (c.qkNorm ? c.kvDim : 0)
                                                               + (c.finalLogitSoftcap != nil ? 1 : 0)))   // + gemma2's final lse
        }
        floats = MemoryPlan.sum(floats, Attention.scratchCount(maxKeys: min(maxSequenceLength, 1 << 30)))
        return MemoryPlan.sum(MemoryPlan.product(floats, 4), MemoryPlan.product(N, 12))
    }
}
