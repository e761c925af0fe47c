// A model is a directory: config.json, tokenizer files, and weights as model.safetensors, sharded
// safetensors (model.safetensors.index.json), or idpo's model.h5. One loader for all of them, and
// writers for both the Hugging Face layout and idpo's own.

import Foundation
import Kernels
import Llama

public enum ModelDirectory {
    /// Files that travel with a model besides config and weights (copied on save when present).
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "chat_template.jinja"]

    public enum WeightsFormat: String, Sendable { case safetensors, shardedSafetensors = "sharded-safetensors", hdf5 }

    /// Which weights file a directory holds (model.h5 first, then sharded, then single safetensors).
    public static func weightsFormat(_ url: URL) throws -> WeightsFormat {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError(file: url.path, reason: "not a model directory")
        }
        if fm.fileExists(atPath: url.appendingPathComponent("model.h5").path) { return .hdf5 }
        if fm.fileExists(atPath: url.appendingPathComponent("model.safetensors.index.json").path) { return .shardedSafetensors }
        if fm.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) { return .safetensors }
        throw CheckpointError(file: url.path, reason: "no weights: expected model.safetensors, model.safetensors.index.json or model.h5")
    }

    /// Tensor names that may appear in HF checkpoints but carry no parameters.
    static func isIgnorable(_ name: String) -> Bool { name.hasSuffix("rotary_emb.inv_freq") }

    /// Loads the model (config and weights) from a directory of any supported layout.
    public static func load(_ url: URL) throws -> LlamaModel {
        switch try weightsFormat(url) {
        case .hdf5: return try loadCheckpoint(url).model
        case .safetensors, .shardedSafetensors:
            let config = try LlamaConfig.load(url: url.appendingPathComponent("config.json"))
            let model = LlamaModel(config: config)
            try readSafetensorsWeights(url, into: model)
            return model
        }
    }

    /// Loads a backbone without lm_head plus the named head tensors (e.g. `score.weight` of a
    /// LlamaForSequenceClassification reward model). The first name found among each entry's
    /// alternatives is used; a missing head is an error naming the alternatives.
    public static func loadWithHead(_ url: URL, head alternatives: [[String]]) throws
        -> (model: LlamaModel, heads: [(name: String, shape: [Int], values: [Float])]) {
        guard try weightsFormat(url) != .hdf5 else {
            throw CheckpointError(file: url.path, reason: "reward/preference heads are read from safetensors directories")
        }
        let config = try LlamaConfig.load(url: url.appendingPathComponent("config.json"))
        let model = LlamaModel(config: config, languageModelHead: false)
        let files = try safetensorsFiles(url)
        var heads: [(String, [Int], [Float])] = []
        for names in alternatives {
            guard let name = names.first(where: { files[$0] != nil }), let file = files[name], let info = file.tensors[name] else {
                throw CheckpointError(file: url.path, reason: "missing head tensor (one of \(names.joined(separator: ", ")))")
            }
            heads.append((name, info.shape, try file.floats(name)))
        }
        let known = Set(heads.map(\.0)).union(["lm_head.weight"])
        try readSafetensorsWeights(url, into: model, files: files, alsoAllowed: known)
        return (model, heads)
    }

    /// Loads idpo's checkpoint (with optimizer and RNG state) from a directory holding model.h5.
    public static func loadCheckpoint(_ url: URL) throws -> NativeCheckpoint {
        try NativeCheckpoint.read(from: url.appendingPathComponent("model.h5"))
    }

    /// The safetensors files of a directory and which file holds each tensor.
    static func safetensorsFiles(_ url: URL) throws -> [String: SafetensorsFile] {
        if try weightsFormat(url) == .safetensors {
            let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
            return file.tensors.keys.reduce(into: [:]) { $0[$1] = file }
        }
        let indexURL = url.appendingPathComponent("model.safetensors.index.json")
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: try Data(contentsOf: indexURL)) } catch {
            throw CheckpointError(file: indexURL.path, reason: "not valid JSON")
        }
        guard let map = (json as? [String: Any])?["weight_map"] as? [String: String] else {
            throw CheckpointError(file: indexURL.path, reason: "missing 'weight_map' object of tensor name → file name")
        }
        var shards: [String: SafetensorsFile] = [:]
        var byTensor: [String: SafetensorsFile] = [:]
        for (tensor, fileName) in map {
            guard !fileName.contains("/") && !fileName.hasPrefix(".") else {
                throw CheckpointError(file: indexURL.path, reason: "weight_map entry '\(tensor)' names file '\(fileName)' outside the directory")
            }
            if shards[fileName] == nil { shards[fileName] = try SafetensorsFile(url: url.appendingPathComponent(fileName)) }
            guard shards[fileName]!.tensors[tensor] != nil else {
                throw CheckpointError(file: url.appendingPathComponent(fileName).path, reason: "missing tensor '\(tensor)' listed in the index")
            }
            byTensor[tensor] = shards[fileName]
        }
        return byTensor
    }

    static func readSafetensorsWeights(_ url: URL, into model: LlamaModel,
                                       files given: [String: SafetensorsFile]? = nil, alsoAllowed: Set<String> = []) throws {
        let files = try given ?? safetensorsFiles(url)
        for entry in model.layout.entries {
            guard let file = files[entry.name], let info = file.tensors[entry.name] else {
                throw CheckpointError(file: url.path, reason: "missing tensor '\(entry.name)'")
            }
            guard info.shape == entry.shape else {
                throw CheckpointError(file: file.path, reason: "tensor '\(entry.name)' has shape \(info.shape), expected \(entry.shape)")
            }
            guard info.dtype == .f32 || info.dtype == .bf16 || info.dtype == .f16 else {
                throw CheckpointError(file: file.path, reason: "tensor '\(entry.name)' has dtype \(info.dtype.rawValue), expected F32, BF16 or F16")
            }
            try file.readFloats(entry.name, into: model.parameters.pointer + entry.offset, count: entry.count)
        }
        for (name, file) in files where model.layout.entry(named: name) == nil && !isIgnorable(name) && !alsoAllowed.contains(name) {
            if name == "lm_head.weight" && model.config.tieWordEmbeddings { continue }
            throw CheckpointError(file: file.path, reason: "unexpected tensor '\(name)' for this Llama configuration")
        }
    }

    /// Writes a Hugging Face model directory: config.json, model.safetensors (F32 or BF16; lm_head
    /// omitted when tied), and the tokenizer files copied from `tokenizerSource` when given.
    public static func saveHuggingFace(_ model: LlamaModel, to url: URL, dtype: SafetensorsWriter.DType = .f32,
                                       tokenizerSource: URL? = nil) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let tensors = model.layout.entries.map {
            SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: UnsafePointer(model.parameters.pointer + $0.offset))
        }
        try SafetensorsWriter.write(tensors, dtype: dtype, to: url.appendingPathComponent("model.safetensors"))
        try writeConfig(model.config, to: url)
        try copyTokenizerFiles(from: tokenizerSource, to: url)
        // A stale model.h5 or shard index would take precedence over the new weights.
        for stale in ["model.h5", "model.safetensors.index.json"] {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(stale))
        }
    }

    /// Writes idpo's directory layout: config.json, model.h5 (with optimizer/RNG state), tokenizer files.
    public static func saveNative(_ checkpoint: NativeCheckpoint, to url: URL, tokenizerSource: URL? = nil) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try checkpoint.write(to: url.appendingPathComponent("model.h5"))
        try writeConfig(checkpoint.model.config, to: url)
        try copyTokenizerFiles(from: tokenizerSource, to: url)
    }

    static func writeConfig(_ config: LlamaConfig, to url: URL) throws {
        try AtomicFile.write(try JSONEncoder.sortedPretty.encode(config), to: url.appendingPathComponent("config.json"))
    }

    static func copyTokenizerFiles(from source: URL?, to destination: URL) throws {
        guard let source, source.standardizedFileURL != destination.standardizedFileURL else { return }
        for name in tokenizerFiles {
            let from = source.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: from.path) else { continue }
            try AtomicFile.write(try Data(contentsOf: from), to: destination.appendingPathComponent(name))
        }
    }
}
