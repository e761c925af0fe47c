// LoRA adapters (Hu et al. 2021) in PEFT's form: a frozen base linear W (out, in) plus a trained
// low-rank update,
//     y = x Wᵀ + s · (x Aᵀ) Bᵀ,     A (r, in), B (out, r),  s = α / r  (rsLoRA: α / √r),
// on the projections `target_modules` names. One flat buffer holds every A and B (the adapter's
// parameters; its gradients and optimizer moments use the same layout), under the key names
// PEFT's `adapter_model.safetensors` uses.

import Foundation
import Kernels
import Support

/// The seven linear projections of a Llama block, by their Hugging Face module names.
public enum LoRAModule: String, CaseIterable, Codable, Sendable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj", gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// Position in `allCases` (the slot in `LoRALayout.layers[l]`).
    public var index: Int { Self.allCases.firstIndex(of: self)! }
    /// "self_attn" or "mlp".
    public var block: String { [.q, .k, .v, .o].contains(self) ? "self_attn" : "mlp" }
    /// (out, in) of this projection in a model of `config`.
    public func shape(_ c: LlamaConfig) -> (out: Int, in: Int) {
        switch self {
        case .q: return (c.qDim, c.hiddenSize)
        case .k, .v: return (c.kvDim, c.hiddenSize)
        case .o: return (c.hiddenSize, c.qDim)
        case .gate, .up: return (c.intermediateSize, c.hiddenSize)
        case .down: return (c.hiddenSize, c.intermediateSize)
        }
    }
}

/// An adapter's settings, keyed as PEFT's `adapter_config.json` (`LoraConfig`). Fields PEFT has and
/// idpo does not implement are refused when read (`LoRAConfig.read`), never ignored.
public struct LoRAConfig: Equatable, Sendable, Codable {
    public var r: Int
    public var alpha: Double
    public var dropout: Double
    /// The projections adapted (PEFT's `target_modules`; "all-linear" is all seven in a Llama block).
    public var targetModules: [LoRAModule]
    /// rsLoRA: scale α/√r instead of α/r.
    public var useRSLoRA: Bool

    public init(r: Int = 16, alpha: Double = 32, dropout: Double = 0, targetModules: [LoRAModule] = LoRAModule.allCases,
                useRSLoRA: Bool = false) {
        self.r = r; self.alpha = alpha; self.dropout = dropout; self.targetModules = targetModules; self.useRSLoRA = useRSLoRA
    }

    /// Keys as in a recipe's `training.lora`.
    enum CodingKeys: String, CodingKey { case r, alpha, dropout, targetModules = "target_modules", useRSLoRA = "use_rslora" }

    /// s in y = x Wᵀ + s · (x Aᵀ) Bᵀ: α / r, or α / √r with rsLoRA (PEFT's `scaling`).
    public var scale: Float { Float(useRSLoRA ? alpha / Double(r).squareRoot() : alpha / Double(r)) }

    /// Problems with these settings, each naming its field.
    public var issues: [String] {
        var out: [String] = []
        if r < 1 { out.append("r must be at least 1 (got \(r))") }
        if !(alpha > 0) || !alpha.isFinite { out.append("lora_alpha must be positive (got \(alpha))") }
        if !(dropout >= 0 && dropout < 1) { out.append("lora_dropout must be in [0, 1) (got \(dropout))") }
        if targetModules.isEmpty { out.append("target_modules must name at least one of \(LoRAModule.allCases.map(\.rawValue).joined(separator: ", ")) or be \"all-linear\"") }
        return out
    }

    /// Parses PEFT's `target_modules`: "all-linear", one module name, or a list of names — short
    /// ("q_proj") or the full module paths PEFT saves for "all-linear" ("model.layers.0.self_attn.q_proj",
    /// matched by their last component; an adapter that then lacks a layer's tensors is refused when
    /// its weights are read).
    public static func modules(_ names: [String]) throws -> [LoRAModule] {
        if names == ["all-linear"] { return LoRAModule.allCases }
        var out: [LoRAModule] = []
        for name in names {
            guard let m = LoRAModule(rawValue: String(name.split(separator: ".").last ?? "")) else {
                throw LoRAError("target_modules: '\(name)' is not a Llama projection idpo adapts (use any of \(LoRAModule.allCases.map(\.rawValue).joined(separator: ", ")), or \"all-linear\")")
            }
            if !out.contains(m) { out.append(m) }
        }
        return LoRAModule.allCases.filter(out.contains)
    }

    /// Reads PEFT's adapter_config.json. Settings that change the computation and that idpo does not
    /// implement (DoRA, biases, fan_in_fan_out, per-layer ranks or layers, modules_to_save, …) are
    /// refused by name; a value equal to PEFT's default is accepted.
    public static func read(_ url: URL) throws -> LoRAConfig {
        let data = try FileRead.data(at: url, what: "adapter config")
        func fail(_ s: String) -> LoRAError { LoRAError("\(url.path): \(s)") }
        let file: PEFTAdapterConfig
        do { file = try JSONDecoder().decode(PEFTAdapterConfig.self, from: data) } catch {
            throw fail(JSONFormat.describe(error))
        }
        if let type = file.peftType, type != "LORA" { throw fail("peft_type '\(type)' is not LoRA") }
        let unsupported: [(String, Bool)] = [
            ("use_dora", file.useDora == true), ("fan_in_fan_out", file.fanInFanOut == true),
            ("lora_bias", file.loraBias == true), ("bias", (file.bias ?? "none") != "none"),
            ("modules_to_save", !(file.modulesToSave ?? []).isEmpty),
            ("layers_to_transform", !(file.layersToTransform ?? []).isEmpty),
            ("rank_pattern", !(file.rankPattern ?? [:]).isEmpty), ("alpha_pattern", !(file.alphaPattern ?? [:]).isEmpty),
            ("exclude_modules", !(file.excludeModules ?? []).isEmpty),
            ("layer_replication", file.layerReplication), ("target_parameters", file.targetParameters),
            ("alora_invocation_tokens", file.aloraInvocationTokens),
        ]
        if let (key, _) = unsupported.first(where: \.1) {
            throw fail("'\(key)' is set, which idpo does not implement (only plain LoRA on q/k/v/o/gate/up/down projections)")
        }
        let modules: [LoRAModule]
        do { modules = try Self.modules(file.targetModules) } catch let e as LoRAError { throw fail(e.description) }
        let config = LoRAConfig(r: file.r, alpha: file.loraAlpha ?? 8, dropout: file.loraDropout ?? 0,
                                targetModules: modules, useRSLoRA: file.useRSLoRA ?? false)
        if let issue = config.issues.first { throw fail(issue) }
        return config
    }

    /// PEFT's adapter_config.json for these settings (the keys `LoraConfig.save_pretrained` writes,
    /// PEFT's defaults for what idpo does not use), `base` the base model's name or path.
    public func json(base: String) -> JSONValue {
        .object([
            "alpha_pattern": .object([:]), "auto_mapping": .null, "base_model_name_or_path": .string(base),
            "bias": .string("none"), "fan_in_fan_out": .bool(false), "inference_mode": .bool(true),
            "init_lora_weights": .bool(true), "layers_pattern": .null, "layers_to_transform": .null,
            "lora_alpha": .double(alpha), "lora_dropout": .double(dropout), "modules_to_save": .null,
            "peft_type": .string("LORA"), "r": .int(r), "rank_pattern": .object([:]), "revision": .null,
            "target_modules": .array(targetModules.map { .string($0.rawValue) }), "task_type": .string("CAUSAL_LM"),
            "use_dora": .bool(false), "use_rslora": .bool(useRSLoRA),
        ])
    }
}

/// The fields of PEFT's adapter_config.json that idpo reads or must refuse (others are ignored:
/// bookkeeping such as `revision`, `task_type`, `inference_mode`).
struct PEFTAdapterConfig: Decodable {
    var peftType: String?
    var r: Int
    var loraAlpha: Double?
    var loraDropout: Double?
    var targetModules: [String]
    var useRSLoRA: Bool?
    var useDora: Bool?, fanInFanOut: Bool?, loraBias: Bool?
    var bias: String?
    var modulesToSave: [String]?, layersToTransform: [Int]?, excludeModules: [String]?
    var rankPattern: [String: Double]?, alphaPattern: [String: Double]?
    /// Set (non-null, non-empty) in the file: settings that change the computation, refused.
    var layerReplication = false, targetParameters = false, aloraInvocationTokens = false

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout", targetModules = "target_modules"
        case useRSLoRA = "use_rslora", useDora = "use_dora", fanInFanOut = "fan_in_fan_out", loraBias = "lora_bias", bias
        case modulesToSave = "modules_to_save", layersToTransform = "layers_to_transform", excludeModules = "exclude_modules"
        case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern"
        case layerReplication = "layer_replication", targetParameters = "target_parameters"
        case aloraInvocationTokens = "alora_invocation_tokens"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
        r = try c.decode(Int.self, forKey: .r)
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha)
        loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout)
        // PEFT: a module name, a list of names, or "all-linear" (a regex string is not supported).
        if let one = try? c.decode(String.self, forKey: .targetModules) { targetModules = [one] }
        else { targetModules = try c.decode([String].self, forKey: .targetModules) }
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA)
        useDora = try c.decodeIfPresent(Bool.self, forKey: .useDora)
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut)
        loraBias = try c.decodeIfPresent(Bool.self, forKey: .loraBias)
        bias = try c.decodeIfPresent(String.self, forKey: .bias)
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
        layersToTransform = try? c.decodeIfPresent([Int].self, forKey: .layersToTransform)
            ?? (c.decodeIfPresent(Int.self, forKey: .layersToTransform)).map { [$0] }
        excludeModules = try? c.decodeIfPresent([String].self, forKey: .excludeModules)
        rankPattern = try c.decodeIfPresent([String: Double].self, forKey: .rankPattern)
        alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern)
        func isSet(_ key: CodingKeys) -> Bool {
            guard let v = try? c.decodeIfPresent(JSONValue.self, forKey: key) else { return false }
            switch v {
            case .null: return false
            case .array(let a): return !a.isEmpty
            case .object(let o): return !o.isEmpty
            default: return true
            }
        }
        layerReplication = isSet(.layerReplication); targetParameters = isSet(.targetParameters)
        aloraInvocationTokens = isSet(.aloraInvocationTokens)
    }
}

public struct LoRAError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Offsets of one adapted projection's A (r, in) and B (out, r) in the adapter's flat buffer.
public struct LoRAWeights: Sendable {
    public let a: Int
    public let b: Int
    public let inFeatures: Int
    public let outFeatures: Int
}

/// The flat layout of an adapter: for each layer, each targeted module's A then B, under PEFT's
/// saved key names (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`).
public struct LoRALayout: Sendable {
    public let entries: [ParameterEntry]
    public let count: Int
    public let rank: Int
    /// layers[l][module.index]: the module's weights, nil when it is not adapted.
    public let layers: [[LoRAWeights?]]
    private let index: [String: Int]

    public init(config c: LlamaConfig, lora: LoRAConfig) {
        var entries: [ParameterEntry] = [], offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            entries.append(ParameterEntry(name: name, shape: shape, offset: offset))
            offset += shape.reduce(1, *)
            return entries.last!.offset
        }
        var layers: [[LoRAWeights?]] = []
        for l in 0..<c.numHiddenLayers {
            var slots = [LoRAWeights?](repeating: nil, count: LoRAModule.allCases.count)
            for m in lora.targetModules {
                let (o, i) = m.shape(c), prefix = Self.keyPrefix(layer: l, module: m)
                let a = add(prefix + ".lora_A.weight", [lora.r, i])
                let b = add(prefix + ".lora_B.weight", [o, lora.r])
                slots[m.index] = LoRAWeights(a: a, b: b, inFeatures: i, outFeatures: o)
            }
            layers.append(slots)
        }
        self.entries = entries; self.layers = layers; count = offset; rank = lora.r
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// "base_model.model.model.layers.3.mlp.down_proj" (PEFT's saved names, adapter name dropped).
    public static func keyPrefix(layer: Int, module: LoRAModule) -> String {
        "base_model.model.model.layers.\(layer).\(module.block).\(module.rawValue)"
    }

    public func entry(named name: String) -> ParameterEntry? { index[name].map { entries[$0] } }

    /// The base model's weight name this adapter entry modifies ("model.layers.3.mlp.down_proj.weight").
    public static func baseWeightName(layer: Int, module: LoRAModule) -> String {
        "model.layers.\(layer).\(module.block).\(module.rawValue).weight"
    }
}

/// A LoRA adapter's settings, layout and weights (one flat buffer).
public final class LoRAAdapter: @unchecked Sendable {
    public let config: LoRAConfig
    public let layout: LoRALayout
    public let parameters: FloatBuffer
    /// s = α/r (or α/√r).
    public var scale: Float { config.scale }

    /// Zero-filled weights (callers fill them: `initializeAsPEFT`, a loader).
    public init(model: LlamaConfig, config: LoRAConfig) {
        self.config = config
        layout = LoRALayout(config: model, lora: config)
        parameters = FloatBuffer(count: layout.count)
    }

    /// PEFT's default initialisation: A ~ kaiming_uniform(a = √5), i.e. U(−1/√in, 1/√in), and B = 0,
    /// so base + adapter starts equal to the base. Seeded (SplitMix64), not torch's generator.
    public func initializeAsPEFT(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        parameters.zero()
        for layer in layout.layers {
            for w in layer.compactMap({ $0 }) {
                let bound = 1 / Float(w.inFeatures).squareRoot(), a = parameters.pointer + w.a
                for i in 0..<(layout.rank * w.inFeatures) { a[i] = (2 * rng.nextUnitFloat() - 1) * bound }
            }
        }
    }

    /// A copy with its own weights.
    public func copy() -> LoRAAdapter {
        let c = LoRAAdapter(configuration: config, layout: layout)
        c.parameters.pointer.update(from: parameters.pointer, count: layout.count)
        return c
    }

    private init(configuration: LoRAConfig, layout: LoRALayout) {
        config = configuration; self.layout = layout; parameters = FloatBuffer(count: layout.count)
    }

    /// SHA-256 of the settings and the weights' bytes (reference caches key on it).
    public var contentHash: String {
        var h = SHA256()
        h.update("lora r=\(config.r) alpha=\(config.alpha) rslora=\(config.useRSLoRA) modules=\(config.targetModules.map(\.rawValue))\n")
        h.update(UnsafeRawPointer(parameters.pointer), count: layout.count * 4)
        return h.finalize().description
    }
}

extension LayerOffsets {
    /// Offset of projection `module`'s weight (out, in).
    public func offset(of module: LoRAModule) -> Int {
        switch module {
        case .q: return qProj
        case .k: return kProj
        case .v: return vProj
        case .o: return oProj
        case .gate: return gateProj
        case .up: return upProj
        case .down: return downProj
        }
    }
}
