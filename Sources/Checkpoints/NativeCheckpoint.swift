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

/// Optimizer state stored with a checkpoint: named moment buffers in the parameter layout.
public struct OptimizerState {
    public var name: String
    public var step: Int
    public var hyperparametersJSON: String
    public var moments: [(name: String, values: FloatBuffer)]
    public init(name: String, step: Int, hyperparametersJSON: String = "{}", moments: [(name: String, values: FloatBuffer)]) {
        self.name = name; self.step = step; self.hyperparametersJSON = hyperparametersJSON; self.moments = moments
    }
}

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
    /// disk, then renamed over `url`. A crash at any point leaves either the old file or the new one.
    public func write(to url: URL) throws {
        let configData = try JSONEncoder.sortedPretty.encode(model.config)
        try AtomicFile.write(to: url) { tmp in
            let f = try HDF5File.create(tmp.path)
            try f.setAttribute("/", "format", string: Self.format)
            try f.setAttribute("/", "format_version", int: Self.formatVersion)
            try f.setAttribute("/", "config_json", string: String(decoding: configData, as: UTF8.self))
            try f.setAttribute("/", "metadata_json", string: metadataJSON)
            try f.createGroup("/parameters")
            for e in model.layout.entries {
                try f.writeFloats("/parameters/" + e.name, shape: e.shape, data: model.parameters.pointer + e.offset)
            }
            if let opt = optimizer {
                try f.createGroup("/optimizer")
                try f.setAttribute("/optimizer", "name", string: opt.name)
                try f.setAttribute("/optimizer", "step", int: Int64(opt.step))
                try f.setAttribute("/optimizer", "hyperparameters_json", string: opt.hyperparametersJSON)
                try f.setAttribute("/optimizer", "moments", string: opt.moments.map(\.name).joined(separator: ","))
                for (name, values) in opt.moments {
                    precondition(values.count == model.layout.count, "moment '\(name)' does not match the layout")
                    try f.createGroup("/optimizer/" + name)
                    for e in model.layout.entries {
                        try f.writeFloats("/optimizer/\(name)/\(e.name)", shape: e.shape, data: values.pointer + e.offset)
                    }
                }
            }
            if let rng = rngState {
                try f.createGroup("/rng")
                try f.writeUInt64s("/rng/state", values: rng)
            }
            try f.close()
        }
    }

    /// Reads a checkpoint written by `write(to:)`. A foreign, truncated or inconsistent file is a
    /// thrown error naming the file and what is wrong.
    public static func read(from url: URL) throws -> NativeCheckpoint {
        let f = try HDF5File.open(url.path)
        guard f.hasAttribute("/", "format"), try f.stringAttribute("/", "format") == format else {
            throw CheckpointError(file: url.path, reason: "not an idpo checkpoint (no format attribute \"\(format)\")")
        }
        let version = try f.intAttribute("/", "format_version")
        guard version == formatVersion else {
            throw CheckpointError(file: url.path, reason: "checkpoint format version \(version); this idpo reads version \(formatVersion)")
        }
        let configJSON = try f.stringAttribute("/", "config_json")
        let config: LlamaConfig
        do { config = try LlamaConfig.decode(jsonData: Data(configJSON.utf8)) } catch {
            throw CheckpointError(file: url.path, reason: "embedded config_json: \(error)")
        }
        let model = LlamaModel(config: config)
        for e in model.layout.entries {
            try f.readFloats("/parameters/" + e.name, shape: e.shape, into: model.parameters.pointer + e.offset)
        }
        var optimizer: OptimizerState? = nil
        if f.exists("/optimizer") {
            let names = try f.stringAttribute("/optimizer", "moments").split(separator: ",").map(String.init)
            var moments: [(name: String, values: FloatBuffer)] = []
            for name in names {
                let buf = FloatBuffer(count: model.layout.count)
                for e in model.layout.entries {
                    try f.readFloats("/optimizer/\(name)/\(e.name)", shape: e.shape, into: buf.pointer + e.offset)
                }
                moments.append((name, buf))
            }
            optimizer = OptimizerState(name: try f.stringAttribute("/optimizer", "name"),
                                       step: Int(try f.intAttribute("/optimizer", "step")),
                                       hyperparametersJSON: try f.stringAttribute("/optimizer", "hyperparameters_json"),
                                       moments: moments)
        }
        let rng = f.exists("/rng/state") ? try f.readUInt64s("/rng/state") : nil
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

/// Atomic file replacement: write a temporary sibling, fsync it, rename it over the target, fsync
/// the folder. Readers see the old file or the complete new one, never a half-written file.
public enum AtomicFile {
    public static func write(to url: URL, _ produce: (URL) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        do {
            try produce(tmp)
            try fsyncPath(tmp.path)
            guard rename(tmp.path, url.path) == 0 else {
                throw CheckpointError(file: url.path, reason: "cannot rename temporary file: \(String(cString: strerror(errno)))")
            }
            try? fsyncPath(dir.path)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }

    /// Atomically writes `data` to `url`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { tmp in try data.write(to: tmp) }
    }

    static func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError(file: path, reason: "cannot open for fsync") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointError(file: path, reason: "fsync failed") }
    }
}
