// Checks a loader makes before it trusts a checkpoint, each failing with a FileError that
// names the file and what was expected:
//   - before allocating: the model fits in this machine's memory, and the config's layers and
//     tensor shapes agree with the checkpoint's headers (so a config.json saying hidden_size: 1e9 or
//     num_hidden_layers: 1e6 is refused instead of crashing in the allocator);
//   - while reading: no weight or optimizer moment is NaN or ±Inf;
//   - config.json agrees with the config embedded in model.h5, field by field.

import Foundation
import Llama
import Support

/// NaN/±Inf detection in loaded tensors.
public enum NonFiniteValues {
    /// Throws when any of the `count` floats at `values` is NaN or ±Inf:
    /// "<file>: tensor 'model.norm.weight' holds non-finite values (first at element 12: nan)".
    /// - Parameter subject: how the message names the values; defaults to "tensor '<tensor>'".
    public static func check(_ values: UnsafePointer<Float>, count: Int, tensor: String, file: String,
                             subject: String? = nil) throws {
        guard let index = FiniteValues.firstNonFinite(values, count: count) else { return }
        throw FileError(file: file, reason: "\(subject ?? "tensor '\(tensor)'") holds non-finite values (first at element \(index): \(values[index]))")
    }
}

/// This machine's memory, and refusing models that cannot fit in it.
enum ModelMemory {
    /// Throws unless `bytes` fit in physical memory:
    /// "<file>: this model (hidden_size 4096, …) needs about 37.8 GB; this machine has 23.4 GB".
    /// - Parameter what: what needs the memory, e.g. "this model (…)"; `file` is named in the error.
    static func requireFits(bytes: Double, what: String, file: String) throws {
        let available = MemoryBudget.physicalBytes
        guard bytes > Double(available) else { return }
        throw FileError(file: file, reason: "\(what) needs about \(MemoryPlan.gigabytes(bytes)); this machine has \(MemoryPlan.gigabytes(available))")
    }

    /// The estimate for a model of `config` (see `ModelSize.estimatedBytes`), plus `extraBuffers`
    /// more float32 copies of the parameters (optimizer moments), refused when it exceeds memory.
    static func requireFits(config: LlamaConfig, languageModelHead: Bool = true, extraBuffers: Int = 0,
                            bytesPerWeight: Int = 4, file: String) throws {
        let bytes = ModelSize.estimatedBytes(config: config, languageModelHead: languageModelHead, bytesPerWeight: bytesPerWeight)
            + 4 * ModelSize.parameterCount(config: config, languageModelHead: languageModelHead) * Double(extraBuffers)
        let moments = extraBuffers > 0 ? " and \(extraBuffers) optimizer moment\(extraBuffers == 1 ? "" : "s")" : ""
        try requireFits(bytes: bytes,
                        what: "this model (hidden_size \(config.hiddenSize), num_hidden_layers \(config.numHiddenLayers), vocab_size \(config.vocabSize)\(moments))",
                        file: file)
    }

}

/// Sizes of a Llama model computed from its configuration alone, in floating point so that absurd
/// configurations (hidden_size 10¹², a million layers) give huge numbers instead of trapping.
enum ModelSize {
    /// How many tensors `ParameterLayout(config:languageModelHead:)` lays out: the embedding, nine a
    /// layer, the final norm, and lm_head when untied and wanted. Int.max when that overflows.
    static func tensorCount(config c: LlamaConfig, languageModelHead: Bool = true) -> Int {
        let (perLayers, overflow) = c.numHiddenLayers.multipliedReportingOverflow(by: 9)
        guard !overflow, perLayers <= Int.max - 3 else { return Int.max }
        return perLayers + 2 + (languageModelHead && !c.tieWordEmbeddings ? 1 : 0)
    }

    /// How many floats `ParameterLayout(config:languageModelHead:)` lays out (saturating).
    static func parameterCount(config c: LlamaConfig, languageModelHead: Bool = true) -> Double {
        Double(c.parameterCount(languageModelHead: languageModelHead))
    }

    /// Bytes a loaded model occupies: the parameters (float32, or 2 bytes each for a 16-bit frozen
    /// model, whose mapped pages count once resident), the RoPE cos/sin tables and the layout's
    /// bookkeeping (about 256 bytes a tensor).
    static func estimatedBytes(config c: LlamaConfig, languageModelHead: Bool = true, bytesPerWeight: Int = 4) -> Double {
        let rope = Double(c.maxPositionEmbeddings) * Double(c.headDim / 2) * 2 * 4
        let bookkeeping = Double(tensorCount(config: c, languageModelHead: languageModelHead)) * 256
        return Double(bytesPerWeight) * parameterCount(config: c, languageModelHead: languageModelHead) + rope + bookkeeping
    }
}

/// Agreement between a configuration and the tensors a checkpoint's headers describe, checked
/// before anything is allocated.
enum LayoutCheck {
    /// How many decoder layers tensor names of the form "model.layers.<i>.…" cover: the largest
    /// index + 1, or 0 when there are none.
    static func layerCount<Names: Sequence>(in names: Names) -> Int where Names.Element == String {
        var count = 0
        let prefix = "model.layers."
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0, index < Int.max else { continue }
            count = max(count, index + 1)
        }
        return count
    }

    /// Throws unless `config.numHiddenLayers` equals the number of layers among `names`:
    /// "<configFile>: num_hidden_layers = 1000000, but model.safetensors holds 2 layers (model.layers.0 to model.layers.1)".
    static func requireLayers<Names: Sequence>(_ config: LlamaConfig, configFile: String, tensorNames names: Names,
                                               weightsName: String) throws where Names.Element == String {
        let present = layerCount(in: names)
        guard present != config.numHiddenLayers else { return }
        let which = present == 0 ? "no layers" : "\(present) layer\(present == 1 ? "" : "s") (model.layers.0 to model.layers.\(present - 1))"
        throw FileError(file: configFile, reason: "num_hidden_layers = \(config.numHiddenLayers), but \(weightsName) holds \(which)")
    }

    /// Throws unless every tensor of `layout` is in `files` with its shape and a float dtype, and
    /// every other tensor is ignorable or in `alsoAllowed`. Reads headers only.
    static func requireSafetensors(_ files: [String: SafetensorsFile], match layout: ParameterLayout, config: LlamaConfig,
                                   directory: URL, alsoAllowed: Set<String>) throws {
        for entry in layout.entries {
            guard let file = files[entry.name], let info = file.tensors[entry.name] else {
                throw FileError(file: directory.path, reason: "missing tensor '\(entry.name)'")
            }
            guard info.shape == entry.shape else {
                throw FileError(file: file.path, reason: "tensor '\(entry.name)' has shape \(info.shape), expected \(entry.shape) from config.json")
            }
            guard info.dtype == .f32 || info.dtype == .bf16 || info.dtype == .f16 else {
                throw FileError(file: file.path, reason: "tensor '\(entry.name)' has dtype \(info.dtype.rawValue), expected F32, BF16 or F16")
            }
        }
        for (name, file) in files.sorted(by: { $0.key < $1.key })
        where layout.entry(named: name) == nil && !ModelDirectory.isIgnorable(name) && !alsoAllowed.contains(name) {
            if name == "lm_head.weight" && config.tieWordEmbeddings { continue }
            throw FileError(file: file.path, reason: "unexpected tensor '\(name)' for this Llama configuration")
        }
    }
}

/// Field-by-field comparison of two configurations under their Hugging Face key names.
enum ConfigComparison {
    /// The first field (in declaration order: hidden_size, intermediate_size, num_hidden_layers, …)
    /// where `a` and `b` differ, as its HF key and both values rendered as JSON; nil when equal.
    static func firstDifference(_ a: LlamaConfig, _ b: LlamaConfig) -> (key: String, a: String, b: String)? {
        guard a != b else { return nil }
        let fieldsA = Mirror(reflecting: a).children, fieldsB = Array(Mirror(reflecting: b).children)
        for (index, field) in fieldsA.enumerated() where index < fieldsB.count {
            let left = render(field.value), right = render(fieldsB[index].value)
            if left != right { return (hfKey(field.label ?? "field \(index)"), left, right) }
        }
        return ("the configuration", render(a), render(b))   // unreachable unless a field hides from Mirror
    }

    /// `numHiddenLayers` → "num_hidden_layers", `bosTokenID` → "bos_token_id".
    static func hfKey(_ swiftName: String) -> String {
        var key = ""
        for character in swiftName.replacingOccurrences(of: "ID", with: "Id") {
            if character.isUppercase { key += "_" + character.lowercased() } else { key.append(character) }
        }
        return key
    }

    /// A field value as JSON text ("4", "1e-05", "null", {"factor":8,…}).
    static func render(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return "null" }
            return render(wrapped)
        }
        switch value {
        case let v as Int: return "\(v)"
        case let v as Double: return "\(v)"
        case let v as Bool: return "\(v)"
        case let v as String: return "\"\(v)\""
        case let v as any Encodable:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(v) { return String(decoding: data, as: UTF8.self) }
            return "\(value)"
        default: return "\(value)"
        }
    }

    /// Throws when `configJSON` (config.json) differs from `embedded` (the config stored in model.h5):
    /// "<config.json>: config.json says num_hidden_layers = 4 but model.h5's embedded config says 2".
    static func requireAgreement(configJSON: LlamaConfig, configFile: URL, embedded: LlamaConfig, checkpointFile: URL) throws {
        guard let difference = firstDifference(configJSON, embedded) else { return }
        throw FileError(file: configFile.path,
                              reason: "config.json says \(difference.key) = \(difference.a) but \(checkpointFile.lastPathComponent)'s embedded config says \(difference.b)")
    }
}
