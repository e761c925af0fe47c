// A Llama model: its configuration, parameter layout, one flat parameter buffer and the RoPE table.

import Foundation
import Kernels

public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let layout: ParameterLayout
    /// Every parameter, laid out by `layout`.
    public let parameters: FloatBuffer
    public let rope: RoPETable
    public var attentionShape: AttentionShape {
        AttentionShape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads, headDim: config.headDim)
    }

    /// Whether `lm_head` (or the tied embedding) produces logits; false for reward/preference backbones.
    public let hasLanguageModelHead: Bool

    /// A model with zeroed parameters (callers fill them: loaders, `randomize`).
    public init(config: LlamaConfig, languageModelHead: Bool = true) {
        self.config = config
        hasLanguageModelHead = languageModelHead
        layout = ParameterLayout(config: config, languageModelHead: languageModelHead)
        parameters = FloatBuffer(count: layout.count)
        rope = RoPETable(inverseFrequencies: config.inverseFrequencies(), positions: config.maxPositionEmbeddings)
    }

    /// Pointer to the parameter tensor at `offset` (from `layout`).
    @inline(__always) public func weight(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + offset }

    /// Deterministic random initialisation: matrices ~ N(0, std²) (embeddings `embeddingStd`),
    /// norm weights 1 (or uniform in `normRange` when given). Used for benchmarks and tests.
    public func randomize(seed: UInt64, std: Float = 0.02, embeddingStd: Float? = nil,
                          normRange: ClosedRange<Float>? = nil) {
        var rng = SplitMix64(seed: seed)
        for e in layout.entries {
            let p = parameters.pointer + e.offset
            if e.shape.count == 1 {
                for i in 0..<e.count {
                    if let r = normRange { p[i] = r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextUnitFloat() }
                    else { p[i] = 1 }
                }
            } else {
                let s = e.name == "model.embed_tokens.weight" ? (embeddingStd ?? std) : std
                for i in 0..<e.count { p[i] = s * rng.nextGaussian() }
            }
        }
    }
}

/// Small, fast, reproducible generator (SplitMix64) for initialisation and tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }
    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9007199254740992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9007199254740992.0)
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}
