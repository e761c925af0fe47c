// The tokenizer of a model path: a directory's tokenizer.json (with tokenizer_config.json,
// chat_template.jinja and generation_config.json beside it), or a GGUF file's tokenizer.ggml.*
// metadata turned into the same two files in memory — nothing is written next to the user's GGUF.

import Foundation
import Checkpoints
import Tokenizers

extension Tokenizer {
    /// Loads the tokenizer of `url`: a model directory or tokenizer.json file (as `init(url:)`), or a
    /// GGUF file, whose tokenizer metadata becomes tokenizer.json and tokenizer_config.json in memory.
    public convenience init(model url: URL) throws {
        guard (try? ModelDirectory.weightsFormat(url)) == .gguf else {
            try self.init(url: url)
            return
        }
        let files = try GGUFFile(url: url).huggingFaceTokenizer()
        let configuration = try TokenizerConfiguration(tokenizerConfigJSON: files.tokenizerConfigJSON,
                                                       name: url.path + " (tokenizer_config.json made from its metadata)")
        try self.init(tokenizerJSON: files.tokenizerJSON, name: url.path + " (tokenizer.json made from its metadata)",
                      configuration: configuration)
    }

    /// How errors name the chat template of the model at `url`.
    public static func chatTemplateName(model url: URL) -> String {
        (try? ModelDirectory.weightsFormat(url)) == .gguf ? url.path + " tokenizer.chat_template"
                                                          : url.appendingPathComponent("tokenizer_config.json").path + " chat_template"
    }
}
