// A model directory as users see it: weights, tokenizer and chat template together, and the text
// ↔ token conversions every stage shares (prompt rendering, response tokens for training).

import Foundation
import Llama
import Checkpoints
import Tokenizers
import ChatTemplates

public struct ChatModelError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A causal LM with its tokenizer and chat template.
public final class ChatModel {
    public let directory: URL
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?

    public init(directory: URL, model: LlamaModel? = nil) throws {
        self.directory = directory
        self.model = try model ?? ModelDirectory.load(directory)
        tokenizer = try Tokenizer(url: directory)
        template = try tokenizer.configuration.chatTemplate.map {
            try ChatTemplate(source: $0, name: directory.appendingPathComponent("tokenizer_config.json").path + " chat_template")
        }
        guard tokenizer.vocabularySize <= self.model.config.vocabSize else {
            throw ChatModelError("\(directory.path): the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocab_size is \(self.model.config.vocabSize)")
        }
    }

    /// Ids that end a response: EOS and end-of-turn ids of the tokenizer and generation config.
    public var stopTokens: Set<Int32> {
        var s = Set(tokenizer.stopTokenIds)
        for id in model.config.eosTokenID?.ids ?? [] { s.insert(Int32(id)) }
        return s
    }

    /// The text a conversation becomes before the assistant's turn (template + generation prompt).
    public func renderPrompt(_ messages: [PromptMessage]) throws -> String {
        guard let template else {
            throw ChatModelError("\(directory.path) has no chat_template in tokenizer_config.json; give prompts as plain strings")
        }
        return try template.render(conversation: messages.map { ($0.role, $0.content) }, addGenerationPrompt: true,
                                   bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
    }

    /// Prompt token ids: a conversation rendered with the template (special tokens come from the
    /// rendered text), or a plain string encoded with the tokenizer's special tokens (BOS).
    /// Prompts longer than `maxTokens` keep their last `maxTokens` tokens; returns how many were cut.
    public func promptTokens(_ prompt: PromptInput, maxTokens: Int) throws -> (tokens: [Int32], truncated: Int) {
        var ids: [Int32]
        switch prompt {
        case .text(let t): ids = tokenizer.encode(t, addSpecialTokens: true)
        case .messages(let m): ids = tokenizer.encode(try renderPrompt(m), addSpecialTokens: false)
        }
        let cut = max(0, ids.count - maxTokens)
        if cut > 0 { ids = Array(ids.suffix(maxTokens)) }
        return (ids, cut)
    }

    /// Response token ids as TRL builds them for conversational pairs: the text the chat template adds
    /// for the assistant turn after the generation prompt (e.g. Llama 3: content.strip() + "<|eot_id|>";
    /// ChatML: content + "<|im_end|>\n"), encoded without added special tokens. Plain-text prompts
    /// (or a template whose output does not extend the prompt) get response + EOS.
    public func responseTokens(prompt: PromptInput, response: String) throws -> [Int32] {
        if case .messages(let m) = prompt, let template {
            let promptText = try renderPrompt(m)
            let full = try template.render(conversation: (m + [PromptMessage(role: "assistant", content: response)]).map { ($0.role, $0.content) },
                                           addGenerationPrompt: false, bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
            // Compare scalars, not Characters (String comparison is canonical-equivalence based).
            if full.unicodeScalars.starts(with: promptText.unicodeScalars) {
                var rest = String.UnicodeScalarView()
                rest.append(contentsOf: full.unicodeScalars.dropFirst(promptText.unicodeScalars.count))
                return tokenizer.encode(String(rest), addSpecialTokens: false)
            }
        }
        return tokenizer.encode(response, addSpecialTokens: false) + (tokenizer.eosTokenId.map { [$0] } ?? [])
    }
}
