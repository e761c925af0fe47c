// A GGUF file as a Llama model: the configuration from `llama.*` metadata, llama.cpp's tensor names
// mapped to Hugging Face's, ggml's reversed dimensions turned back into row-major shapes, and
// llama.cpp's q/k row permutation (convert_hf_to_gguf.py's `permute`) undone, so the weights equal
// the Hugging Face checkpoint's. What idpo's LlamaConfig would refuse in a config.json is refused
// here too, naming the metadata key: other architectures, per-layer head counts, RoPE scaling,
// partial rotary, mixtures of experts, biases and any tensor a plain Llama does not have.

import Foundation
import Llama
import Support

extension GGUFFile {
    /// llama.cpp's per-layer tensor names (after "blk.N.") and Hugging Face's (after "model.layers.N.").
    static let layerTensorNames: [(gguf: String, hf: String)] = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
    ]
    static let globalTensorNames: [(gguf: String, hf: String)] = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ]

    /// The Hugging Face name of a llama.cpp tensor name ("blk.3.attn_q.weight" →
    /// "model.layers.3.self_attn.q_proj.weight"), or nil for names a Llama model does not have.
    public static func huggingFaceName(ofLlamaTensor name: String) -> String? {
        if let global = globalTensorNames.first(where: { $0.gguf == name }) { return global.hf }
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0,
              String(layer) == rest[..<dot] else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let pair = layerTensorNames.first(where: { $0.gguf == suffix }) else { return nil }
        return "model.layers.\(layer).\(pair.hf)"
    }

    /// The llama.cpp name of a Hugging Face tensor name (the inverse of `huggingFaceName`).
    public static func llamaTensorName(ofHuggingFace name: String) -> String? {
        if let global = globalTensorNames.first(where: { $0.hf == name }) { return global.gguf }
        let prefix = "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let pair = layerTensorNames.first(where: { $0.hf == suffix }) else { return nil }
        return "blk.\(layer).\(pair.gguf)"
    }

    /// How many layers the "blk.N." tensor names cover (the largest N + 1).
    var blockTensorLayerCount: Int {
        var count = 0
        for name in tensorNames where name.hasPrefix("blk.") {
            let rest = name.dropFirst(4)
            guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0, index < Int.max else { continue }
            count = max(count, index + 1)
        }
        return count
    }

    func failure(_ reason: String) -> FileError { FileError(file: path, reason: reason) }

    /// An integer setting that may be given per layer (an array): one value, or an error when the
    /// layers differ. Nil when absent.
    func uniformInteger(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        if let i = value.integer { return i }
        if let list = value.array?.integers {
            guard let first = list.first else { throw failure("metadata '\(key)' is an empty array") }
            guard list.allSatisfy({ $0 == first }) else {
                throw failure("metadata '\(key)' varies by layer (\(Set(list).sorted())); idpo's Llama has the same value in every layer")
            }
            return first
        }
        throw wrongType(key, value, "an integer")
    }

    func requiredInteger(_ key: String) throws -> Int {
        guard let value = try uniformInteger(key) else { throw failure("missing metadata '\(key)'") }
        return value
    }

    /// A float setting as the shortest decimal that gives back the stored float32 (1e-05, not
    /// 9.999999747378752e-06), so that config.json reads as the original did.
    func decimalNumber(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        if case .float32(let f) = value { return Double("\(f)") ?? Double(f) }
        guard let d = value.number else { throw wrongType(key, value, "a number") }
        return d
    }

    /// The Llama configuration the metadata describes, checked as a config.json would be.
    public func llamaConfig() throws -> LlamaConfig {
        guard let architecture = try string("general.architecture") else { throw failure("missing metadata 'general.architecture'") }
        guard architecture == "llama" else {
            throw failure("metadata 'general.architecture' = '\(architecture)' is not supported (supported: llama)")
        }
        let hidden = try requiredInteger("llama.embedding_length")
        let layers = try requiredInteger("llama.block_count")
        let ffn = try requiredInteger("llama.feed_forward_length")
        let heads = try requiredInteger("llama.attention.head_count")
        let kvHeads = try uniformInteger("llama.attention.head_count_kv") ?? heads
        let contextLength = try uniformInteger("llama.context_length") ?? 2048
        let eps = try decimalNumber("llama.attention.layer_norm_rms_epsilon") ?? 1e-5
        let theta = try decimalNumber("llama.rope.freq_base") ?? 10000

        guard heads > 0, hidden > 0, hidden % heads == 0 else {
            throw failure("metadata 'llama.embedding_length' = \(hidden) is not a positive multiple of 'llama.attention.head_count' = \(heads)")
        }
        let headDim = hidden / heads
        for key in ["llama.attention.key_length", "llama.attention.value_length", "llama.rope.dimension_count"] {
            if let value = try uniformInteger(key), value != headDim {
                throw failure("metadata '\(key)' = \(value) differs from embedding_length / head_count = \(headDim); "
                              + (key.hasSuffix("dimension_count") ? "partial rotary embeddings are not implemented"
                                                                 : "a head size other than hidden / heads is not implemented for Llama"))
            }
        }
        if let type = try string("llama.rope.scaling.type"), type != "none" {
            throw failure("metadata 'llama.rope.scaling.type' = '\(type)': this RoPE scaling is not implemented (Llama 3's is read from config.json only)")
        }
        if let experts = try integer("llama.expert_count"), experts > 0 {
            throw failure("metadata 'llama.expert_count' = \(experts): mixtures of experts are not implemented")
        }
        if tensors["rope_freqs.weight"] != nil {
            let factors = try floats("rope_freqs.weight")
            if factors.contains(where: { $0 != 1 }) {
                throw failure("tensor 'rope_freqs.weight' holds RoPE frequency factors (Llama 3.1-style scaling); idpo reads rope_scaling from a Hugging Face config.json only — convert the original checkpoint instead")
            }
        }

        // The vocabulary: the tokenizer's token count (or llama.vocab_size, or the embedding's rows).
        let vocabulary: Int
        if let tokens = metadata["tokenizer.ggml.tokens"]?.array {
            vocabulary = tokens.count
        } else if let size = try integer("llama.vocab_size") {
            vocabulary = size
        } else if let embedding = tensors["token_embd.weight"], embedding.dimensions.count == 2 {
            vocabulary = embedding.dimensions[1]
        } else {
            throw failure("cannot tell the vocabulary size: no 'tokenizer.ggml.tokens', 'llama.vocab_size' or 2-D 'token_embd.weight'")
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = try integer(key) else { return nil }
            guard id >= 0, id < vocabulary else { throw failure("metadata '\(key)' = \(id) is not a token id (the vocabulary has \(vocabulary))") }
            return id
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id"), eos = try tokenID("tokenizer.ggml.eos_token_id")
        let pad = try tokenID("tokenizer.ggml.padding_token_id")
        do {
            return try LlamaConfig(hiddenSize: hidden, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
                                   numKeyValueHeads: kvHeads, rmsNormEps: eps, ropeTheta: theta, maxPositionEmbeddings: contextLength,
                                   vocabSize: vocabulary, tieWordEmbeddings: tensors["output.weight"] == nil,
                                   bosTokenID: bos.map { .one($0) }, eosTokenID: eos.map { .one($0) }, padTokenID: pad)
        } catch let e as ConfigError {
            throw failure("the llama.* metadata gives an invalid configuration: \(e.field) \(e.reason)")
        }
    }

    /// Checks, from the directory alone, that the file holds exactly the tensors `config` lays out
    /// (names, shapes, supported types), with lm_head optional when `languageModelHead` is false.
    /// The layer count is checked first, so an absurd block_count builds no layout.
    func checkLlamaTensors(_ config: LlamaConfig, languageModelHead: Bool) throws {
        let present = blockTensorLayerCount
        guard present == config.numHiddenLayers else {
            throw failure("metadata 'llama.block_count' = \(config.numHiddenLayers), but the file holds \(present == 0 ? "no layers" : "\(present) layer\(present == 1 ? "" : "s") (blk.0 to blk.\(present - 1))")")
        }
        let layout = ParameterLayout(config: config, languageModelHead: languageModelHead)
        for entry in layout.entries {
            let name = Self.llamaTensorName(ofHuggingFace: entry.name)!
            guard let info = tensors[name] else { throw failure("missing tensor '\(name)' (\(entry.name))") }
            guard info.shape == entry.shape else {
                throw failure("tensor '\(name)' has dimensions \(info.dimensions) (shape \(info.shape)), expected shape \(entry.shape) for \(entry.name) from the llama.* metadata")
            }
            try requireSupportedType(name)
        }
        for name in tensorNames where name != "rope_freqs.weight" {
            guard let hf = Self.huggingFaceName(ofLlamaTensor: name) else {
                throw failure("unexpected tensor '\(name)' for a Llama model")
            }
            if layout.entry(named: hf) == nil && !(hf == "lm_head.weight" && !languageModelHead) {
                throw failure("unexpected tensor '\(name)' for this Llama configuration")
            }
        }
    }

    /// Loads the model: configuration from the metadata, checked against this machine's memory and
    /// the tensor directory before anything is allocated, then every tensor converted to float32
    /// (refusing NaN/±Inf), named and shaped as Hugging Face's, with q/k rows un-permuted.
    public func loadLlama(languageModelHead: Bool = true) throws -> LlamaModel {
        let config = try llamaConfig()
        try ModelMemory.requireFits(config: config, languageModelHead: languageModelHead, file: path)
        try checkLlamaTensors(config, languageModelHead: languageModelHead)
        let model = LlamaModel(config: config, languageModelHead: languageModelHead)
        var scratch: [Float] = []
        for entry in model.layout.entries {
            let name = Self.llamaTensorName(ofHuggingFace: entry.name)!
            let destination = model.parameters.pointer + entry.offset
            let heads = entry.name.hasSuffix("q_proj.weight") ? config.numAttentionHeads
                      : entry.name.hasSuffix("k_proj.weight") ? config.numKeyValueHeads : 0
            if heads == 0 {
                try readFloats(name, into: destination, count: entry.count, requireFinite: true)
                continue
            }
            if scratch.count < entry.count { scratch = [Float](repeating: 0, count: entry.count) }
            try scratch.withUnsafeMutableBufferPointer { buffer in
                try readFloats(name, into: buffer.baseAddress!, count: entry.count, requireFinite: true)
                LlamaRowPermutation.unpermute(UnsafePointer(buffer.baseAddress!), into: destination, heads: heads,
                                              headDim: config.headDim, columns: config.hiddenSize)
            }
        }
        return model
    }
}

/// llama.cpp stores q and k with each head's rows interleaved for its RoPE kernel (convert_hf_to_gguf.py's
/// `permute`): within a head of `headDim` rows, Hugging Face row `half·headDim/2 + i` is GGUF row
/// `2i + half`. Rows are `columns` floats.
public enum LlamaRowPermutation {
    /// GGUF (interleaved) rows → Hugging Face rows.
    public static func unpermute(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
                                 heads: Int, headDim: Int, columns: Int) {
        move(source, destination, heads: heads, headDim: headDim, columns: columns, toHuggingFace: true)
    }

    /// Hugging Face rows → GGUF (interleaved) rows.
    public static func permute(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
                               heads: Int, headDim: Int, columns: Int) {
        move(source, destination, heads: heads, headDim: headDim, columns: columns, toHuggingFace: false)
    }

    static func move(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                     heads: Int, headDim: Int, columns: Int, toHuggingFace: Bool) {
        let half = headDim / 2
        for h in 0..<heads {
            for part in 0..<2 {
                for i in 0..<half {
                    let hfRow = h * headDim + part * half + i, ggufRow = h * headDim + 2 * i + part
                    let (from, to) = toHuggingFace ? (ggufRow, hfRow) : (hfRow, ggufRow)
                    (destination + to * columns).update(from: source + from * columns, count: columns)
                }
            }
        }
    }
}
