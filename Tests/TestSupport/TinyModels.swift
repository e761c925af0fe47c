// Test helpers: ordinary model directories (config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json with the real Llama 3 chat template) holding tiny random Llamas.

import Foundation
import Kernels
import Llama
import Checkpoints

public enum TinyModels {
    public static let llama3Template = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"

    /// A tiny random Llama (vocab 966 = the llama3-tiny tokenizer) written as an HF model directory.
    public static func make(at dir: URL, seed: UInt64, layers: Int = 2) throws {
        let config = try LlamaConfig(hiddenSize: 64, intermediateSize: 128, numHiddenLayers: layers, numAttentionHeads: 4,
                                     numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 500000, maxPositionEmbeddings: 512,
                                     vocabSize: 966, tieWordEmbeddings: true,
                                     bosTokenID: .one(961), eosTokenID: .many([962, 965]))
        let model = LlamaModel(config: config)
        model.randomize(seed: seed, std: 0.08, embeddingStd: 0.1)
        try ModelDirectory.saveHuggingFace(model, to: dir)
        let tokenizerDir = Fixtures.url("tokenizers/llama3-tiny")
        try FileManager.default.copyItem(at: tokenizerDir.appendingPathComponent("tokenizer.json"), to: dir.appendingPathComponent("tokenizer.json"))
        let config2: [String: Any] = ["bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": llama3Template]
        try JSONSerialization.data(withJSONObject: config2, options: [.sortedKeys]).write(to: dir.appendingPathComponent("tokenizer_config.json"))
    }

    public static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
