// Supervised training data as token ids: chat conversations ({"messages": [...]} JSONL) rendered
// with the model's chat template, only the assistant turns trained (each turn's text after the
// generation prompt, end-of-turn token included, encoded as `ChatModel.responseTokens` does), and
// the pairwise preference model's examples (the seed's A/B prompt, the verdict "A" or "B" trained).

import Foundation
import Kernels
import Llama
import Optimization
import Support

/// A chat conversation of a supervised data file: {"messages": [{"role", "content"}, …]} (TRL's
/// conversational SFT format); an optional "id" (integer or string) names the example, else its
/// line number.
public struct ChatExample: Equatable, Sendable, Codable {
    public var id: String
    public var messages: [PromptMessage]

    enum CodingKeys: String, CodingKey { case id, messages }

    public init(id: String, messages: [PromptMessage]) { self.id = id; self.messages = messages }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        messages = try c.decode(PromptInput.self, forKey: .messages).messages
        guard messages.contains(where: { $0.role == "assistant" }) else {
            throw RecordError("the conversation has no assistant message to train on")
        }
        if let i = try? c.decode(Int.self, forKey: .id) { id = String(i) }
        else { id = try c.decodeIfPresent(String.self, forKey: .id) ?? "line \(decoder.lineNumber)" }
    }
}

public enum ChatDataFile {
    public static func read(_ url: URL) throws -> [ChatExample] {
        try JSONLines.read(ChatExample.self, from: url).map(\.record)
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

extension PairwiseJudge {
    /// A training example for the pairwise preference model: the prompt showing `a` and `b` exactly as
    /// `pairwiseTokens` builds it for judging, followed by the verdict token ("A" when a is better,
    /// else "B") — the only trained token, read where `PairwiseScorer` reads P(A).
    public func pairwiseTrainingExample(id: String, messages: [PromptMessage], a: String, b: String, aIsBetter: Bool) throws -> SupervisedExample {
        let verdict = try tokenizer.encode(aIsBetter ? "A" : "B", addSpecialTokens: false)
        guard verdict.count == 1 else { throw JudgeError("\(directory.path): \"A\" and \"B\" must be single tokens") }
        let prompt = try pairwiseTokens(context: try pairwiseContext(messages), a: a, b: b)
        return SupervisedExample(id: id, tokens: prompt + verdict, trained: Array(repeating: false, count: prompt.count) + [true])
    }
}
