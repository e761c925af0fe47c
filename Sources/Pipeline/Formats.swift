// The data files idpo reads and writes, in the formats the peers use: TRL prompt-only JSONL,
// RLHFlow samples ({"prompt", "responses"}), judgments, and TRL conversational preference pairs
// (with chosen_reward / rejected_reward / margin and all responses and scores for OpenRLHF/RLHFlow).
// Every read error names the file and line; every write is atomic.

import Foundation
import Checkpoints
import ChatTemplates

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
public enum PromptInput: Equatable, Sendable {
    case text(String)
    case messages([PromptMessage])

    /// The conversation form (a text prompt becomes one user message).
    public var messages: [PromptMessage] {
        switch self { case .text(let t): return [PromptMessage(role: "user", content: t)]; case .messages(let m): return m }
    }

    var json: Any {
        switch self {
        case .text(let t): return t
        case .messages(let m): return m.map { ["role": $0.role, "content": $0.content] }
        }
    }

    static func parse(_ value: Any?, file: String, line: Int, field: String = "prompt") throws -> PromptInput {
        if let s = value as? String { return .text(s) }
        if let list = value as? [Any] {
            var out: [PromptMessage] = []
            for (i, item) in list.enumerated() {
                guard let m = item as? [String: Any], let role = m["role"] as? String, let content = m["content"] as? String else {
                    throw DataFileError(file: file, line: line, message: "'\(field)[\(i)]' must be an object with string 'role' and 'content'")
                }
                out.append(PromptMessage(role: role, content: content))
            }
            guard !out.isEmpty else { throw DataFileError(file: file, line: line, message: "'\(field)' is an empty conversation") }
            return .messages(out)
        }
        throw DataFileError(file: file, line: line, message: "'\(field)' must be a string or a list of {role, content} messages")
    }
}

/// A prompt with its stable id (the seed of its samples) and where it came from.
public struct PromptRecord: Equatable, Sendable {
    public var id: Int
    public var prompt: PromptInput
    public var line: Int
}

public enum JSONLines {
    /// Parses every non-empty line as a JSON object.
    public static func read(_ url: URL) throws -> [(line: Int, object: [String: Any])] {
        let data: Data
        do { data = try FileRead.data(at: url, what: "the file") } catch let error as CheckpointError {
            throw DataFileError(file: url.path, line: 0, message: error.reason)
        }
        var out: [(Int, [String: Any])] = []
        var lineNumber = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = raw.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if trimmed.isEmpty || trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let obj: Any
            do { obj = try JSONSerialization.jsonObject(with: Data(raw), options: [.fragmentsAllowed]) } catch {
                throw DataFileError(file: url.path, line: lineNumber, message: "not valid JSON")
            }
            guard let dict = normalized(obj) as? [String: Any] else {
                throw DataFileError(file: url.path, line: lineNumber, message: "each line must be a JSON object")
            }
            out.append((lineNumber, dict))
        }
        return out
    }

    /// Foundation's parser on Linux keeps some numbers as NSDecimalNumber, whose `doubleValue` is not
    /// exact; numbers become Bool, Int or Double (parsed from their exact decimal text) here.
    static func normalized(_ value: Any) -> Any {
        switch value {
        case let d as [String: Any]: return d.mapValues(normalized)
        case let a as [Any]: return a.map(normalized)
        case let n as NSNumber:
            let kind = String(cString: n.objCType)
            if kind == "c" { return n.boolValue }
            if kind == "d" || kind == "f" { return Double(n.stringValue) ?? n.doubleValue }
            return n.intValue
        default: return value
        }
    }

    /// Serialises objects one per line (keys sorted, no escaped slashes) and writes atomically.
    public static func write(_ objects: [[String: Any]], to url: URL) throws {
        try AtomicFile.write(try encode(objects), to: url)
    }

    public static func encode(_ objects: [[String: Any]]) throws -> Data {
        var out = ""
        for o in objects {
            try JSONText.write(o, to: &out)
            out += "\n"
        }
        return Data(out.utf8)
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
        let records = try parse(url)
        guard !records.isEmpty else { throw DataFileError(file: url.path, line: 0, message: "no prompts in the file") }
        try refuseDuplicateIDs(records.map { ($0.id, $0.line) }, file: url.path)
        return records
    }

    static func parse(_ url: URL) throws -> [PromptRecord] {
        try JSONLines.read(url).enumerated().map { index, entry in
            let prompt: PromptInput
            if entry.object["prompt"] != nil {
                prompt = try PromptInput.parse(entry.object["prompt"], file: url.path, line: entry.line)
            } else if let messages = entry.object["messages"] {
                guard case .messages(let all) = try PromptInput.parse(messages, file: url.path, line: entry.line),
                      let lastUser = all.lastIndex(where: { $0.role == "user" }) else {
                    throw DataFileError(file: url.path, line: entry.line, message: "'messages' must be a list of {role, content} with at least one user turn")
                }
                prompt = .messages(Array(all[...lastUser]))
            } else {
                throw DataFileError(file: url.path, line: entry.line,
                                    message: "missing 'prompt' (accepted: {\"prompt\": \"text\"}, {\"prompt\": [messages]}, or {\"messages\": [messages]} whose last user turn ends the prompt)")
            }
            var id = index
            if let v = entry.object["id"] {
                guard let i = v as? Int else { throw DataFileError(file: url.path, line: entry.line, message: "'id' must be an integer") }
                id = i
            }
            return PromptRecord(id: id, prompt: prompt, line: entry.line)
        }
    }
}

/// One prompt's k generated responses (RLHFlow form) with token counts and finish reasons.
public struct SampleRecord: Equatable, Sendable {
    public var id: Int
    public var prompt: PromptInput
    public var responses: [String]
    public var responseTokens: [[Int32]]
    public var finishReasons: [String]
    public var promptTokensTruncated: Int = 0

    public init(id: Int, prompt: PromptInput, responses: [String], responseTokens: [[Int32]], finishReasons: [String], promptTokensTruncated: Int = 0) {
        self.id = id; self.prompt = prompt; self.responses = responses; self.responseTokens = responseTokens
        self.finishReasons = finishReasons; self.promptTokensTruncated = promptTokensTruncated
    }

    public var json: [String: Any] {
        ["id": id, "prompt": prompt.json, "responses": responses,
         "response_token_counts": responseTokens.map(\.count), "response_tokens": responseTokens.map { $0.map(Int.init) },
         "finish_reasons": finishReasons, "prompt_tokens_truncated": promptTokensTruncated]
    }

    public static func read(_ url: URL) throws -> [SampleRecord] {
        var lines: [Int] = []
        let records = try JSONLines.read(url).map { line, o in
            lines.append(line)
            let prompt = try PromptInput.parse(o["prompt"], file: url.path, line: line)
            guard let responses = o["responses"] as? [String], responses.count >= 1 else {
                throw DataFileError(file: url.path, line: line, message: "'responses' must be a non-empty list of strings")
            }
            let tokens = (o["response_tokens"] as? [[Int]])?.map { $0.map { Int32($0) } } ?? []
            guard tokens.isEmpty || tokens.count == responses.count else {
                throw DataFileError(file: url.path, line: line, message: "'response_tokens' has \(tokens.count) entries for \(responses.count) responses")
            }
            if let v = o["id"], !(v is Int) { throw DataFileError(file: url.path, line: line, message: "'id' must be an integer") }
            return SampleRecord(id: (o["id"] as? Int) ?? line, prompt: prompt, responses: responses, responseTokens: tokens,
                                finishReasons: (o["finish_reasons"] as? [String]) ?? [], promptTokensTruncated: (o["prompt_tokens_truncated"] as? Int) ?? 0)
        }
        try refuseDuplicateIDs(zip(records, lines).map { ($0.id, $1) }, file: url.path)
        return records
    }
}

/// A preference pair in TRL's conversational form with an explicit prompt, plus what OpenRLHF and
/// RLHFlow readers use (chosen_reward, rejected_reward, margin, all responses and scores).
public struct PairRecord: Equatable, Sendable {
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

    public var json: [String: Any] {
        var o: [String: Any] = [
            "id": id, "iteration": iteration,
            "prompt": prompt.map { ["role": $0.role, "content": $0.content] },
            "chosen": [["role": "assistant", "content": chosen]],
            "rejected": [["role": "assistant", "content": rejected]],
            "chosen_index": chosenIndex, "rejected_index": rejectedIndex, "responses": responses,
        ]
        if let c = chosenReward { o["chosen_reward"] = c }
        if let r = rejectedReward { o["rejected_reward"] = r }
        if let m = margin { o["margin"] = m }
        if let s = scores { o["scores"] = s }
        if let t = chosenTarget { o["chosen_target"] = t }
        if let t = rejectedTarget { o["rejected_target"] = t }
        return o
    }

    /// Reads TRL pairs: conversational ({"prompt": [msgs], "chosen": [msgs], "rejected": [msgs]}) or
    /// standard ({"prompt": "…", "chosen": "…", "rejected": "…"}), or conversational with an implicit
    /// prompt ({"chosen": [msgs], "rejected": [msgs]}: the messages the two share from the start are
    /// the prompt, as TRL's extract_prompt does; each must then go on with one assistant message).
    public static func read(_ url: URL) throws -> [PairRecord] {
        var lines: [Int] = []
        let records = try JSONLines.read(url).enumerated().map { index, entry in
            let line = entry.line
            var o = entry.object
            lines.append(line)
            if let v = o["id"], !(v is Int) { throw DataFileError(file: url.path, line: line, message: "'id' must be an integer") }
            if o["prompt"] == nil { try Self.extractImplicitPrompt(&o, file: url.path, line: line) }
            let prompt = try PromptInput.parse(o["prompt"], file: url.path, line: line).messages
            func response(_ key: String) throws -> String {
                if let s = o[key] as? String { return s }
                if let list = o[key] as? [[String: Any]], let last = list.last, let content = last["content"] as? String { return content }
                throw DataFileError(file: url.path, line: line, message: "'\(key)' must be a string or a list of {role, content} messages")
            }
            let chosen = try response("chosen"), rejected = try response("rejected")
            // Optional numbers present with another type are errors, not silently "absent".
            for key in ["chosen_reward", "rejected_reward", "chosen_target", "rejected_target"] {
                if let v = o[key], !(v is NSNull), number(v) == nil || !(number(v)!.isFinite) {
                    throw DataFileError(file: url.path, line: line, message: "'\(key)' must be a finite number")
                }
            }
            if let v = o["scores"], numbers(v) == nil {
                throw DataFileError(file: url.path, line: line, message: "'scores' must be a list of numbers")
            }
            return PairRecord(id: (o["id"] as? Int) ?? index, iteration: (o["iteration"] as? Int) ?? 0, prompt: prompt,
                              chosen: chosen, rejected: rejected,
                              chosenIndex: (o["chosen_index"] as? Int) ?? 0, rejectedIndex: (o["rejected_index"] as? Int) ?? 1,
                              chosenReward: number(o["chosen_reward"]), rejectedReward: number(o["rejected_reward"]),
                              responses: (o["responses"] as? [String]) ?? [chosen, rejected], scores: numbers(o["scores"]),
                              chosenTarget: number(o["chosen_target"]), rejectedTarget: number(o["rejected_target"]))
        }
        try refuseDuplicateIDs(zip(records, lines).map { ($0.id, $1) }, file: url.path)
        return records
    }

    /// TRL's implicit prompt: the longest shared leading run of messages of "chosen" and "rejected"
    /// becomes "prompt", and each side keeps what follows — one assistant message.
    static func extractImplicitPrompt(_ o: inout [String: Any], file: String, line: Int) throws {
        guard let chosen = o["chosen"] as? [[String: Any]], let rejected = o["rejected"] as? [[String: Any]] else {
            throw DataFileError(file: file, line: line, message: "missing 'prompt' (a pair without one needs 'chosen' and 'rejected' as whole conversations, lists of {role, content}, sharing their prompt turns)")
        }
        func same(_ a: [String: Any], _ b: [String: Any]) -> Bool {
            (a["role"] as? String) == (b["role"] as? String) && (a["content"] as? String) == (b["content"] as? String)
        }
        var shared = 0
        while shared < min(chosen.count, rejected.count) - 1 && same(chosen[shared], rejected[shared]) { shared += 1 }
        for (key, side) in [("chosen", chosen), ("rejected", rejected)] {
            guard shared > 0, side.count == shared + 1, (side[shared]["role"] as? String) == "assistant" else {
                throw DataFileError(file: file, line: line, message: "'\(key)' must be the shared prompt turns followed by one assistant message (implicit prompt: \(shared) shared message(s), then \(side.count - shared))")
            }
        }
        o["prompt"] = Array(chosen[..<shared])
        o["chosen"] = [chosen[shared]]
        o["rejected"] = [rejected[shared]]
    }
}

/// A JSON number as Double (integers included, as other tools may write them).
func number(_ v: Any?) -> Double? {
    switch v { case let d as Double: return d; case let i as Int: return Double(i); default: return nil }
}
func numbers(_ v: Any?) -> [Double]? {
    guard let a = v as? [Any] else { return nil }
    let out = a.compactMap(number)
    return out.count == a.count ? out : nil
}

/// A JSON writer with sorted keys, unescaped non-ASCII and slashes, and floating-point numbers always
/// written as floats ("1.0", not "1") in their shortest exact form — so readers that infer column
/// types (e.g. `datasets`) see floats, and Doubles round-trip bit for bit.
enum JSONText {
    static func write(_ value: Any, to out: inout String) throws {
        switch value {
        case let b as Bool: out += b ? "true" : "false"
        case let i as Int: out += String(i)
        case let i as Int32: out += String(i)
        case let i as Int64: out += String(i)
        case let u as UInt64: out += String(u)
        case let d as Double: out += d.isFinite ? "\(d)" : "null"
        case let f as Float: out += f.isFinite ? "\(Double(f))" : "null"
        case let s as String: string(s, to: &out)
        case let a as [Any]:
            out += "["
            for (i, v) in a.enumerated() { if i > 0 { out += "," }; try write(v, to: &out) }
            out += "]"
        case let d as [String: Any]:
            out += "{"
            for (i, k) in d.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                string(k, to: &out); out += ":"
                try write(d[k]!, to: &out)
            }
            out += "}"
        case is NSNull: out += "null"
        case let n as NSNumber: out += n.stringValue
        default:
            throw DataFileError(file: "<json>", line: 0, message: "cannot write a value of type \(type(of: value)) as JSON")
        }
    }

    /// Strings as Python's json.dumps(ensure_ascii=False) writes them (shared with the template engine).
    static func string(_ s: String, to out: inout String) { writeJSONString(s, ensureASCII: false, into: &out) }
}
