// One flat layout of every Llama tensor under its Hugging Face name, shared by parameters,
// gradients and optimizer moments (each a FloatBuffer of `layout.count` floats).

import Kernels

/// One tensor in the flat buffer.
public struct ParameterEntry: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// Offsets of one decoder layer's tensors.
public struct LayerOffsets: Sendable {
    public let inputNorm: Int      // (D)
    public let qProj: Int          // (H·hd, D)
    public let kProj: Int          // (KV·hd, D)
    public let vProj: Int          // (KV·hd, D)
    public let oProj: Int          // (D, H·hd)
    /// The norm before the MLP: `post_attention_layernorm` (Llama's name), Gemma 2's `pre_feedforward_layernorm`.
    public let postNorm: Int       // (D)
    public let gateProj: Int       // (F, D)
    public let upProj: Int         // (F, D)
    public let downProj: Int       // (D, F)
    /// Projection biases (qwen2): nil where the architecture has none.
    public let qBias: Int?         // (H·hd)
    public let kBias: Int?         // (KV·hd)
    public let vBias: Int?         // (KV·hd)
    /// Per-head query/key RMSNorm weights (qwen3): nil where the architecture has none.
    public let qNorm: Int?         // (hd)
    public let kNorm: Int?         // (hd)
    /// Gemma 2's norms on the attention output (`post_attention_layernorm`) and on the MLP output
    /// (`post_feedforward_layernorm`), before their residual adds: nil elsewhere.
    public let attentionOutputNorm: Int?   // (D)
    public let mlpOutputNorm: Int?         // (D)
}

public struct ParameterLayout: Sendable {
    public let entries: [ParameterEntry]
    public let count: Int
    public let embedding: Int      // (V, D)
    public let layers: [LayerOffsets]
    public let finalNorm: Int      // (D)
    /// lm_head (V, D); equals `embedding` when the embeddings are tied.
    public let lmHead: Int
    private let index: [String: Int]

    /// - Parameter languageModelHead: false for a backbone without lm_head (reward and preference
    ///   models put their own head on the final hidden states); `lmHead` then equals `embedding`.
    public init(config c: LlamaConfig, languageModelHead: Bool = true) {
        var entries: [ParameterEntry] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let e = ParameterEntry(name: name, shape: shape, offset: offset)
            entries.append(e)
            offset += e.count
            return e.offset
        }
        let D = c.hiddenSize, F = c.intermediateSize
        embedding = add("model.embed_tokens.weight", [c.vocabSize, D])
        var layers: [LayerOffsets] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            let inputNorm = add(p + "input_layernorm.weight", [D])
            let q = add(p + "self_attn.q_proj.weight", [c.qDim, D])
            let qBias = c.qkvBias ? add(p + "self_attn.q_proj.bias", [c.qDim]) : nil
            let k = add(p + "self_attn.k_proj.weight", [c.kvDim, D])
            let kBias = c.qkvBias ? add(p + "self_attn.k_proj.bias", [c.kvDim]) : nil
            let v = add(p + "self_attn.v_proj.weight", [c.kvDim, D])
            let vBias = c.qkvBias ? add(p + "self_attn.v_proj.bias", [c.kvDim]) : nil
            let o = add(p + "self_attn.o_proj.weight", [D, c.qDim])
            let qNorm = c.qkNorm ? add(p + "self_attn.q_norm.weight", [c.headDim]) : nil
            let kNorm = c.qkNorm ? add(p + "self_attn.k_norm.weight", [c.headDim]) : nil
            let attentionOutputNorm = c.sandwichNorms ? add(p + "post_attention_layernorm.weight", [D]) : nil
            let post = add(p + (c.sandwichNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), [D])
            let mlpOutputNorm = c.sandwichNorms ? add(p + "post_feedforward_layernorm.weight", [D]) : nil
            let gate = add(p + "mlp.gate_proj.weight", [F, D])
            let up = add(p + "mlp.up_proj.weight", [F, D])
            let down = add(p + "mlp.down_proj.weight", [D, F])
            layers.append(LayerOffsets(inputNorm: inputNorm, qProj: q, kProj: k, vProj: v, oProj: o,
                                       postNorm: post, gateProj: gate, upProj: up, downProj: down,
                                       qBias: qBias, kBias: kBias, vBias: vBias,
                                       qNorm: qNorm, kNorm: kNorm,
                                       attentionOutputNorm: attentionOutputNorm, mlpOutputNorm: mlpOutputNorm))
        }
        self.layers = layers
        finalNorm = add("model.norm.weight", [D])
        lmHead = (c.tieWordEmbeddings || !languageModelHead) ? embedding : add("lm_head.weight", [c.vocabSize, D])
        self.entries = entries
        count = offset
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// The entry with this Hugging Face name, if the model has it.
    public func entry(named name: String) -> ParameterEntry? { index[name].map { entries[$0] } }

    /// Parameters that sgemm multiplies (all but norms), for FLOP counts.
    public func matmulParameterCount(config c: LlamaConfig) -> Int {
        let D = c.hiddenSize, F = c.intermediateSize
        let perLayer = D * c.qDim * 2 + D * c.kvDim * 2 + 3 * D * F
        return c.numHiddenLayers * perLayer + c.vocabSize * D
    }
}
