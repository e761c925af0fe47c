// The data files idpo reads and writes, in the formats the peers use: TRL prompt-only JSONL,
// RLHFlow samples ({"prompt", "responses"}), judgments, and TRL conversational preference pairs
// (with chosen_reward / rejected_reward / margin and all responses and scores for OpenRLHF/RLHFlow).
// Every read error names the file and line; every write is atomic.

import Foundation
import Support
import Checkpoints
import Preference

/// A bad line in a data file.
public struct DataFileError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public init(file: String, line: Int, message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// One chat message.
public struct PromptMessage: Codable, Equatable, Sendable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// A prompt: plain text (used as is) or a conversation (rendered with the policy's chat template).
/// In JSON: a string, or a list of {role, content} messages.
public enum PromptInput: Equatable, Sendable, Codable {
    case text(String)
    case messages([PromptMessage])

    /// The conversation form (a text prompt becomes one user message).
    public var messages: [PromptMessage] {
        switch self { case .text(let t): return [PromptMessage(role: "user", content: t)]; case .messages(let m): return m }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer(), field = decoder.fieldPath
        if let s = try? c.decode(String.self) { self = .text(s); return }
        let list: [PromptMessage]
        do { list = try c.decode([PromptMessage].self) } catch let DecodingError.typeMismatch(_, context) where context.codingPath.count == decoder.codingPath.count {
            throw RecordError("'\(field)' must be a string or a list of {role, content} messages")
        } catch let error as DecodingError {
            let index = Self.index(in: error).map { "[\($0)]" } ?? ""
            throw RecordError("'\(field)\(index)' must be an object with string 'role' and 'content'")
        }
        guard !list.isEmpty else { throw RecordError("'\(field)' is an empty conversation") }
        self = .messages(list)
    }

    private static func index(in error: DecodingError) -> Int? {
        let path: [CodingKey]
        switch error {
        case .keyNotFound(_, let c), .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        @unknown default: return nil
        }
        return path.last(where: { $0.intValue != nil })?.intValue
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let t): try c.encode(t)
        case .messages(let m): try c.encode(m)
        }
    }
}

/// A prompt with its stable id (the seed of its samples) and where it came from. prompts.jsonl:
/// {"id", "prompt"}; read from TRL prompt-only records or conversational {"messages": [...]}.
public struct PromptRecord: Equatable, Sendable, Codable {
    public var id: Int
    public var prompt: PromptInput
    public var line = 0

    enum CodingKeys: String, CodingKey { case id, prompt, messages }

    public init(id: Int, prompt: PromptInput, line: Int = 0) { self.id = id; self.prompt = prompt; self.line = line }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int.self, forKey: .id) ?? decoder.defaultID
        line = decoder.lineNumber
        if c.contains(.prompt) {
            prompt = try c.decode(PromptInput.self, forKey: .prompt)
        } else if c.contains(.messages) {
            // TRL's conversational SFT record: the conversation up to its last user turn.
            guard case .messages(let all) = try c.decode(PromptInput.self, forKey: .messages),
                  let lastUser = all.lastIndex(where: { $0.role == "user" }) else {
                throw RecordError("'messages' must be a list of {role, content} with at least one user turn")
            }
            prompt = .messages(Array(all[...lastUser]))
        } else {
            throw RecordError("missing 'prompt' (accepted: {\"prompt\": \"text\"}, {\"prompt\": [messages]}, or {\"messages\": [messages]} whose last user turn ends the prompt)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(prompt, forKey: .prompt)
    }
}

extension CodingUserInfoKey {
    /// The id a record without one gets (its index in the file, or its line number).
    static let defaultID = CodingUserInfoKey(rawValue: "idpo.defaultID")!
    static let lineNumber = CodingUserInfoKey(rawValue: "idpo.lineNumber")!
}

extension Decoder {
    var defaultID: Int { userInfo[.defaultID] as? Int ?? 0 }
    var lineNumber: Int { userInfo[.lineNumber] as? Int ?? 0 }
}

/// JSON Lines files of typed records, in `JSONFormat`'s one configuration.
public enum JSONLines {
    /// How a record without an id is numbered.
    public enum DefaultID { case index, line }

    /// Decodes every non-empty line as a `T`; an error names the file, the line and the field.
    public static func read<T: Decodable>(_ type: T.Type, from url: URL, defaultID: DefaultID = .index) throws -> [(line: Int, record: T)] {
        let data: Data
        do { data = try FileRead.data(at: url, what: "the file") } catch let error as FileError {
            throw DataFileError(file: url.path, line: 0, message: error.reason)
        }
        var out: [(line: Int, record: T)] = []
        var lineNumber = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if raw.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let decoder = JSONFormat.decoder
            decoder.userInfo[.defaultID] = defaultID == .index ? out.count : lineNumber
            decoder.userInfo[.lineNumber] = lineNumber
            do { out.append((lineNumber, try decoder.decode(T.self, from: Data(raw)))) } catch {
                throw DataFileError(file: url.path, line: lineNumber, message: describe(error, line: Data(raw)))
            }
        }
        return out
    }

    /// Foundation's decoder reports a number that does not fit its field (1.5 for an integer id) as
    /// "not valid JSON" with no field: such a line is valid JSON, and its fractional numbers are named.
    static func describe(_ error: Error, line: Data) -> String {
        if case DecodingError.dataCorrupted(let c) = error, c.codingPath.isEmpty,
           case .object(let o)? = try? JSONFormat.decoder.decode(JSONValue.self, from: line) {
            let fractional = o.keys.sorted().compactMap { k -> String? in
                if case .double(let d) = o[k]!, d != d.rounded() || abs(d) >= 9.2e18 { return "'\(k)' = \(d)" } else { return nil }
            }
            return "a number does not fit its field" + (fractional.isEmpty ? "" : " (\(fractional.joined(separator: ", ")): integers must be whole numbers)")
        }
        return JSONFormat.describe(error)
    }

    /// Writes the records one per line, atomically.
    public static func write<T: Encodable>(_ records: [T], to url: URL) throws {
        try AtomicFile.write(try JSONFormat.lines(records), to: url)
    }
}

/// Refuses a file in which two records share an id (samples are seeded and pairs looked up by id):
/// the error names the file, both lines and the id.
func refuseDuplicateIDs(_ records: [(id: Int, line: Int)], file: String) throws {
    var firstLine: [Int: Int] = [:]
    for r in records {
        if let earlier = firstLine[r.id] {
            throw DataFileError(file: file, line: r.line, message: "duplicate id \(r.id) (already used on line \(earlier)); every record needs its own id")
        }
        firstLine[r.id] = r.line
    }
}

public enum PromptFile {
    /// Reads a TRL prompt-only file: {"prompt": "…"} or {"prompt": [messages]}, optional integer "id"
    /// (default: the record's index in the file). Two records with one id are refused. A TRL
    /// conversational record {"messages": [...]} (SFT data) gives the conversation up to its last
    /// user turn as the prompt.
    public static func read(_ url: URL) throws -> [PromptRecord] {
        let records = try JSONLines.read(PromptRecord.self, from: url).map(\.record)
        guard !records.isEmpty else { throw DataFileError(file: url.path, line: 0, message: "no prompts in the file") }
        try refuseDuplicateIDs(records.map { ($0.id, $0.line) }, file: url.path)
        return records
    }
}

/// One prompt's k generated responses (RLHFlow form) with token counts and finish reasons.
public struct SampleRecord: Equatable, Sendable, Codable {
    public var id: Int
    public var prompt: PromptInput
    public var responses: [String]
    public var responseTokens: [[Int32]]
    public var finishReasons: [String]
    public var promptTokensTruncated: Int = 0
    /// The sampling engine returned text only and `responseTokens` come from re-tokenizing it (a
    /// remote engine without token-id output); written only when true.
    public var responseTokensRetokenized = false

    enum CodingKeys: String, CodingKey {
        case id, prompt, responses
        case responseTokenCounts = "response_token_counts", responseTokens = "response_tokens"
        case finishReasons = "finish_reasons", promptTokensTruncated = "prompt_tokens_truncated"
        case responseTokensRetokenized = "response_tokens_retokenized"
    }

    public init(id: Int, prompt: PromptInput, responses: [String], responseTokens: [[Int32]], finishReasons: [String], promptTokensTruncated: Int = 0) {
        self.id = id; self.prompt = prompt; self.responses = responses; self.responseTokens = responseTokens
        self.finishReasons = finishReasons; self.promptTokensTruncated = promptTokensTruncated
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int.self, forKey: .id) ?? decoder.defaultID
        prompt = try c.decode(PromptInput.self, forKey: .prompt)
        responses = try c.decode([String].self, forKey: .responses)
        guard !responses.isEmpty else { throw RecordError("'responses' must be a non-empty list of strings") }
        responseTokens = try c.decodeIfPresent([[Int32]].self, forKey: .responseTokens) ?? []
        guard responseTokens.isEmpty || responseTokens.count == responses.count else {
            throw RecordError("'response_tokens' has \(responseTokens.count) entries for \(responses.count) responses")
        }
        finishReasons = try c.decodeIfPresent([String].self, forKey: .finishReasons) ?? []
        promptTokensTruncated = try c.decodeIfPresent(Int.self, forKey: .promptTokensTruncated) ?? 0
        responseTokensRetokenized = try c.decodeIfPresent(Bool.self, forKey: .responseTokensRetokenized) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(responses, forKey: .responses)
        try c.encode(responseTokens.map(\.count), forKey: .responseTokenCounts)
        try c.encode(responseTokens, forKey: .responseTokens)
        try c.encode(finishReasons, forKey: .finishReasons)
        try c.encode(promptTokensTruncated, forKey: .promptTokensTruncated)
        if responseTokensRetokenized { try c.encode(true, forKey: .responseTokensRetokenized) }
    }

    public static func read(_ url: URL) throws -> [SampleRecord] {
        let records = try JSONLines.read(SampleRecord.self, from: url, defaultID: .line)
        try refuseDuplicateIDs(records.map { ($0.record.id, $0.line) }, file: url.path)
        return records.map(\.record)
    }
}

/// One prompt as the judge saw it (judgments.jsonl): every comparison asked, the ranking's scores,
/// targets and probability matrix where it has them, and the pair selected — or why none was.
public struct JudgmentRecord: Equatable, Sendable, Codable {
    public var id: Int
    public var prompt: PromptInput
    public var responses: [String]
    public var ranking: RankingMethod
    public var comparisons: [RecordedComparison]
    public var scores: [Double]?
    /// SPPO's p̂ (round robin) or GPO's ĝ (GPM) per response.
    public var targets: [Double]?
    public var probabilityMatrix: [[Double]]?
    public var best: Int?
    public var worst: Int?
    public var chosenIndex: Int?
    public var rejectedIndex: Int?
    public var chosenScore: Double?
    public var rejectedScore: Double?
    /// Why no pair was kept (with the final check's P(best ≻ worst) in `dropProbability`).
    public var dropReason: DropReason.Kind?
    public var dropProbability: Double?

    enum CodingKeys: String, CodingKey {
        case id, prompt, responses, ranking, comparisons, scores, targets, best, worst
        case probabilityMatrix = "probability_matrix", chosenIndex = "chosen_index", rejectedIndex = "rejected_index"
        case chosenScore = "chosen_score", rejectedScore = "rejected_score"
        case dropReason = "drop_reason", dropProbability = "drop_p_best_better"
    }

    /// The reason with its figure, for a dropped prompt.
    public var drop: DropReason? { dropReason.flatMap { DropReason(kind: $0, probability: dropProbability) } }

    /// A pairwise judge's P(a ≻ b) from the comparisons it made of the two (the last one), or nil.
    public func probability(_ a: Int, over b: Int) -> Double? {
        for c in comparisons.reversed() {
            if c.first == a && c.second == b { return c.probability }
            if c.first == b && c.second == a { return 1 - c.probability }
        }
        return nil
    }
}

/// A preference pair in TRL's conversational form with an explicit prompt, plus what OpenRLHF and
/// RLHFlow readers use (chosen_reward, rejected_reward, margin, all responses and scores).
public struct PairRecord: Equatable, Sendable, Codable {
    public var id: Int
    public var iteration: Int
    public var prompt: [PromptMessage]
    public var chosen: String
    public var rejected: String
    public var chosenIndex: Int
    public var rejectedIndex: Int
    public var chosenReward: Double?
    public var rejectedReward: Double?
    public var responses: [String]
    public var scores: [Double]?
    /// SPPO/GPO targets of chosen and rejected (p̂ or ĝ), when the ranking provides them.
    public var chosenTarget: Double?
    public var rejectedTarget: Double?

    enum CodingKeys: String, CodingKey {
        case id, iteration, prompt, chosen, rejected, responses, scores, margin
        case chosenIndex = "chosen_index", rejectedIndex = "rejected_index"
        case chosenReward = "chosen_reward", rejectedReward = "rejected_reward"
        case chosenTarget = "chosen_target", rejectedTarget = "rejected_target"
    }

    public init(id: Int, iteration: Int, prompt: [PromptMessage], chosen: String, rejected: String, chosenIndex: Int, rejectedIndex: Int,
                chosenReward: Double?, rejectedReward: Double?, responses: [String], scores: [Double]?,
                chosenTarget: Double? = nil, rejectedTarget: Double? = nil) {
        self.id = id; self.iteration = iteration; self.prompt = prompt; self.chosen = chosen; self.rejected = rejected
        self.chosenIndex = chosenIndex; self.rejectedIndex = rejectedIndex; self.chosenReward = chosenReward
        self.rejectedReward = rejectedReward; self.responses = responses; self.scores = scores
        self.chosenTarget = chosenTarget; self.rejectedTarget = rejectedTarget
    }

    public var margin: Double? {
        guard let c = chosenReward, let r = rejectedReward else { return nil }
        return c - r
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(iteration, forKey: .iteration)
        try c.encode(prompt, forKey: .prompt)
        try c.encode([PromptMessage(role: "assistant", content: chosen)], forKey: .chosen)
        try c.encode([PromptMessage(role: "assistant", content: rejected)], forKey: .rejected)
        try c.encode(chosenIndex, forKey: .chosenIndex)
        try c.encode(rejectedIndex, forKey: .rejectedIndex)
        try c.encode(responses, forKey: .responses)
        try c.encodeIfPresent(chosenReward, forKey: .chosenReward)
        try c.encodeIfPresent(rejectedReward, forKey: .rejectedReward)
        try c.encodeIfPresent(margin, forKey: .margin)
        try c.encodeIfPresent(scores, forKey: .scores)
        try c.encodeIfPresent(chosenTarget, forKey: .chosenTarget)
        try c.encodeIfPresent(rejectedTarget, forKey: .rejectedTarget)
    }

    /// Reads TRL pairs: conversational ({"prompt": [msgs], "chosen": [msgs], "rejected": [msgs]}) or
    /// standard ({"prompt": "…", "chosen": "…", "rejected": "…"}), or conversational with an implicit
    /// prompt ({"chosen": [msgs], "rejected": [msgs]}: the messages the two share from the start are
    /// the prompt, as TRL's extract_prompt does; each must then go on with one assistant message).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int.self, forKey: .id) ?? decoder.defaultID
        iteration = try c.decodeIfPresent(Int.self, forKey: .iteration) ?? 0
        let chosenSide = try c.decode(PromptInput.self, forKey: .chosen), rejectedSide = try c.decode(PromptInput.self, forKey: .rejected)
        if let p = try c.decodeIfPresent(PromptInput.self, forKey: .prompt) {
            prompt = p.messages
            chosen = chosenSide.messages.last!.content
            rejected = rejectedSide.messages.last!.content
        } else {
            (prompt, chosen, rejected) = try Self.implicitPrompt(chosenSide, rejectedSide)
        }
        chosenIndex = try c.decodeIfPresent(Int.self, forKey: .chosenIndex) ?? 0
        rejectedIndex = try c.decodeIfPresent(Int.self, forKey: .rejectedIndex) ?? 1
        chosenReward = try c.decodeIfPresent(Double.self, forKey: .chosenReward)
        rejectedReward = try c.decodeIfPresent(Double.self, forKey: .rejectedReward)
        responses = try c.decodeIfPresent([String].self, forKey: .responses) ?? [chosen, rejected]
        scores = try c.decodeIfPresent([Double].self, forKey: .scores)
        chosenTarget = try c.decodeIfPresent(Double.self, forKey: .chosenTarget)
        rejectedTarget = try c.decodeIfPresent(Double.self, forKey: .rejectedTarget)
    }

    /// TRL's implicit prompt: the longest shared leading run of messages of "chosen" and "rejected"
    /// becomes the prompt, and each side keeps what follows — one assistant message.
    static func implicitPrompt(_ chosenSide: PromptInput, _ rejectedSide: PromptInput) throws -> ([PromptMessage], String, String) {
        guard case .messages(let chosen) = chosenSide, case .messages(let rejected) = rejectedSide else {
            throw RecordError("missing 'prompt' (a pair without one needs 'chosen' and 'rejected' as whole conversations, lists of {role, content}, sharing their prompt turns)")
        }
        var shared = 0
        while shared < min(chosen.count, rejected.count) - 1 && chosen[shared] == rejected[shared] { shared += 1 }
        for (key, side) in [("chosen", chosen), ("rejected", rejected)] {
            guard shared > 0, side.count == shared + 1, side[shared].role == "assistant" else {
                throw RecordError("'\(key)' must be the shared prompt turns followed by one assistant message (implicit prompt: \(shared) shared message(s), then \(side.count - shared))")
            }
        }
        return (Array(chosen[..<shared]), chosen[shared].content, rejected[shared].content)
    }

    public static func read(_ url: URL) throws -> [PairRecord] {
        let records = try JSONLines.read(PairRecord.self, from: url)
        try refuseDuplicateIDs(records.map { ($0.record.id, $0.line) }, file: url.path)
        return records.map(\.record)
    }
}
