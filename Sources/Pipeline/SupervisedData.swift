// Supervised training data as token ids: chat conversations ({"messages": [...]} JSONL) rendered
// with the model's chat template, only the assistant turns trained (each turn's text after the
// generation prompt, end-of-turn token included, encoded as `ChatModel.responseTokens` does), and
// the pairwise preference model's examples (the seed's A/B prompt, the verdict "A" or "B" trained).

import Foundation
import Kernels
import Llama
import Optimization

/// A chat conversation of a supervised data file.
public struct ChatExample: Equatable, Sendable {
    public var id: String
    public var messages: [PromptMessage]
}

public enum ChatDataFile {
    /// Reads {"messages": [{"role", "content"}, …]} lines (TRL's conversational SFT format); an
    /// optional "id" (integer or string) names the example, else its line number.
    public static func read(_ url: URL) throws -> [ChatExample] {
        try JSONLines.read(url).map { line, o in
            guard o["messages"] != nil else { throw DataFileError(file: url.path, line: line, message: "missing 'messages'") }
            let messages = try PromptInput.parse(o["messages"], file: url.path, line: line, field: "messages").messages
            guard messages.contains(where: { $0.role == "assistant" }) else {
                throw DataFileError(file: url.path, line: line, message: "the conversation has no assistant message to train on")
            }
            let id = (o["id"] as? Int).map(String.init) ?? (o["id"] as? String) ?? "line \(line)"
            return ChatExample(id: id, messages: messages)
        }
    }
}

extension ChatModel {
    /// The conversation's tokens with its assistant turns marked for training. Before assistant turn
    /// i the text is the template's rendering of messages[..<i] with the generation prompt; the turn
    /// itself is what rendering messages[...i] adds to that (Llama 3: content + "<|eot_id|>"). Pieces
    /// are encoded separately, as generation and `TrainStage` see them.
    public func supervisedExample(_ example: ChatExample) throws -> SupervisedExample {
        guard let template else {
            throw ChatModelError("\(directory.path) has no chat_template in tokenizer_config.json; SFT needs one to render conversations")
        }
        func render(_ messages: ArraySlice<PromptMessage>, generationPrompt: Bool) throws -> String {
            try template.render(conversation: messages.map { ($0.role, $0.content) }, addGenerationPrompt: generationPrompt,
                                bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
        }
        func suffix(of text: String, after prefix: String, what: String) throws -> String {
            guard text.unicodeScalars.starts(with: prefix.unicodeScalars) else {
                throw ChatModelError("example '\(example.id)': the chat template's rendering of \(what) does not extend the text before it; cannot mark the assistant tokens")
            }
            var rest = String.UnicodeScalarView()
            rest.append(contentsOf: text.unicodeScalars.dropFirst(prefix.unicodeScalars.count))
            return String(rest)
        }
        var tokens: [Int32] = [], trained: [Bool] = []
        var done = ""
        for (i, m) in example.messages.enumerated() where m.role == "assistant" {
            let before = try render(example.messages[..<i], generationPrompt: true)
            let through = try render(example.messages[...i], generationPrompt: false)
            let context = try tokenizer.encode(try suffix(of: before, after: done, what: "message \(i)'s prompt"), addSpecialTokens: false)
            let turn = try tokenizer.encode(try suffix(of: through, after: before, what: "assistant message \(i)"), addSpecialTokens: false)
            tokens += context; trained += Array(repeating: false, count: context.count)
            tokens += turn; trained += Array(repeating: true, count: turn.count)
            done = through
        }
        return SupervisedExample(id: example.id, tokens: tokens, trained: trained)
    }
}

extension TextJudge {
    /// The pairwise preference model's weights (nil for other judge kinds), for training it in place.
    public var pairwiseModel: LlamaModel? { pairwise?.model }

    /// A training example for the pairwise preference model: the prompt showing `a` and `b` exactly as
    /// `pairwiseTokens` builds it for judging, followed by the verdict token ("A" when a is better,
    /// else "B") — the only trained token, read where `PairwiseScorer` reads P(A).
    public func pairwiseTrainingExample(id: String, messages: [PromptMessage], a: String, b: String, aIsBetter: Bool) throws -> SupervisedExample {
        guard kind == .pairwise else { throw JudgeError("pairwise training examples need a pairwise judge") }
        let verdict = try tokenizer.encode(aIsBetter ? "A" : "B", addSpecialTokens: false)
        guard verdict.count == 1 else { throw JudgeError("\(directory.path): \"A\" and \"B\" must be single tokens") }
        let prompt = try pairwiseTokens(context: try pairwiseContext(messages), a: a, b: b)
        return SupervisedExample(id: id, tokens: prompt + verdict, trained: Array(repeating: false, count: prompt.count) + [true])
    }
}
