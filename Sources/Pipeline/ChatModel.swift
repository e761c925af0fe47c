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

    /// - Parameter frozen: the model is only run, never trained (sampling, evaluation): a 16-bit
    ///   safetensors checkpoint stays 16-bit in memory (`ModelDirectory.load(_:frozen:)`).
    public init(directory: URL, model: LlamaModel? = nil, frozen: Bool = false) throws {
        self.directory = directory
        self.model = try model ?? ModelDirectory.load(directory, frozen: frozen)
        tokenizer = try Tokenizer(model: directory)
        template = try tokenizer.configuration.chatTemplate.map {
            try ChatTemplate(source: $0, name: Tokenizer.chatTemplateName(model: directory))
        }
        guard tokenizer.vocabularySize <= self.model.config.vocabSize else {
            throw ChatModelError("\(directory.path): the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocab_size is \(self.model.config.vocabSize)")
        }
    }

    /// The same tokenizer and template over another model (base + another adapter, say).
    public func with(model other: LlamaModel) -> ChatModel {
        ChatModel(directory: directory, model: other, tokenizer: tokenizer, template: template)
    }

    private init(directory: URL, model: LlamaModel, tokenizer: Tokenizer, template: ChatTemplate?) {
        self.directory = directory; self.model = model; self.tokenizer = tokenizer; self.template = template
    }

    /// The same chat model over a copy of its float32 weights (so one copy can be trained while the
    /// other stays as it was); nil for 16-bit frozen weights.
    public func float32Copy() -> ChatModel? {
        model.float32Copy().map { ChatModel(directory: directory, model: $0, tokenizer: tokenizer, template: template) }
    }

    /// The policy's text side: tokenizer, template, stop ids, prompt rendering.
    public var text: PolicyText {
        PolicyText(directory: directory, tokenizer: tokenizer, template: template, config: model.config)
    }

    /// Ids that end a response: EOS and end-of-turn ids of the tokenizer and generation config.
    public var stopTokens: Set<Int32> { text.stopTokens }

    /// The text a conversation becomes before the assistant's turn (template + generation prompt).
    public func renderPrompt(_ messages: [PromptMessage]) throws -> String { try text.renderPrompt(messages) }

    /// Prompt token ids (`PolicyText.promptTokens`).
    public func promptTokens(_ prompt: PromptInput, maxTokens: Int) throws -> (tokens: [Int32], truncated: Int) {
        try text.promptTokens(prompt, maxTokens: maxTokens)
    }

    /// Prompt, chosen and rejected ids as TRL's DPOTrainer builds them (`PairTokenization`).
    public func pairTokens(prompt: PromptInput, chosen: String, rejected: String) throws
        -> (prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        if case .messages = prompt, template == nil {
            throw ChatModelError("\(directory.path) has no chat_template in tokenizer_config.json; give prompts as plain strings")
        }
        return try PairTokenization(tokenizer: tokenizer, template: template).tokens(prompt: prompt, chosen: chosen, rejected: rejected)
    }
}

/// A policy without its weights: what sampling through a remote engine needs from it (the prompt
/// rendered and tokenized exactly as the local engine does, the stop ids, the position limit).
public struct PolicyText {
    public let directory: URL
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?
    public let config: LlamaConfig

    public init(directory: URL, tokenizer: Tokenizer, template: ChatTemplate?, config: LlamaConfig) {
        self.directory = directory; self.tokenizer = tokenizer; self.template = template; self.config = config
    }

    /// Reads the configuration and tokenizer of a model directory or GGUF file (no weights are loaded).
    public init(directory: URL) throws {
        let config = try ModelDirectory.config(of: directory)
        let tokenizer = try Tokenizer(model: directory)
        let template = try tokenizer.configuration.chatTemplate.map {
            try ChatTemplate(source: $0, name: Tokenizer.chatTemplateName(model: directory))
        }
        self.init(directory: directory, tokenizer: tokenizer, template: template, config: config)
    }

    /// Ids that end a response: EOS and end-of-turn ids of the tokenizer and generation config.
    public var stopTokens: Set<Int32> {
        var s = Set(tokenizer.stopTokenIds)
        for id in config.eosTokenID?.ids ?? [] { s.insert(Int32(id)) }
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
        case .text(let t): ids = try tokenizer.encode(t, addSpecialTokens: true)
        case .messages(let m): ids = try tokenizer.encode(try renderPrompt(m), addSpecialTokens: false)
        }
        let cut = max(0, ids.count - maxTokens)
        if cut > 0 { ids = Array(ids.suffix(maxTokens)) }
        return (ids, cut)
    }
}

/// Preference pairs → token ids the way TRL's DPOTrainer (1.16) does it: the prompt alone and the
/// prompt followed by each response are tokenized whole — a conversation through the chat template
/// (the prompt with the generation prompt; special tokens from the rendered text), a plain string
/// with the tokenizer's special tokens (BOS) and the EOS string appended to each response — and the
/// responses are what follows the longest prefix the three share. Tokens that merge across the
/// boundary therefore come out as in the whole text (SentencePiece's "▁" before a response), and a
/// template that renders the prompt differently alone only shortens the shared prompt. With
/// Llama 3's template this equals encode(content.strip() + "<|eot_id|>") for the response.
public struct PairTokenization {
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?

    public init(tokenizer: Tokenizer, template: ChatTemplate?) {
        self.tokenizer = tokenizer
        self.template = template
    }

    public func tokens(prompt: PromptInput, chosen: String, rejected: String) throws
        -> (prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        let p: [Int32], c: [Int32], r: [Int32]
        switch prompt {
        case .messages(let m):
            guard let template else { throw ChatModelError("a conversational prompt needs a chat template") }
            func render(_ messages: [PromptMessage], generationPrompt: Bool) throws -> [Int32] {
                let text = try template.render(conversation: messages.map { ($0.role, $0.content) }, addGenerationPrompt: generationPrompt,
                                               bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
                return try tokenizer.encode(text, addSpecialTokens: false)
            }
            p = try render(m, generationPrompt: true)
            c = try render(m + [PromptMessage(role: "assistant", content: chosen)], generationPrompt: false)
            r = try render(m + [PromptMessage(role: "assistant", content: rejected)], generationPrompt: false)
        case .text(let t):
            let eos = tokenizer.eosToken ?? ""
            func ended(_ s: String) -> String { s.hasSuffix(eos) ? s : s + eos }
            p = try tokenizer.encode(t, addSpecialTokens: true)
            c = try tokenizer.encode(t + ended(chosen), addSpecialTokens: true)
            r = try tokenizer.encode(t + ended(rejected), addSpecialTokens: true)
        }
        func shared(_ a: [Int32], _ b: [Int32]) -> Int {
            var n = 0
            while n < min(a.count, b.count) && a[n] == b[n] { n += 1 }
            return n
        }
        let n = min(shared(p, c), shared(p, r))
        return (Array(p[..<n]), Array(c[n...]), Array(r[n...]))
    }
}
