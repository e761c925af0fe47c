// A Llama model: its configuration, parameter layout, one flat parameter buffer and the RoPE table.

import Foundation
import Kernels
import Support

public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let layout: ParameterLayout
    /// Every parameter, laid out by `layout` (float32 models; empty for a 16-bit frozen model,
    /// whose tensors are in `frozen16`).
    public let parameters: FloatBuffer
    /// A frozen model kept in its checkpoint's 16-bit dtype (judges, references, sampling copies):
    /// matrices read in place, widened as the kernels read them; 1-D tensors (norms) widened once.
    public let frozen16: Frozen16Weights?
    /// Whether every parameter is a float32 in `parameters` (trainable, writable).
    public var isFloat32: Bool { frozen16 == nil }
    public let rope: RoPETable
    /// Layer l's attention geometry: heads, its sliding window (Mistral: every layer; Gemma 2: the
    /// `sliding_attention` layers), the score scale and soft-cap (Gemma 2).
    public func attentionShape(layer l: Int) -> AttentionShape {
        AttentionShape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads, headDim: config.headDim,
                       window: config.window(layer: l), scaleDenominator: config.queryPreAttentionScalar,
                       softcap: config.attentionLogitSoftcap.map { Float($0) })
    }

    /// Whether `lm_head` (or the tied embedding) produces logits; false for reward/preference backbones.
    public let hasLanguageModelHead: Bool

    /// A LoRA adapter applied on top of the (then frozen) weights: every forward adds its low-rank
    /// path, and `backward` trains the adapter alone. nil: the plain model.
    public var adapter: LoRAAdapter? {
        willSet { precondition(newValue == nil || newValue!.layout.layers.count == config.numHiddenLayers, "adapter made for another model") }
    }

    /// A model with zeroed parameters (callers fill them: loaders, `randomize`).
    public init(config: LlamaConfig, languageModelHead: Bool = true) {
        self.config = config
        hasLanguageModelHead = languageModelHead
        layout = ParameterLayout(config: config, languageModelHead: languageModelHead)
        parameters = FloatBuffer(count: layout.count)
        frozen16 = nil
        rope = RoPETable(inverseFrequencies: config.inverseFrequencies(), positions: config.maxPositionEmbeddings)
    }

    /// A frozen model over tensors kept in 16 bits (`weights` covers every entry of the layout).
    public init(config: LlamaConfig, languageModelHead: Bool = true, frozen16 weights: Frozen16Weights) {
        self.config = config
        hasLanguageModelHead = languageModelHead
        layout = ParameterLayout(config: config, languageModelHead: languageModelHead)
        parameters = FloatBuffer(count: 0)
        frozen16 = weights
        rope = RoPETable(inverseFrequencies: config.inverseFrequencies(), positions: config.maxPositionEmbeddings)
    }

    /// A float32 model's exact copy (its own parameter buffer, and a copy of its adapter); nil for a
    /// 16-bit frozen model.
    public func float32Copy() -> LlamaModel? {
        guard isFloat32 else { return nil }
        let copy = LlamaModel(config: config, languageModelHead: hasLanguageModelHead)
        copy.parameters.pointer.update(from: parameters.pointer, count: layout.count)
        copy.adapter = adapter?.copy()
        return copy
    }

    /// What training updates: the adapter's A and B when the model carries one (the base is then
    /// frozen), else every parameter. Gradients and optimizer moments have its layout.
    public var trainableParameters: FloatBuffer { adapter?.parameters ?? parameters }

    /// The same base weights (shared, not copied: cheap for any size) carrying `adapter` instead:
    /// base + another adapter (a reference, a sampling copy), or the bare base with nil.
    public func sharingBase(adapter: LoRAAdapter?) -> LlamaModel {
        let m = LlamaModel(sharing: self)
        m.adapter = adapter
        return m
    }

    private init(sharing other: LlamaModel) {
        config = other.config; hasLanguageModelHead = other.hasLanguageModelHead; layout = other.layout
        parameters = other.parameters; frozen16 = other.frozen16; rope = other.rope
    }

    /// Pointer to the float32 parameter tensor at `offset` (from `layout`); float32 models only.
    @inline(__always) public func weight(_ offset: Int) -> UnsafeMutablePointer<Float> {
        precondition(frozen16 == nil, "a 16-bit frozen model has no float32 parameter buffer")
        return parameters.pointer + offset
    }

    /// The matrix (or embedding table) at `offset`, in whatever storage the model keeps it.
    @inline(__always) public func matrix(_ offset: Int) -> WeightMatrix {
        if let f = frozen16 { return f.matrices[offset]! }
        return WeightMatrix(parameters.pointer + offset)
    }

    /// The float32 values of the 1-D tensor (norm weight) at `offset`.
    @inline(__always) public func vector(_ offset: Int) -> UnsafePointer<Float> {
        if let f = frozen16 { return UnsafePointer(f.vectors[offset]!.pointer) }
        return UnsafePointer(parameters.pointer + offset)
    }

    /// A frozen copy with every matrix rounded to `element` (bfloat16: to nearest even; float16:
    /// `Float16(x)`) and 1-D tensors kept in float32 — for benchmarks and tests of the 16-bit path.
    public func frozenSixteenBitCopy(_ element: WeightMatrix.Element) -> LlamaModel {
        precondition(frozen16 == nil && element != .float32)
        let storage = HalfStorage(count: layout.count)
        var matrices: [Int: WeightMatrix] = [:], vectors: [Int: FloatBuffer] = [:]
        for e in layout.entries {
            let src = parameters.pointer + e.offset
            if e.shape.count == 1 {
                let v = FloatBuffer(count: e.count)
                v.pointer.update(from: src, count: e.count)
                vectors[e.offset] = v
            } else {
                let dst = storage.pointer + e.offset
                for i in 0..<e.count {
                    dst[i] = element == .bfloat16 ? WeightMatrix.bfloat16Bits(src[i]) : Float16(src[i]).bitPattern
                }
                matrices[e.offset] = WeightMatrix(base: UnsafeRawPointer(dst), element: element)
            }
        }
        if layout.lmHead != layout.embedding, matrices[layout.lmHead] == nil { matrices[layout.lmHead] = matrices[layout.embedding] }
        return LlamaModel(config: config, languageModelHead: hasLanguageModelHead,
                          frozen16: Frozen16Weights(matrices: matrices, vectors: vectors, owners: [storage]))
    }

    /// Bytes the weights occupy in memory (16-bit matrices at 2 bytes), the adapter's included.
    public var weightBytes: Int { baseWeightBytes + (adapter?.layout.count ?? 0) * 4 }

    /// Bytes of the base weights alone.
    public var baseWeightBytes: Int {
        guard let f = frozen16 else { return parameters.count * 4 }
        var seen = Set<Int>(), bytes = 0
        for e in layout.entries where seen.insert(e.offset).inserted {
            bytes += e.shape.count == 1 ? e.count * 4 : e.count * (f.matrices[e.offset]?.element.bytes ?? 4)
        }
        return bytes
    }

    /// Deterministic random initialisation: matrices ~ N(0, std²) (embeddings `embeddingStd`),
    /// projection biases likewise, norm weights 1 (or uniform in `normRange` when given). Used for
    /// benchmarks and tests.
    public func randomize(seed: UInt64, std: Float = 0.02, embeddingStd: Float? = nil,
                          normRange: ClosedRange<Float>? = nil) {
        precondition(frozen16 == nil, "randomize needs a float32 model")
        var rng = SplitMix64(seed: seed)
        for e in layout.entries {
            let p = parameters.pointer + e.offset
            if e.name.hasSuffix(".bias") {   // projection biases ~ N(0, std²), like the matrices
                for i in 0..<e.count { p[i] = std * rng.nextGaussian() }
            } else if e.shape.count == 1 {
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

/// The tensors of a 16-bit frozen model: matrices by layout offset (pointing into `owners`' memory,
/// e.g. a memory-mapped safetensors file), 1-D tensors widened to float32.
public final class Frozen16Weights: @unchecked Sendable {
    public let matrices: [Int: WeightMatrix]
    public let vectors: [Int: FloatBuffer]
    /// Whatever keeps the matrices' memory alive (mapped files, buffers).
    let owners: [AnyObject]
    public init(matrices: [Int: WeightMatrix], vectors: [Int: FloatBuffer], owners: [AnyObject]) {
        self.matrices = matrices; self.vectors = vectors; self.owners = owners
    }
}

/// Owned 16-bit storage (`frozenSixteenBitCopy`).
final class HalfStorage {
    let pointer: UnsafeMutablePointer<UInt16>
    init(count: Int) { pointer = .allocate(capacity: max(1, count)); pointer.initialize(repeating: 0, count: max(1, count)) }
    deinit { pointer.deallocate() }
}

