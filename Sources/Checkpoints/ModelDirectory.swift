// Loading a Hugging Face model directory (config.json + model.safetensors) into a LlamaModel.

import Foundation
import Llama

public enum ModelDirectory {
    /// Tensor names that may appear in HF checkpoints but carry no parameters.
    static func isIgnorable(_ name: String) -> Bool { name.hasSuffix("rotary_emb.inv_freq") }

    /// Reads `config.json` and `model.safetensors` from `url`. Every tensor of the layout must be
    /// present with its shape; `lm_head.weight` is skipped for tied embeddings.
    public static func load(_ url: URL) throws -> LlamaModel {
        let config = try LlamaConfig.load(url: url.appendingPathComponent("config.json"))
        let model = LlamaModel(config: config)
        let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        for entry in model.layout.entries {
            guard let info = file.tensors[entry.name] else {
                throw CheckpointError(file: file.path, reason: "missing tensor '\(entry.name)'")
            }
            guard info.shape == entry.shape else {
                throw CheckpointError(file: file.path, reason: "tensor '\(entry.name)' has shape \(info.shape), expected \(entry.shape)")
            }
            try file.readFloats(entry.name, into: model.parameters.pointer + entry.offset, count: entry.count)
        }
        for name in file.tensors.keys where model.layout.entry(named: name) == nil && !isIgnorable(name) {
            if name == "lm_head.weight" && config.tieWordEmbeddings { continue }
            throw CheckpointError(file: file.path, reason: "unexpected tensor '\(name)' for this Llama configuration")
        }
        return model
    }
}
