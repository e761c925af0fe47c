// The Llama architecture hyper-parameters, read from / written to a Hugging Face `config.json`.

import Foundation

/// An error in a model configuration, naming the offending `config.json` field.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
    public var description: String { "config field '\(field)': \(reason)" }
}

/// One token id or several (`eos_token_id` may be a list in Llama 3 configs).
public enum TokenIDs: Codable, Equatable, Sendable {
    case one(Int)
    case many([Int])
    public var ids: [Int] {
        switch self { case .one(let i): return [i]; case .many(let l): return l }
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .one(i) } else { self = .many(try c.decode([Int].self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self { case .one(let i): try c.encode(i); case .many(let l): try c.encode(l) }
    }
}

/// `rope_scaling` of type "llama3" (Llama 3.1+): long-wavelength frequencies divided by `factor`,
/// short ones kept, the band between smoothly interpolated.
public struct RopeScaling: Codable, Equatable, Sendable {
    public var ropeType: String
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    public var originalMaxPositionEmbeddings: Int

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, factor
        case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }
    public init(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int) {
        ropeType = "llama3"; self.factor = factor; self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor; self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let type = try (c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type))
        else { throw ConfigError(field: "rope_scaling.rope_type", reason: "missing") }
        guard type == "llama3" else {
            throw ConfigError(field: "rope_scaling.rope_type", reason: "unsupported rope type '\(type)' (supported: default, llama3)")
        }
        ropeType = type
        func need<T: Decodable>(_ k: CodingKeys, _ t: T.Type) throws -> T {
            guard let v = try c.decodeIfPresent(t, forKey: k) else {
                throw ConfigError(field: "rope_scaling.\(k.stringValue)", reason: "missing for llama3 rope scaling")
            }
            return v
        }
        factor = try need(.factor, Double.self)
        lowFreqFactor = try need(.lowFreqFactor, Double.self)
        highFreqFactor = try need(.highFreqFactor, Double.self)
        originalMaxPositionEmbeddings = try need(.originalMaxPositionEmbeddings, Int.self)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ropeType, forKey: .ropeType)
        try c.encode(factor, forKey: .factor)
        try c.encode(lowFreqFactor, forKey: .lowFreqFactor)
        try c.encode(highFreqFactor, forKey: .highFreqFactor)
        try c.encode(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
    }
}

/// The decoder families this engine computes, by config.json's `model_type`: each a small delta on
/// the Llama block.
public enum Architecture: String, Codable, CaseIterable, Sendable {
    /// LlamaForCausalLM (SmolLM2, Llama 2/3): no biases (`attention_bias` true is refused).
    case llama
    /// Qwen2ForCausalLM (Qwen2, Qwen2.5): biases on the q, k and v projections (none on o_proj).
    case qwen2
    /// Qwen3ForCausalLM: RMSNorm over each head of the queries and keys (`q_norm`, `k_norm`, weights
    /// of head_dim) before RoPE, an explicit head_dim (heads × head_dim may differ from hidden), no
    /// biases.
    case qwen3
    /// MistralForCausalLM: Llama with sliding-window attention (`sliding_window` W: a query at
    /// position t sees the keys t − W < j ≤ t, in training, scoring and decoding; null: full).
    case mistral
    /// GemmaForCausalLM (Gemma 1): RMSNorm scaled by (1 + w), embeddings multiplied by √hidden,
    /// GeGLU with the tanh-approximated GELU, a head_dim independent of hidden / heads.
    case gemma
    /// Gemma2ForCausalLM: Gemma plus four norms per layer (post-attention, pre- and post-feedforward:
    /// x += norm(attn(norm(x))), x += norm(mlp(norm(x)))), attention-logit and final-logit soft-caps
    /// c·tanh(s/c), scores scaled by 1/√query_pre_attn_scalar, and a sliding window on the layers
    /// `layer_types` marks `sliding_attention` (every other one, from layer 0).
    case gemma2

    /// The `architectures` entry transformers writes for the causal LM.
    public var causalLMClass: String {
        switch self {
        case .llama: return "LlamaForCausalLM"; case .qwen2: return "Qwen2ForCausalLM"
        case .qwen3: return "Qwen3ForCausalLM"; case .mistral: return "MistralForCausalLM"
        case .gemma: return "GemmaForCausalLM"; case .gemma2: return "Gemma2ForCausalLM"
        }
    }
}

/// Llama hyper-parameters with Hugging Face key names. Reads both the classic layout
/// (`rope_theta`, `rope_scaling` at top level) and transformers 5's `rope_parameters`.
public struct LlamaConfig: Codable, Equatable, Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    public var vocabSize: Int
    public var tieWordEmbeddings: Bool
    public var bosTokenID: TokenIDs?
    public var eosTokenID: TokenIDs?
    public var padTokenID: Int?
    /// `model_type`.
    public var architecture: Architecture
    /// Biases on the q, k and v projections (qwen2).
    public var qkvBias: Bool { architecture == .qwen2 }
    /// Per-head RMSNorm of the queries and keys before RoPE (qwen3).
    public var qkNorm: Bool { architecture == .qwen3 }
    /// Gemma 1 and 2.
    public var isGemma: Bool { architecture == .gemma || architecture == .gemma2 }
    /// Gemma: norms scale by (1 + w), the MLP gate is GeGLU (tanh GELU), embeddings are × √hidden.
    public var normWeightOffset: Float { isGemma ? 1 : 0 }
    public var usesGeGLU: Bool { isGemma }
    /// The embedding multiplier (Gemma: √hidden as a float32); nil: none. transformers rounds it to the
    /// dtype the model computes in (`torch.tensor(hidden ** 0.5, dtype=hidden_states.dtype)`); idpo
    /// computes in float32 for every checkpoint (16-bit weights are widened exactly), i.e. as transformers
    /// does with `dtype=torch.float32`, so the float32 √hidden is that computation's scale.
    public var embeddingScale: Float? { isGemma ? Float(Double(hiddenSize).squareRoot()) : nil }
    /// Gemma 2: a norm on the attention output and one on the MLP output before each residual add.
    public var sandwichNorms: Bool { architecture == .gemma2 }
    /// Sliding-window attention span (mistral's and gemma2's `sliding_window`; nil: full attention).
    public var slidingWindow: Int?
    /// Gemma 2: which layers use the sliding window (`layer_types` == "sliding_attention").
    public var slidingLayers: [Bool]?
    /// Gemma 2: `attn_logit_softcapping` and `final_logit_softcapping` (nil: none).
    public var attentionLogitSoftcap: Double?
    public var finalLogitSoftcap: Double?
    /// Gemma 2: scores are scaled by 1/√query_pre_attn_scalar instead of 1/√head_dim.
    public var queryPreAttentionScalar: Double?

    /// The sliding window layer l attends with (nil: every earlier position).
    public func window(layer l: Int) -> Int? {
        guard let w = slidingWindow else { return nil }
        if let layers = slidingLayers { return layers[l] ? w : nil }
        return w
    }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case maxPositionEmbeddings = "max_position_embeddings", vocabSize = "vocab_size"
        case tieWordEmbeddings = "tie_word_embeddings"
        case bosTokenID = "bos_token_id", eosTokenID = "eos_token_id", padTokenID = "pad_token_id"
        case hiddenAct = "hidden_act", hiddenActivation = "hidden_activation", attentionBias = "attention_bias", mlpBias = "mlp_bias"
        case modelType = "model_type", architectures, torchDtype = "torch_dtype"
        case slidingWindow = "sliding_window", useSlidingWindow = "use_sliding_window"
        case attnLogitSoftcapping = "attn_logit_softcapping", finalLogitSoftcapping = "final_logit_softcapping"
        case attentionDropout = "attention_dropout", partialRotaryFactor = "partial_rotary_factor"
        case quantizationConfig = "quantization_config", layerTypes = "layer_types", noRopeLayers = "no_rope_layers"
        case maxWindowLayers = "max_window_layers"
        case queryPreAttnScalar = "query_pre_attn_scalar", useBidirectionalAttention = "use_bidirectional_attention"
    }

    /// Encoder user-info key: the torch dtype name of the weights written beside the config
    /// ("float32" when absent), encoded as `torch_dtype`.
    public static let weightsDtypeKey = CodingUserInfoKey(rawValue: "idpo.weightsDtype")!

    /// The `model_type` values this engine computes exactly.
    public static let supportedModelTypes = Architecture.allCases.map(\.rawValue)

    /// Builds and validates a configuration (throws `ConfigError` naming the field).
    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int? = nil, headDim: Int? = nil, rmsNormEps: Double = 1e-5,
                ropeTheta: Double = 10000, ropeScaling: RopeScaling? = nil, maxPositionEmbeddings: Int = 2048,
                vocabSize: Int, tieWordEmbeddings: Bool = false,
                bosTokenID: TokenIDs? = nil, eosTokenID: TokenIDs? = nil, padTokenID: Int? = nil,
                architecture: Architecture = .llama, slidingWindow: Int? = nil) throws {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.ropeScaling = ropeScaling
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.vocabSize = vocabSize
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenID = bosTokenID; self.eosTokenID = eosTokenID; self.padTokenID = padTokenID
        self.architecture = architecture
        self.slidingWindow = slidingWindow
        precondition(slidingWindow == nil || architecture == .mistral, "a sliding window is Mistral's (gemma2 configs are read from config.json)")
        try validate(headDimGiven: headDim != nil)
    }

    /// Reads and validates `config.json` data.
    public static func decode(jsonData: Data) throws -> LlamaConfig {
        do {
            return try JSONDecoder().decode(LlamaConfig.self, from: jsonData)
        } catch let e as ConfigError {
            throw e
        } catch DecodingError.keyNotFound(let key, let ctx) {
            throw ConfigError(field: Self.path(ctx.codingPath + [key]), reason: "missing")
        } catch DecodingError.typeMismatch(let type, let ctx) {
            throw ConfigError(field: Self.path(ctx.codingPath), reason: "expected \(type)")
        } catch DecodingError.valueNotFound(let type, let ctx) {
            throw ConfigError(field: Self.path(ctx.codingPath), reason: "expected \(type), found null")
        } catch DecodingError.dataCorrupted(let ctx) {
            throw ConfigError(field: ctx.codingPath.isEmpty ? "<file>" : Self.path(ctx.codingPath),
                              reason: "invalid JSON (\(ctx.debugDescription))")
        }
    }

    /// Reads and validates a `config.json` file; errors name the file and field.
    public static func load(url: URL) throws -> LlamaConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError(field: "<file>", reason: "cannot read \(url.path): \(error.localizedDescription)")
        }
        do { return try decode(jsonData: data) } catch let e as ConfigError {
            throw ConfigError(field: e.field, reason: "\(e.reason) (in \(url.path))")
        }
    }

    static func path(_ keys: [CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        let givenHeadDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        headDim = givenHeadDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        bosTokenID = try c.decodeIfPresent(TokenIDs.self, forKey: .bosTokenID)
        eosTokenID = try c.decodeIfPresent(TokenIDs.self, forKey: .eosTokenID)
        padTokenID = try? c.decodeIfPresent(Int.self, forKey: .padTokenID)

        // Rope: classic top-level keys, or transformers 5's `rope_parameters` object.
        var theta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        var scaling: RopeScaling? = nil
        if let probe = try? c.nestedContainer(keyedBy: RopeScaling.CodingKeys.self, forKey: .ropeScaling),
           ((try? probe.decodeIfPresent(String.self, forKey: .ropeType)) ?? (try? probe.decodeIfPresent(String.self, forKey: .type))) == "default" {
            scaling = nil   // {"rope_type": "default"}: plain RoPE
        } else {
            scaling = try c.decodeIfPresent(RopeScaling?.self, forKey: .ropeScaling) ?? nil
        }
        if let params = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters) {
            theta = theta ?? params.ropeTheta
            if scaling == nil, let s = params.scaling { scaling = s }
        }
        ropeTheta = theta ?? 10000
        ropeScaling = scaling

        try Self.refuseUnimplemented(c)
        architecture = (try? c.decodeIfPresent(String.self, forKey: .modelType)).flatMap(Architecture.init(rawValue:)) ?? .llama
        if [.mistral, .gemma2].contains(architecture), c.contains(.slidingWindow), try !c.decodeNil(forKey: .slidingWindow) {
            guard let w = try? c.decode(Int.self, forKey: .slidingWindow), w > 0 else {
                throw ConfigError(field: "sliding_window", reason: "expected a positive integer or null")
            }
            slidingWindow = w
        } else {
            slidingWindow = nil
        }
        if architecture == .gemma2 {
            func positive(_ key: CodingKeys) throws -> Double? {
                guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
                guard let v = try? c.decode(Double.self, forKey: key), v > 0 else {
                    throw ConfigError(field: key.stringValue, reason: "expected a positive number or null")
                }
                return v
            }
            attentionLogitSoftcap = try positive(.attnLogitSoftcapping)
            finalLogitSoftcap = try positive(.finalLogitSoftcapping)
            queryPreAttentionScalar = try positive(.queryPreAttnScalar)
            // transformers' default: "sliding_attention" if (i + 1) % 2 else "full_attention"
            var sliding = (0..<numHiddenLayers).map { $0 % 2 == 0 }
            if c.contains(.layerTypes), try !c.decodeNil(forKey: .layerTypes) {
                let types = try c.decode([String].self, forKey: .layerTypes)
                guard types.count == numHiddenLayers else {
                    throw ConfigError(field: "layer_types", reason: "lists \(types.count) layers, num_hidden_layers is \(numHiddenLayers)")
                }
                if let other = types.first(where: { !["sliding_attention", "full_attention"].contains($0) }) {
                    throw ConfigError(field: "layer_types", reason: "layer type '\(other)' is not implemented (sliding_attention, full_attention)")
                }
                sliding = types.map { $0 == "sliding_attention" }
            }
            slidingLayers = sliding
            if try c.decodeIfPresent(Bool.self, forKey: .useBidirectionalAttention) == true {
                throw ConfigError(field: "use_bidirectional_attention", reason: "bidirectional attention is not implemented (causal only)")
            }
        }
        let activation = isGemma ? "gelu_pytorch_tanh" : "silu"
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != activation {
            throw ConfigError(field: "hidden_act", reason: "unsupported activation '\(act)' (\(architecture.rawValue) is implemented with \(activation))")
        }
        if let act = try? c.decodeIfPresent(String.self, forKey: .hiddenActivation), act != activation {
            throw ConfigError(field: "hidden_activation", reason: "unsupported activation '\(act)' (\(architecture.rawValue) is implemented with \(activation))")
        }
        // Qwen2's q/k/v projections always carry biases (its config has no such field).
        if try c.decodeIfPresent(Bool.self, forKey: .attentionBias) == true {
            throw ConfigError(field: "attention_bias", reason: "biased attention projections are not supported for \(architecture.rawValue) (Qwen2's q/k/v biases are)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw ConfigError(field: "mlp_bias", reason: "biased MLP projections are not supported")
        }
        if let given = givenHeadDim, ![.qwen3, .gemma, .gemma2].contains(architecture), numAttentionHeads > 0, given * numAttentionHeads != hiddenSize {
            throw ConfigError(field: "head_dim", reason: "\(given) × num_attention_heads \(numAttentionHeads) ≠ hidden_size \(hiddenSize): a head_dim other than hidden_size / num_attention_heads is not implemented for Llama")
        }
        try validate(headDimGiven: givenHeadDim != nil)
    }

    /// Fields that change what the model computes and that this engine does not implement are refused,
    /// each naming the field — a silently ignored field would give wrong log-probs without a word.
    static func refuseUnimplemented(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        if let type = try? c.decodeIfPresent(String.self, forKey: .modelType), !supportedModelTypes.contains(type) {
            throw ConfigError(field: "model_type", reason: "'\(type)' is not supported (supported: \(supportedModelTypes.joined(separator: ", ")))")
        }
        if c.contains(.modelType), (try? c.decodeIfPresent(String.self, forKey: .modelType)) == nil, try !c.decodeNil(forKey: .modelType) {
            throw ConfigError(field: "model_type", reason: "expected a string")
        }
        func present(_ key: CodingKeys) -> Bool { c.contains(key) && (try? c.decodeNil(forKey: key)) == false }
        if (try? c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow)) == true {
            throw ConfigError(field: "use_sliding_window", reason: "sliding-window attention is not implemented")
        }
        // Qwen2/Qwen3 configs carry `sliding_window` (and `max_window_layers`) even when
        // `use_sliding_window` is false, where transformers attends fully: only then is it ignored.
        let qwen = ["qwen2", "qwen3"].contains((try? c.decodeIfPresent(String.self, forKey: .modelType)) ?? "")
        let windowOff = qwen && (try? c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow)) != true
        let type = (try? c.decodeIfPresent(String.self, forKey: .modelType)) ?? "llama"
        let mistral = type == "mistral", gemma2 = type == "gemma2"
        if present(.slidingWindow) && !windowOff && !mistral && !gemma2 {
            throw ConfigError(field: "sliding_window", reason: "sliding-window attention is not implemented (attention here is full); remove the field or set it to null only if the model was trained without a window")
        }
        for key in [CodingKeys.attnLogitSoftcapping, .finalLogitSoftcapping, .queryPreAttnScalar] where present(key) && !gemma2 {
            throw ConfigError(field: key.stringValue, reason: "is Gemma 2's; it is not implemented for \(type)")
        }
        if present(.attentionDropout), let p = try? c.decode(Double.self, forKey: .attentionDropout), p != 0 {
            throw ConfigError(field: "attention_dropout", reason: "dropout \(p) is not implemented (only 0)")
        }
        if present(.partialRotaryFactor), let f = try? c.decode(Double.self, forKey: .partialRotaryFactor), f != 1 {
            throw ConfigError(field: "partial_rotary_factor", reason: "partial rotary embeddings (\(f)) are not implemented (only 1)")
        }
        if present(.quantizationConfig) {
            throw ConfigError(field: "quantization_config", reason: "quantized checkpoints are not supported; use a float32, bfloat16 or float16 model")
        }
        if present(.layerTypes) && !gemma2 {
            guard let types = try? c.decode([String].self, forKey: .layerTypes) else {
                throw ConfigError(field: "layer_types", reason: "expected a list of strings")
            }
            if let other = types.first(where: { $0 != "full_attention" }) {
                throw ConfigError(field: "layer_types", reason: "layer type '\(other)' is not implemented (only full_attention)")
            }
        }
        if present(.noRopeLayers) {
            guard let flags = try? c.decode([Int].self, forKey: .noRopeLayers) else {
                throw ConfigError(field: "no_rope_layers", reason: "expected a list of 0/1")
            }
            if flags.contains(0) { throw ConfigError(field: "no_rope_layers", reason: "layers without RoPE are not implemented") }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([architecture.causalLMClass], forKey: .architectures)
        try c.encode(architecture.rawValue, forKey: .modelType)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(usesGeGLU ? "gelu_pytorch_tanh" : "silu", forKey: .hiddenAct)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(ropeScaling, forKey: .ropeScaling)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        try c.encodeIfPresent(eosTokenID, forKey: .eosTokenID)
        try c.encodeIfPresent(padTokenID, forKey: .padTokenID)
        if architecture == .llama {
            try c.encode(false, forKey: .attentionBias)
            try c.encode(false, forKey: .mlpBias)
        } else if architecture == .mistral {
            try c.encode(slidingWindow, forKey: .slidingWindow)
        } else if architecture == .gemma2 {
            try c.encode(slidingWindow, forKey: .slidingWindow)
            try c.encode(slidingLayers.map { $0.map { $0 ? "sliding_attention" : "full_attention" } }, forKey: .layerTypes)
            try c.encode(attentionLogitSoftcap, forKey: .attnLogitSoftcapping)
            try c.encode(finalLogitSoftcap, forKey: .finalLogitSoftcapping)
            try c.encode(queryPreAttentionScalar, forKey: .queryPreAttnScalar)
        } else if architecture == .qwen2 || architecture == .qwen3 {
            try c.encode(false, forKey: .useSlidingWindow)
        }
        try c.encode(encoder.userInfo[Self.weightsDtypeKey] as? String ?? "float32", forKey: .torchDtype)
    }

    /// Checks sizes and divisibility; every failure names its field.
    func validate(headDimGiven: Bool) throws {
        let positive: [(String, Int)] = [
            ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
            ("num_key_value_heads", numKeyValueHeads), ("vocab_size", vocabSize),
            ("max_position_embeddings", maxPositionEmbeddings),
        ]
        for (name, value) in positive where value <= 0 {
            throw ConfigError(field: name, reason: "must be positive, got \(value)")
        }
        if !headDimGiven && hiddenSize % numAttentionHeads != 0 {
            throw ConfigError(field: "hidden_size",
                              reason: "\(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        if headDim <= 0 || headDim % 2 != 0 {
            throw ConfigError(field: "head_dim", reason: "must be a positive even number, got \(headDim)")
        }
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw ConfigError(field: "num_key_value_heads",
                              reason: "num_attention_heads \(numAttentionHeads) is not divisible by \(numKeyValueHeads)")
        }
        if !(rmsNormEps > 0) { throw ConfigError(field: "rms_norm_eps", reason: "must be positive") }
        if !(ropeTheta > 0) { throw ConfigError(field: "rope_theta", reason: "must be positive") }
        if let s = ropeScaling {
            if !(s.factor > 0) { throw ConfigError(field: "rope_scaling.factor", reason: "must be positive") }
            if !(s.highFreqFactor > s.lowFreqFactor) {
                throw ConfigError(field: "rope_scaling.high_freq_factor", reason: "must exceed low_freq_factor")
            }
            if s.originalMaxPositionEmbeddings <= 0 {
                throw ConfigError(field: "rope_scaling.original_max_position_embeddings", reason: "must be positive")
            }
        }
    }

    // MARK: derived sizes
    public var qDim: Int { numAttentionHeads * headDim }
    public var kvDim: Int { numKeyValueHeads * headDim }

    /// Inverse RoPE frequencies (headDim/2), as transformers computes them (float32), with the
    /// llama3 scaling applied when configured:
    ///   inv_freq[i] = 1 / θ^(2i/headDim)
    ///   llama3: wavelen = 2π / inv_freq; wavelen > L/low → inv_freq/factor; wavelen < L/high → kept;
    ///           otherwise (1 − s)·inv_freq/factor + s·inv_freq with s = (L/wavelen − low)/(high − low)
    public func inverseFrequencies() -> [Float] {
        let half = headDim / 2
        var inv = (0..<half).map { i -> Float in
            let exponent = Float(2 * i) / Float(headDim)
            return 1 / Float(Foundation.pow(ropeTheta, Double(exponent)))
        }
        if let s = ropeScaling {
            let L = Float(s.originalMaxPositionEmbeddings)
            let low = Float(s.lowFreqFactor), high = Float(s.highFreqFactor), factor = Float(s.factor)
            let lowWavelen = L / low, highWavelen = L / high
            inv = inv.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen > lowWavelen { return f / factor }
                if wavelen < highWavelen { return f }
                let smooth = (L / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
        return inv
    }
}

/// transformers 5's `rope_parameters`: {"rope_type": "default" | "llama3", "rope_theta": …, …}.
struct RopeParameters: Decodable {
    var ropeTheta: Double?
    var scaling: RopeScaling?
    enum K: String, CodingKey { case ropeType = "rope_type", ropeTheta = "rope_theta" }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: K.self)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        let type = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? "default"
        switch type {
        case "default": scaling = nil
        case "llama3": scaling = try RopeScaling(from: decoder)
        default:
            throw ConfigError(field: "rope_parameters.rope_type", reason: "unsupported rope type '\(type)' (supported: default, llama3)")
        }
    }
}
