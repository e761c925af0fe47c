// A LoRA adapter on disk, in PEFT's layout: adapter_config.json (LoraConfig's keys, with
// `base_model_name_or_path` naming the base model directory) and adapter_model.safetensors (float32
// `base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_A.weight` (r, in) and `lora_B.weight`
// (out, r)), plus the tokenizer files so the directory is a complete policy for idpo. A model
// directory that holds adapter_config.json is loaded as its base + the adapter (ModelDirectory.load).

import Foundation
import Kernels
import Llama
import Support

public enum AdapterDirectory {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// Whether `url` is a directory holding a PEFT adapter (adapter_config.json).
    public static func isAdapter(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.appendingPathComponent(configFile).path, isDirectory: &isDirectory)
            && !isDirectory.boolValue
    }

    /// The base model directory an adapter names (`base_model_name_or_path`): an absolute path, or
    /// one relative to the adapter's directory (then to the working directory). A hub id or a path
    /// that is not there is an error naming the field.
    public static func baseDirectory(of adapter: URL) throws -> URL {
        let file = adapter.appendingPathComponent(configFile)
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: FileRead.data(at: file, what: "adapter config")),
              case .string(let base)? = fields["base_model_name_or_path"], !base.isEmpty else {
            throw FileError(file: file.path, reason: "no 'base_model_name_or_path' naming the base model directory")
        }
        let candidates = base.hasPrefix("/") ? [URL(fileURLWithPath: base)]
            : [adapter.appendingPathComponent(base), URL(fileURLWithPath: base)]
        guard let found = candidates.first(where: { (try? ModelDirectory.weightsFormat($0)) != nil }) else {
            throw FileError(file: file.path, reason: "base_model_name_or_path '\(base)' is not a model directory here (idpo needs the base model's files; nothing is downloaded)")
        }
        return found.standardizedFileURL
    }

    /// Reads the adapter at `url` for a model of `config`: its settings (LoRAConfig.read, which
    /// refuses what idpo does not implement) and every A and B, each checked for name, shape and
    /// finiteness; a tensor idpo would not use (another layer, module or kind) is refused by name.
    public static func read(_ url: URL, for config: LlamaConfig) throws -> LoRAAdapter {
        let lora: LoRAConfig
        do { lora = try LoRAConfig.read(url.appendingPathComponent(configFile)) } catch let e as LoRAError {
            throw FileError(file: url.appendingPathComponent(configFile).path, reason: e.description)
        }
        let weights = url.appendingPathComponent(weightsFile)
        let file = try SafetensorsFile(url: weights)
        let adapter = LoRAAdapter(model: config, config: lora)
        // PEFT names tensors with or without the adapter name ("lora_A.default.weight" in memory).
        let names = Dictionary(file.tensors.keys.map { ($0.replacingOccurrences(of: ".default.weight", with: ".weight"), $0) },
                               uniquingKeysWith: { a, _ in a })
        if let unknown = names.keys.sorted().first(where: { adapter.layout.entry(named: $0) == nil }) {
            throw FileError(file: weights.path, reason: "tensor '\(unknown)' is not part of a LoRA adapter with r = \(lora.r) on \(lora.targetModules.map(\.rawValue).joined(separator: ", ")) for this \(config.numHiddenLayers)-layer model")
        }
        for e in adapter.layout.entries {
            guard let stored = names[e.name], let info = file.tensors[stored] else {
                throw FileError(file: weights.path, reason: "missing tensor '\(e.name)'")
            }
            guard info.shape == e.shape else {
                throw FileError(file: weights.path, reason: "tensor '\(e.name)' has shape \(info.shape), expected \(e.shape) (r = \(lora.r))")
            }
            try file.readFloats(stored, into: adapter.parameters.pointer + e.offset, count: e.count, requireFinite: true)
        }
        return adapter
    }

    /// Writes `adapter` to directory `url` as PEFT does (adapter_config.json with `base` as
    /// base_model_name_or_path; adapter_model.safetensors in float32, metadata {"format": "pt"}), with
    /// the tokenizer files of `tokenizerSource`. Each file is written atomically.
    public static func write(_ adapter: LoRAAdapter, base: URL, to url: URL, tokenizerSource: URL? = nil) throws {
        let tokenizer = try ModelDirectory.tokenizerFileContents(from: tokenizerSource, to: url)
        try AtomicFile.createDirectory(at: url)
        let tensors = adapter.layout.entries.map {
            SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: UnsafePointer(adapter.parameters.pointer + $0.offset))
        }
        try SafetensorsWriter.write(tensors, dtype: .f32, to: url.appendingPathComponent(weightsFile))
        let config = try JSONEncoder.sortedPretty.encode(adapter.config.json(base: base.standardizedFileURL.path))
        try AtomicFile.write(config, to: url.appendingPathComponent(configFile))
        try ModelDirectory.writeTokenizerFiles(tokenizer, to: url)
        // Weights of a full model beside an adapter would be taken for it.
        for stale in ["model.h5", "model.safetensors", "model.safetensors.index.json"] {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(stale))
        }
    }

    /// W ← W + s · B A for every adapted projection of a float32 `model` (PEFT's merge_and_unload).
    public static func merge(_ adapter: LoRAAdapter, into model: LlamaModel) {
        precondition(model.isFloat32, "merging needs float32 weights")
        let r = adapter.layout.rank, s = adapter.scale
        for (l, modules) in adapter.layout.layers.enumerated() {
            for module in LoRAModule.allCases {
                guard let w = modules[module.index] else { continue }
                let weight = model.weight(model.layout.layers[l].offset(of: module))
                // W (out, in) += s · B (out, r) · A (r, in)
                Matmul.gemm(transA: false, transB: false, m: w.outFeatures, n: w.inFeatures, k: r, alpha: s,
                            a: adapter.parameters.pointer + w.b, lda: r, b: adapter.parameters.pointer + w.a, ldb: w.inFeatures,
                            beta: 1, c: weight, ldc: w.inFeatures)
            }
        }
    }
}

/// The resumable state of adapter training: the adapter's weights and the optimizer's moments in
/// its layout, one HDF5 file written atomically (`/parameters/<PEFT key>`, `/optimizer/<moment>/<PEFT
/// key>`, attributes format = "idpo-adapter-state", format_version, lora_config_json, and the
/// optimizer's name, step, hyperparameters_json and moments as in idpo's checkpoint).
public enum AdapterTrainingState {
    public static let format = "idpo-adapter-state"
    public static let formatVersion: Int64 = 1

    public static func write(_ adapter: LoRAAdapter, optimizer: OptimizerState, to url: URL) throws {
        let entries = adapter.layout.entries
        if let bad = optimizer.moments.first(where: { $0.values.count != adapter.layout.count }) {
            throw FileError(file: url.path, reason: "optimizer moment '\(bad.name)' has \(bad.values.count) values, the adapter \(adapter.layout.count)")
        }
        let configJSON = try JSONEncoder.sortedPretty.encode(adapter.config.json(base: ""))
        try AtomicFile.write(to: url) { tmp in
            try HDF5File.write(tmp.path) { f in
                try f.setAttribute("/", "format", string: format)
                try f.setAttribute("/", "format_version", int: formatVersion)
                try f.setAttribute("/", "lora_config_json", string: String(decoding: configJSON, as: UTF8.self))
                try f.createGroup("/parameters")
                for e in entries { try f.writeFloats("/parameters/" + e.name, shape: e.shape, data: adapter.parameters.pointer + e.offset) }
                try f.writeOptimizerState(optimizer, entries: entries)
            }
        }
    }

    /// Reads a state written by `write` into `adapter` (whose settings it must have been made with),
    /// returning the optimizer state; a foreign or damaged file is an error naming it.
    public static func read(from url: URL, into adapter: LoRAAdapter) throws -> OptimizerState {
        let f = try HDF5File.open(url.path)
        guard f.hasAttribute("/", "format"), try f.stringAttribute("/", "format") == format,
              try f.intAttribute("/", "format_version") == formatVersion else {
            throw FileError(file: url.path, reason: "not an idpo adapter training state (format \"\(format)\" version \(formatVersion))")
        }
        let stored = try f.stringAttribute("/", "lora_config_json")
        let expected = String(decoding: try JSONEncoder.sortedPretty.encode(adapter.config.json(base: "")), as: UTF8.self)
        guard stored == expected else {
            throw FileError(file: url.path, reason: "the state was saved for other LoRA settings than this run's")
        }
        let momentNames = try f.stringAttribute("/optimizer", "moments").split(separator: ",").map(String.init)
        func readGroup(_ group: String, into buffer: FloatBuffer) throws {
            for e in adapter.layout.entries {
                let shape = try f.shape("\(group)/\(e.name)")
                guard shape == e.shape else {
                    throw FileError(file: url.path, reason: "dataset '\(group)/\(e.name)' has shape \(shape), expected \(e.shape)")
                }
                try f.readFloats("\(group)/\(e.name)", shape: e.shape, into: buffer.pointer + e.offset)
                try NonFiniteValues.check(buffer.pointer + e.offset, count: e.count, tensor: e.name, file: url.path)
            }
        }
        let weights = FloatBuffer(count: adapter.layout.count)
        try readGroup("/parameters", into: weights)
        var moments: [(name: String, values: FloatBuffer)] = []
        for name in momentNames {
            let buffer = FloatBuffer(count: adapter.layout.count)
            try readGroup("/optimizer/" + name, into: buffer)
            moments.append((name, buffer))
        }
        let state = OptimizerState(name: try f.stringAttribute("/optimizer", "name"), step: Int(try f.intAttribute("/optimizer", "step")),
                                   hyperparametersJSON: try f.stringAttribute("/optimizer", "hyperparameters_json"), moments: moments)
        try f.close()
        adapter.parameters.copy(from: weights)
        return state
    }
}
