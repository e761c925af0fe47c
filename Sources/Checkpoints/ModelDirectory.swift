// A model is a directory: config.json, tokenizer files, and weights as model.safetensors, sharded
// safetensors (model.safetensors.index.json), or idpo's model.h5. One loader for all of them —
// checking the config against memory and the checkpoint's headers before allocating, refusing
// NaN/±Inf weights, and requiring config.json to agree with model.h5 — and writers for both the
// Hugging Face layout and idpo's own. A GGUF file (llama.cpp's format) is accepted wherever a
// directory is: its config, weights and tokenizer come from the one file (GGUFLlama.swift,
// GGUFTokenizer.swift).

import Foundation
import Kernels
import Llama
import Support

public enum ModelDirectory {
    /// Files that travel with a model besides config and weights (copied on save when present).
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "chat_template.jinja"]

    public enum WeightsFormat: String, Sendable { case safetensors, shardedSafetensors = "sharded-safetensors", hdf5, gguf }

    /// Which weights file a directory holds (model.h5 first, then sharded, then single safetensors),
    /// or `.gguf` when `url` is a GGUF file.
    public static func weightsFormat(_ url: URL) throws -> WeightsFormat {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            if fm.fileExists(atPath: url.path) && isGGUF(url) { return .gguf }
            throw FileError(file: url.path, reason: fm.fileExists(atPath: url.path) ? "not a model directory (nor a GGUF file)" : "not a model directory")
        }
        if fm.fileExists(atPath: url.appendingPathComponent("model.h5").path) { return .hdf5 }
        if fm.fileExists(atPath: url.appendingPathComponent("model.safetensors.index.json").path) { return .shardedSafetensors }
        if fm.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) { return .safetensors }
        throw FileError(file: url.path, reason: "no weights: expected model.safetensors, model.safetensors.index.json or model.h5")
    }

    /// Whether `url` is a file taken as GGUF: named *.gguf (a bad one is then refused by the GGUF
    /// reader, which says why), or starting with the GGUF magic number whatever its name.
    public static func isGGUF(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { return false }
        return url.pathExtension.lowercased() == "gguf" || GGUFFile.hasMagic(url)
    }

    /// Tensor names that may appear in HF checkpoints but carry no parameters.
    static func isIgnorable(_ name: String) -> Bool { name.hasSuffix("rotary_emb.inv_freq") }

    /// The largest config.json or shard index read (real ones are a few kB).
    static let maximumJSONBytes = 64 << 20

    /// Loads the model (config and weights) from a directory of any supported layout.
    ///
    /// Before anything is allocated, the config is checked against this machine's memory and the
    /// checkpoint's tensor headers (layer count, every name and shape); while reading, NaN and ±Inf
    /// weights are refused. For model.h5, a config.json beside it must agree with the embedded config.
    /// Every failure names the file and what was expected.
    ///
    /// - Parameter frozen: the model will not be trained (judge, reference, sampling copy): a
    ///   safetensors checkpoint whose matrices are BF16 or F16 is then kept that way, read in place
    ///   from the mapped file and widened as the kernels read it (results bit-identical to a float32
    ///   copy, half the memory). Other formats load as float32 either way.
    ///
    /// A directory holding a PEFT adapter (adapter_config.json) loads as its base model
    /// (`base_model_name_or_path`, loaded frozen: it is not trained) carrying the adapter.
    public static func load(_ url: URL, frozen: Bool = false) throws -> LlamaModel {
        if AdapterDirectory.isAdapter(url) {
            let base = try load(try AdapterDirectory.baseDirectory(of: url), frozen: true)
            base.adapter = try AdapterDirectory.read(url, for: base.config)
            return base
        }
        switch try weightsFormat(url) {
        case .hdf5: return try loadCheckpoint(url).model
        case .gguf: return try GGUFFile(url: url).loadLlama()
        case .safetensors, .shardedSafetensors:
            let config = try readConfig(url)
            let files = try safetensorsFiles(url)
            let sixteenBit = frozen && matricesAreSixteenBit(files)
            try ModelMemory.requireFits(config: config, bytesPerWeight: sixteenBit ? 2 : 4, file: configURL(url).path)
            try checkSafetensorsHeaders(files, config: config, directory: url)
            if sixteenBit { return try frozenSixteenBitModel(files, config: config, languageModelHead: true, directory: url) }
            let model = LlamaModel(config: config)
            try readSafetensorsWeights(files, into: model, directory: url)
            return model
        }
    }

    /// Whether every matrix (2-D tensor) of the files is BF16 or F16.
    static func matricesAreSixteenBit(_ files: [String: SafetensorsFile]) -> Bool {
        let matrices = files.compactMap { name, file in file.tensors[name].flatMap { $0.shape.count == 2 ? $0 : nil } }
        return !matrices.isEmpty && matrices.allSatisfy { $0.dtype == .bf16 || $0.dtype == .f16 }
    }

    /// A frozen model over the files' 16-bit matrices in place (checked for NaN/±Inf), 1-D tensors
    /// widened to float32; the model keeps the mapped files alive.
    static func frozenSixteenBitModel(_ files: [String: SafetensorsFile], config: LlamaConfig, languageModelHead: Bool,
                                      directory: URL) throws -> LlamaModel {
        let layout = ParameterLayout(config: config, languageModelHead: languageModelHead)
        var matrices: [Int: WeightMatrix] = [:], vectors: [Int: FloatBuffer] = [:]
        for entry in layout.entries {
            guard let file = files[entry.name] else { throw FileError(file: directory.path, reason: "missing tensor '\(entry.name)'") }
            if entry.shape.count == 2, let matrix = try file.sixteenBitMatrix(entry.name) {
                matrices[entry.offset] = matrix
            } else {
                let values = FloatBuffer(count: entry.count)
                try file.readFloats(entry.name, into: values.pointer, count: entry.count, requireFinite: true)
                if entry.shape.count == 2 { matrices[entry.offset] = WeightMatrix(values.pointer) }
                vectors[entry.offset] = values
            }
        }
        var owners: [AnyObject] = [], seen = Set<ObjectIdentifier>()
        for file in files.values where seen.insert(ObjectIdentifier(file)).inserted { owners.append(file) }
        return LlamaModel(config: config, languageModelHead: languageModelHead,
                          frozen16: Frozen16Weights(matrices: matrices, vectors: vectors, owners: owners))
    }

    /// Loads a backbone without lm_head plus the named head tensors (e.g. `score.weight` of a
    /// LlamaForSequenceClassification reward model). The first name found among each entry's
    /// alternatives is used; a missing head is an error naming the alternatives. The `optional`
    /// tensors that are present follow the required ones (e.g. a GPM's `prompt_head.weight`).
    /// Checked as `load`.
    public static func loadWithHead(_ url: URL, head alternatives: [[String]], optional: [String] = [], frozen: Bool = false) throws
        -> (model: LlamaModel, heads: [(name: String, shape: [Int], values: [Float])]) {
        let (config, files, heads) = try heads(url, alternatives: alternatives, optional: optional) { config, files in
            // (before the headers are checked: a config too big for memory is named as such)
            try ModelMemory.requireFits(config: config, languageModelHead: false, bytesPerWeight: frozen && matricesAreSixteenBit(files) ? 2 : 4,
                                        file: configURL(url).path)
        }
        let sixteenBit = frozen && matricesAreSixteenBit(files)
        if sixteenBit {
            return (try frozenSixteenBitModel(files, config: config, languageModelHead: false, directory: url), heads)
        }
        let model = LlamaModel(config: config, languageModelHead: false)
        try readSafetensorsWeights(files, into: model, directory: url)
        return (model, heads)
    }

    /// The config and the named head tensors of a reward/preference model directory, checked as
    /// `loadWithHead` checks them, without reading the backbone's weights (a judge whose backbone a
    /// serving engine runs).
    public static func readHeads(_ url: URL, head alternatives: [[String]], optional: [String] = []) throws
        -> (config: LlamaConfig, heads: [(name: String, shape: [Int], values: [Float])]) {
        let (config, _, heads) = try heads(url, alternatives: alternatives, optional: optional)
        return (config, heads)
    }

    private static func heads(_ url: URL, alternatives: [[String]], optional: [String],
                              beforeChecks: (LlamaConfig, [String: SafetensorsFile]) throws -> Void = { _, _ in })
        throws -> (LlamaConfig, [String: SafetensorsFile], [(name: String, shape: [Int], values: [Float])]) {
        switch try weightsFormat(url) {
        case .hdf5:
            throw FileError(file: url.path, reason: "reward/preference heads are read from safetensors directories")
        case .gguf:
            throw FileError(file: url.path, reason: "a GGUF file holds no reward/preference head (expected one of \(alternatives.map { $0.joined(separator: ", ") }.joined(separator: "; "))); use the model's safetensors directory")
        case .safetensors, .shardedSafetensors:
            break
        }
        let config = try readConfig(url)
        let files = try safetensorsFiles(url)
        try beforeChecks(config, files)
        var headNames: [String] = []
        for names in alternatives {
            guard let name = names.first(where: { files[$0] != nil }) else {
                throw FileError(file: url.path, reason: "missing head tensor (one of \(names.joined(separator: ", ")))")
            }
            headNames.append(name)
        }
        headNames += optional.filter { files[$0] != nil }
        let known = Set(headNames).union(["lm_head.weight"])
        try checkSafetensorsHeaders(files, config: config, directory: url, languageModelHead: false, alsoAllowed: known)
        var heads: [(String, [Int], [Float])] = []
        for name in headNames {
            let file = files[name]!
            heads.append((name, file.tensors[name]!.shape, try file.floats(name, requireFinite: true)))
        }
        return (config, files, heads)
    }

    /// Loads idpo's checkpoint (with optimizer and RNG state) from a directory holding model.h5. A
    /// config.json beside it must agree with the config embedded in model.h5 (the first differing
    /// field is named); without one, the embedded config is used.
    public static func loadCheckpoint(_ url: URL) throws -> NativeCheckpoint {
        let checkpointURL = url.appendingPathComponent("model.h5")
        let configFile = configURL(url)
        var status = stat()
        let hasConfig = lstat(configFile.path, &status) == 0   // present, even if unreadable: then an error
        let configJSON = hasConfig ? (config: try readConfig(url), file: configFile) : nil
        return try NativeCheckpoint.read(from: checkpointURL, configJSON: configJSON)
    }

    static func configURL(_ directory: URL) -> URL { directory.appendingPathComponent("config.json") }

    /// What a model directory holds, read from headers only (nothing is loaded): its config, the
    /// weight files with their sizes, and how many tensors of each dtype ("F32", "BF16", …).
    /// For a PEFT adapter directory: the base's description, the adapter's files first in `files`
    /// and `contentFiles`, and `adapter` set.
    public struct Description {
        public var config: LlamaConfig
        public var format: WeightsFormat
        public var files: [(name: String, bytes: Int)]
        public var dtypes: [String: Int]
        /// Every file the model's values come from, named for hashing: config.json (when present)
        /// and the weight files; an adapter's own files, then its base's as "base/<name>".
        public var contentFiles: [(name: String, url: URL)]
        /// The adapter, when the directory is a base + adapter: (its settings, its base directory).
        public var adapter: (config: LoRAConfig, base: URL)?
    }

    public static func describe(_ url: URL) throws -> Description {
        if AdapterDirectory.isAdapter(url) {
            let base = try AdapterDirectory.baseDirectory(of: url)
            var d = try describe(base)
            let own = [AdapterDirectory.configFile, AdapterDirectory.weightsFile].map { ($0, url.appendingPathComponent($0)) }
            let lora: LoRAConfig
            do { lora = try LoRAConfig.read(url.appendingPathComponent(AdapterDirectory.configFile)) } catch let e as LoRAError {
                throw FileError(file: url.appendingPathComponent(AdapterDirectory.configFile).path, reason: e.description)
            }
            d.files = [(AdapterDirectory.weightsFile, fileSize(own[1].1))] + d.files
            d.contentFiles = own + d.contentFiles.map { ("base/" + $0.name, $0.url) }
            d.adapter = (lora, base)
            return d
        }
        let format = try weightsFormat(url)
        let config: LlamaConfig
        var dtypes: [String: Int] = [:]
        var names: Set<String> = []
        switch format {
        case .gguf:
            let file = try GGUFFile(url: url)
            config = try file.llamaConfig()
            for info in file.tensors.values { dtypes[info.type.name, default: 0] += 1 }
            return Description(config: config, format: format, files: [(url.lastPathComponent, fileSize(url))], dtypes: dtypes,
                               contentFiles: [(url.lastPathComponent, url)], adapter: nil)
        case .hdf5:
            config = try loadCheckpointConfig(url)
            dtypes["F32"] = ParameterLayout(config: config).entries.count
            names = ["model.h5"]
        case .safetensors, .shardedSafetensors:
            config = try readConfig(url)
            let files = try safetensorsFiles(url)
            for (tensor, file) in files {
                dtypes[file.tensors[tensor]!.dtype.rawValue, default: 0] += 1
                names.insert(URL(fileURLWithPath: file.path).lastPathComponent)
            }
            if format == .shardedSafetensors { names.insert("model.safetensors.index.json") }
        }
        let sizes = names.sorted().map { ($0, fileSize(url.appendingPathComponent($0))) }
        let config_ = FileManager.default.fileExists(atPath: configURL(url).path) ? [("config.json", configURL(url))] : []
        return Description(config: config, format: format, files: sizes, dtypes: dtypes,
                           contentFiles: config_ + names.sorted().map { ($0, url.appendingPathComponent($0)) }, adapter: nil)
    }

    static func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? Int) ?? 0
    }

    /// The config of a directory holding model.h5: config.json when present, else the embedded one.
    static func loadCheckpointConfig(_ url: URL) throws -> LlamaConfig {
        if FileManager.default.fileExists(atPath: configURL(url).path) { return try readConfig(url) }
        return try loadCheckpoint(url).model.config
    }

    /// Reads and validates `config.json` of `directory`: an unreadable file is a FileError
    /// ("cannot read config.json: is a directory"), a bad field a ConfigError naming the field and file.
    /// The configuration of a model directory or GGUF file, without loading its weights.
    public static func config(of url: URL) throws -> LlamaConfig {
        switch try weightsFormat(url) {
        case .gguf: return try GGUFFile(url: url).llamaConfig()
        case .hdf5: return try loadCheckpointConfig(url)
        case .safetensors, .shardedSafetensors: return try readConfig(url)
        }
    }

    public static func readConfig(_ directory: URL) throws -> LlamaConfig {
        let file = configURL(directory)
        let data = try FileRead.data(at: file, what: "config.json", maxBytes: maximumJSONBytes)
        do { return try LlamaConfig.decode(jsonData: data) } catch let e as ConfigError {
            throw ConfigError(field: e.field, reason: "\(e.reason) (in \(file.path))")
        }
    }

    /// The safetensors files of a directory and which file holds each tensor (headers only).
    static func safetensorsFiles(_ url: URL) throws -> [String: SafetensorsFile] {
        if try weightsFormat(url) == .safetensors {
            let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
            return file.tensors.keys.reduce(into: [:]) { $0[$1] = file }
        }
        let indexURL = url.appendingPathComponent("model.safetensors.index.json")
        let json: Any
        let indexData = try FileRead.data(at: indexURL, what: "the shard index", maxBytes: maximumJSONBytes)
        do { json = try JSONSerialization.jsonObject(with: indexData) } catch {
            throw FileError(file: indexURL.path, reason: "not valid JSON")
        }
        guard let map = (json as? [String: Any])?["weight_map"] as? [String: String] else {
            throw FileError(file: indexURL.path, reason: "missing 'weight_map' object of tensor name → file name")
        }
        var shards: [String: SafetensorsFile] = [:]
        var byTensor: [String: SafetensorsFile] = [:]
        for (tensor, fileName) in map.sorted(by: { $0.key < $1.key }) {
            guard !fileName.contains("/") && !fileName.hasPrefix(".") else {
                throw FileError(file: indexURL.path, reason: "weight_map entry '\(tensor)' names file '\(fileName)' outside the directory")
            }
            if shards[fileName] == nil { shards[fileName] = try SafetensorsFile(url: url.appendingPathComponent(fileName)) }
            guard shards[fileName]!.tensors[tensor] != nil else {
                throw FileError(file: url.appendingPathComponent(fileName).path, reason: "missing tensor '\(tensor)' listed in the index")
            }
            byTensor[tensor] = shards[fileName]
        }
        return byTensor
    }

    /// Checks, from the headers alone, that `files` hold exactly the tensors `config` lays out:
    /// first the layer count (so that a config claiming a million layers is refused before its
    /// layout is built), then every name, shape and dtype. Returns the checked layout.
    @discardableResult
    static func checkSafetensorsHeaders(_ files: [String: SafetensorsFile], config: LlamaConfig, directory: URL,
                                        languageModelHead: Bool = true, alsoAllowed: Set<String> = []) throws -> ParameterLayout {
        let shardNames = Set(files.values.map { URL(fileURLWithPath: $0.path).lastPathComponent }).sorted()
        let weightsName = shardNames.count == 1 ? shardNames[0] : "the \(shardNames.count) shards"
        try LayoutCheck.requireLayers(config, configFile: configURL(directory).path, tensorNames: files.keys, weightsName: weightsName)
        let layout = ParameterLayout(config: config, languageModelHead: languageModelHead)
        try LayoutCheck.requireSafetensors(files, match: layout, config: config, directory: directory, alsoAllowed: alsoAllowed)
        return layout
    }

    /// Reads every tensor of `model`'s layout from `files` (checked by `checkSafetensorsHeaders`),
    /// converting to float32 and refusing NaN/±Inf in the same pass.
    static func readSafetensorsWeights(_ files: [String: SafetensorsFile], into model: LlamaModel, directory: URL) throws {
        for entry in model.layout.entries {
            guard let file = files[entry.name] else {
                throw FileError(file: directory.path, reason: "missing tensor '\(entry.name)'")
            }
            try file.readFloats(entry.name, into: model.parameters.pointer + entry.offset, count: entry.count, requireFinite: true)
        }
    }

    /// Writes a Hugging Face model directory: config.json, model.safetensors (F32, BF16 or F16;
    /// lm_head omitted when tied), and the tokenizer files copied from `tokenizerSource` when given
    /// (made from the metadata when it is a GGUF file).
    public static func saveHuggingFace(_ model: LlamaModel, to url: URL, dtype: SafetensorsWriter.DType = .f32,
                                       tokenizerSource: URL? = nil) throws {
        precondition(model.isFloat32, "a 16-bit frozen model is not written out")
        let tokenizer = try tokenizerFileContents(from: tokenizerSource, to: url)
        try AtomicFile.createDirectory(at: url)
        let tensors = model.layout.entries.map {
            SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: UnsafePointer(model.parameters.pointer + $0.offset))
        }
        try SafetensorsWriter.write(tensors, dtype: dtype, to: url.appendingPathComponent("model.safetensors"))
        try writeConfig(model.config, to: url, dtype: dtype)
        try writeTokenizerFiles(tokenizer, to: url)
        // A stale model.h5 or shard index would take precedence over the new weights.
        for stale in ["model.h5", "model.safetensors.index.json"] {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(stale))
        }
    }

    /// Writes idpo's directory layout: config.json, model.h5 (with optimizer/RNG state), tokenizer files.
    public static func saveNative(_ checkpoint: NativeCheckpoint, to url: URL, tokenizerSource: URL? = nil) throws {
        let tokenizer = try tokenizerFileContents(from: tokenizerSource, to: url)
        try AtomicFile.createDirectory(at: url)
        try checkpoint.write(to: url.appendingPathComponent("model.h5"))
        try writeConfig(checkpoint.model.config, to: url)
        try writeTokenizerFiles(tokenizer, to: url)
    }

    /// config.json, its `torch_dtype` naming the weights' dtype (transformers loads `dtype="auto"` in it).
    static func writeConfig(_ config: LlamaConfig, to url: URL, dtype: SafetensorsWriter.DType = .f32) throws {
        let encoder = JSONEncoder.sortedPretty
        encoder.userInfo[LlamaConfig.weightsDtypeKey] = ["F32": "float32", "BF16": "bfloat16", "F16": "float16"][dtype.rawValue]!
        try AtomicFile.write(try encoder.encode(config), to: url.appendingPathComponent("config.json"))
    }

    /// The tokenizer files of directory `source` (those of `tokenizerFiles` that exist), or
    /// tokenizer.json and tokenizer_config.json made from the metadata of GGUF file `source`. Read
    /// before anything is written, so a tokenizer that cannot be converted leaves no partial output.
    static func tokenizerFileContents(from source: URL?, to destination: URL) throws -> [(name: String, data: Data)] {
        guard let source, source.standardizedFileURL != destination.standardizedFileURL else { return [] }
        if (try? weightsFormat(source)) == .gguf {
            let files = try GGUFFile(url: source).huggingFaceTokenizer()
            return [("tokenizer.json", files.tokenizerJSON), ("tokenizer_config.json", files.tokenizerConfigJSON)]
        }
        return try tokenizerFiles.compactMap { name in
            let from = source.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: from.path) else { return nil }
            return (name, try FileRead.data(at: from, what: name))
        }
    }

    static func writeTokenizerFiles(_ files: [(name: String, data: Data)], to destination: URL) throws {
        for file in files { try AtomicFile.write(file.data, to: destination.appendingPathComponent(file.name)) }
    }
}
