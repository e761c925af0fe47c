// idpo's own checkpoint: one HDF5 file with every parameter under its Hugging Face name, the
// optimizer state, the RNG state, the config JSON and a format version — written atomically.
//
// Layout (readable with h5py):
//   /                      attributes: format = "idpo-checkpoint", format_version = 1,
//                                      config_json (the model's config.json), metadata_json
//   /parameters/<HF name>  float32, HF shape (e.g. /parameters/model.layers.0.self_attn.q_proj.weight)
//   /optimizer             attributes: name ("adamw", …), step, hyperparameters_json, moments
//                          (comma-separated moment names); present only with optimizer state
//   /optimizer/<moment>/<HF name>   float32, same shapes as the parameters
//   /rng/state             uint64 array (the generator state), when saved

import Foundation
import Kernels
import Llama
import Support


/// A loaded native checkpoint.
public struct NativeCheckpoint {
    public var model: LlamaModel
    public var optimizer: OptimizerState?
    public var rngState: [UInt64]?
    public var metadataJSON: String

    public static let format = "idpo-checkpoint"
    public static let formatVersion: Int64 = 1

    public init(model: LlamaModel, optimizer: OptimizerState? = nil, rngState: [UInt64]? = nil, metadataJSON: String = "{}") {
        self.model = model; self.optimizer = optimizer; self.rngState = rngState; self.metadataJSON = metadataJSON
    }

    /// Writes the checkpoint to `url` atomically: a temporary file in the same folder, flushed to
    /// disk, then renamed over `url`. A crash at any point leaves either the old file or the new one;
    /// a failed write (e.g. "no space left on device") is a FileError naming `url`, leaves
    /// the old file and no temporary file, and leaves no HDF5 handle open.
    public func write(to url: URL) throws {
        let configData = try JSONEncoder.sortedPretty.encode(model.config)
        if let opt = optimizer, let bad = opt.moments.first(where: { $0.values.count != model.layout.count }) {
            throw FileError(file: url.path, reason: "optimizer moment '\(bad.name)' has \(bad.values.count) values, the model \(model.layout.count)")
        }
        try AtomicFile.write(to: url) { tmp in
            try HDF5File.write(tmp.path) { f in
                try f.setAttribute("/", "format", string: Self.format)
                try f.setAttribute("/", "format_version", int: Self.formatVersion)
                try f.setAttribute("/", "config_json", string: String(decoding: configData, as: UTF8.self))
                try f.setAttribute("/", "metadata_json", string: metadataJSON)
                try f.createGroup("/parameters")
                for e in model.layout.entries {
                    try f.writeFloats("/parameters/" + e.name, shape: e.shape, data: model.parameters.pointer + e.offset)
                }
                if let opt = optimizer { try f.writeOptimizerState(opt, entries: model.layout.entries) }
                if let rng = rngState {
                    try f.createGroup("/rng")
                    try f.writeUInt64s("/rng/state", values: rng)
                }
            }
        }
    }

    /// The most elements `/rng/state` may hold (a generator state is a few words).
    static let maximumRNGStateCount = 1 << 20

    /// Reads a checkpoint written by `write(to:)`. A foreign, truncated, inconsistent or hostile
    /// file is a thrown error naming the file and what is wrong: the embedded config is checked
    /// against this machine's memory and every dataset's shape before anything is allocated, and
    /// a NaN or ±Inf in a parameter or optimizer moment is refused.
    public static func read(from url: URL) throws -> NativeCheckpoint {
        try read(from: url, configJSON: nil)
    }

    /// `read(from:)`, first refusing a checkpoint whose embedded config differs from `configJSON`
    /// (the decoded config.json beside it, and that file's URL), naming the first differing field.
    static func read(from url: URL, configJSON: (config: LlamaConfig, file: URL)?) throws -> NativeCheckpoint {
        let f = try HDF5File.open(url.path)
        guard f.hasAttribute("/", "format"), try f.stringAttribute("/", "format") == format else {
            throw FileError(file: url.path, reason: "not an idpo checkpoint (no format attribute \"\(format)\")")
        }
        let version = try f.intAttribute("/", "format_version")
        guard version == formatVersion else {
            throw FileError(file: url.path, reason: "checkpoint format version \(version); this idpo reads version \(formatVersion)")
        }
        let configText = try f.stringAttribute("/", "config_json")
        let config: LlamaConfig
        do { config = try LlamaConfig.decode(jsonData: Data(configText.utf8)) } catch {
            throw FileError(file: url.path, reason: "embedded config_json: \(error)")
        }
        if let configJSON {
            try ConfigComparison.requireAgreement(configJSON: configJSON.config, configFile: configJSON.file,
                                                  embedded: config, checkpointFile: url)
        }
        let momentNames = f.exists("/optimizer")
            ? try f.stringAttribute("/optimizer", "moments").split(separator: ",").map(String.init) : []

        // Before allocating: the model and its moments fit in memory, and every dataset has the shape
        // the embedded config gives it (the tensor count first, which bounds the layout built).
        try ModelMemory.requireFits(config: config, extraBuffers: momentNames.count, file: url.path)
        let expectedTensors = ModelSize.tensorCount(config: config)
        guard let tensorsPresent = f.memberCount("/parameters") else {
            throw FileError(file: url.path, reason: "missing group '/parameters'")
        }
        guard tensorsPresent == expectedTensors else {
            throw FileError(file: url.path, reason: "the embedded config (num_hidden_layers = \(config.numHiddenLayers), tie_word_embeddings = \(config.tieWordEmbeddings)) needs \(expectedTensors) tensors, but /parameters holds \(tensorsPresent)")
        }
        let layout = ParameterLayout(config: config)
        for group in ["/parameters"] + momentNames.map({ "/optimizer/" + $0 }) {
            for e in layout.entries {
                let shape = try f.shape("\(group)/\(e.name)")
                guard shape == e.shape else {
                    throw FileError(file: url.path, reason: "dataset '\(group)/\(e.name)' has shape \(shape), expected \(e.shape) from the embedded config")
                }
            }
        }

        let model = LlamaModel(config: config)
        for e in model.layout.entries {
            let destination = model.parameters.pointer + e.offset
            try f.readFloats("/parameters/" + e.name, shape: e.shape, into: destination)
            try NonFiniteValues.check(destination, count: e.count, tensor: e.name, file: url.path)
        }
        var optimizer: OptimizerState? = nil
        if f.exists("/optimizer") {
            var moments: [(name: String, values: FloatBuffer)] = []
            for name in momentNames {
                let buf = FloatBuffer(count: model.layout.count)
                for e in model.layout.entries {
                    let destination = buf.pointer + e.offset
                    try f.readFloats("/optimizer/\(name)/\(e.name)", shape: e.shape, into: destination)
                    try NonFiniteValues.check(destination, count: e.count, tensor: e.name, file: url.path,
                                              subject: "optimizer moment '\(name)' of tensor '\(e.name)'")
                }
                moments.append((name, buf))
            }
            optimizer = OptimizerState(name: try f.stringAttribute("/optimizer", "name"),
                                       step: Int(try f.intAttribute("/optimizer", "step")),
                                       hyperparametersJSON: try f.stringAttribute("/optimizer", "hyperparameters_json"),
                                       moments: moments)
        }
        let rng = f.exists("/rng/state") ? try f.readUInt64s("/rng/state", maximumCount: maximumRNGStateCount) : nil
        let metadata = f.hasAttribute("/", "metadata_json") ? try f.stringAttribute("/", "metadata_json") : "{}"
        try f.close()
        return NativeCheckpoint(model: model, optimizer: optimizer, rngState: rng, metadataJSON: metadata)
    }
}

extension JSONEncoder {
    static var sortedPretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

extension HDF5File {
    /// Writes `/optimizer` (attributes name, step, hyperparameters_json, moments) and each moment's
    /// tensors `/optimizer/<moment>/<name>`, laid out by `entries` (idpo's checkpoint, an adapter's state).
    func writeOptimizerState(_ opt: OptimizerState, entries: [ParameterEntry]) throws {
        try createGroup("/optimizer")
        try setAttribute("/optimizer", "name", string: opt.name)
        try setAttribute("/optimizer", "step", int: Int64(opt.step))
        try setAttribute("/optimizer", "hyperparameters_json", string: opt.hyperparametersJSON)
        try setAttribute("/optimizer", "moments", string: opt.moments.map(\.name).joined(separator: ","))
        for (name, values) in opt.moments {
            try createGroup("/optimizer/" + name)
            for e in entries { try writeFloats("/optimizer/\(name)/\(e.name)", shape: e.shape, data: values.pointer + e.offset) }
        }
    }
}
