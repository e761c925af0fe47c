// Preference pairs as token sequences: truncation, batching of chosen/rejected sequences, and the
// summed log-probabilities of response tokens (prompt tokens masked out).

import Foundation
import Kernels
import Llama

/// A preference pair in token ids (prompt already rendered with the chat template).
public struct TokenizedPair: Codable, Sendable, Equatable {
    public var id: String
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]
    /// SPPO / GPO targets of the chosen and rejected responses (see `PairLogProbs`).
    public var chosenTarget: Double?
    public var rejectedTarget: Double?
    public init(id: String, prompt: [Int32], chosen: [Int32], rejected: [Int32], chosenTarget: Double? = nil, rejectedTarget: Double? = nil) {
        self.id = id; self.prompt = prompt; self.chosen = chosen; self.rejected = rejected
        self.chosenTarget = chosenTarget; self.rejectedTarget = rejectedTarget
    }
}

public struct SequenceLimits: Codable, Equatable, Sendable {
    /// Longest prompt + response sequence.
    public var maxLength: Int = 2048
    /// Longest prompt; longer prompts keep their end (TRL's keep_end).
    public var maxPromptLength: Int = 1024
    public init(maxLength: Int = 2048, maxPromptLength: Int = 1024) {
        self.maxLength = maxLength; self.maxPromptLength = maxPromptLength
    }
}

/// Counts of what truncation cut, reported with the metrics.
public struct TruncationCounts: Codable, Equatable, Sendable {
    public var promptsTruncated = 0
    public var responsesTruncated = 0
    public init() {}
}

extension TokenizedPair {
    /// The pair cut to `limits`: prompt keeps its last maxPromptLength tokens, each response keeps its
    /// first maxLength − |prompt| tokens (at least one).
    public func truncated(_ limits: SequenceLimits, counts: inout TruncationCounts) -> TokenizedPair {
        var p = self
        if p.prompt.count > limits.maxPromptLength {
            p.prompt = Array(p.prompt.suffix(limits.maxPromptLength)); counts.promptsTruncated += 1
        }
        let room = max(1, limits.maxLength - p.prompt.count)
        if p.chosen.count > room { p.chosen = Array(p.chosen.prefix(room)); counts.responsesTruncated += 1 }
        if p.rejected.count > room { p.rejected = Array(p.rejected.prefix(room)); counts.responsesTruncated += 1 }
        return p
    }

    /// Whether the pair already fits `limits` (truncating it would change nothing).
    public func fits(_ limits: SequenceLimits) -> Bool {
        prompt.count <= limits.maxPromptLength && max(chosen.count, rejected.count) <= max(1, limits.maxLength - prompt.count)
    }
}

extension SequenceLimits {
    /// Cuts every pair once. The reference log-probs and the policy's are both computed on the result,
    /// so that both sides of every log-ratio cover exactly the same tokens.
    public func truncate(_ pairs: [TokenizedPair]) -> (pairs: [TokenizedPair], counts: TruncationCounts) {
        var counts = TruncationCounts()
        let cut = pairs.map { $0.truncated(self, counts: &counts) }
        return (cut, counts)
    }
}

/// Sequences of a micro-batch of m pairs: chosen_0, rejected_0, chosen_1, rejected_1, … — each
/// pair's two sequences adjacent, one gradient segment, so that micro-batches of any size form
/// exactly the same gradient (`TokenBatch.sequencesPerSegment`).
/// Sequence s = prompt + response; inputs are its first L − 1 tokens, targets its last L − 1, and
/// positions ≥ |prompt| − 1 (those predicting response tokens) are the response mask.
public struct PairBatch {
    public let batch: TokenBatch
    public let responseStart: [Int]     // first masked position per sequence
    public let responseLength: [Int]
    public var pairs: Int { responseStart.count / 2 }
    /// Sequence index of pair j's chosen response (its rejected one follows).
    @inline(__always) public static func chosen(_ j: Int) -> Int { 2 * j }
    @inline(__always) public static func rejected(_ j: Int) -> Int { 2 * j + 1 }

    public init(_ pairs: [TokenizedPair]) {
        self.init(sequences: pairs.flatMap { [($0.prompt, $0.chosen), ($0.prompt, $0.rejected)] }, sequencesPerSegment: 2)
    }

    /// Any prompt + response sequences, `sequencesPerSegment` of them per gradient segment (nil: the
    /// whole batch one segment).
    public init(sequences: [(prompt: [Int32], response: [Int32])], sequencesPerSegment: Int?) {
        let seqs = sequences.map { $0.prompt + $0.response }
        let T = seqs.map { $0.count - 1 }.max() ?? 1
        var tokens = [Int32](repeating: 0, count: seqs.count * T), targets = tokens
        for (b, s) in seqs.enumerated() {
            for t in 0..<(s.count - 1) { tokens[b * T + t] = s[t]; targets[b * T + t] = s[t + 1] }
        }
        // only the response positions are scored: the prompt's skip the lm_head and the softmax
        let starts = sequences.map { max(0, $0.prompt.count - 1) }
        batch = TokenBatch(tokens: tokens, targets: targets, lengths: seqs.map { $0.count - 1 }, maxLength: T,
                           sequencesPerSegment: sequencesPerSegment, scoredFrom: starts)
        responseStart = starts
        responseLength = sequences.map(\.response.count)
    }

    /// Σ over the response mask of (B, T) values, per sequence.
    public func responseSums(_ values: UnsafePointer<Float>) -> [Double] {
        (0..<batch.batchSize).map { b in
            var s = 0.0
            for t in responseStart[b]..<batch.lengths[b] { s += Double(values[b * batch.maxLength + t]) }
            return s
        }
    }
}

/// Computes summed response log-probs with a model, no gradients (the reference cache).
public enum SequenceScoring {
    /// (chosen, rejected) summed log-probs for every pair, `microBatch` pairs per forward pass.
    public static func logProbs(model: LlamaModel, pairs: [TokenizedPair], microBatch: Int,
                                progress: ((Int) -> Void)? = nil) throws -> [(chosen: Double, rejected: Double)] {
        let sums = try responseLogProbs(model: model, sequences: pairs.flatMap { [($0.prompt, $0.chosen), ($0.prompt, $0.rejected)] },
                                        microBatch: 2 * microBatch, sequencesPerSegment: 2) { progress?($0 / 2) }
        return (0..<pairs.count).map { (sums[PairBatch.chosen($0)], sums[PairBatch.rejected($0)]) }
    }

    /// Σ log p(response | prompt) for each prompt + response sequence, `microBatch` sequences per
    /// forward pass (a multiple of `sequencesPerSegment`, which keeps each pair's sequences together).
    public static func responseLogProbs(model: LlamaModel, sequences: [(prompt: [Int32], response: [Int32])], microBatch: Int,
                                        sequencesPerSegment: Int = 1, progress: ((Int) -> Void)? = nil) throws -> [Double] {
        guard !sequences.isEmpty else { return [] }
        precondition(microBatch >= 1 && microBatch % sequencesPerSegment == 0, "micro-batch must hold whole segments")
        let longest = sequences.map { $0.prompt.count + $0.response.count }.max()!
        // The workspace holds the largest chunk actually scored (never more sequences than there are).
        let microBatch = min(microBatch, (sequences.count + sequencesPerSegment - 1) / sequencesPerSegment * sequencesPerSegment)
        let segments = (microBatch + sequencesPerSegment - 1) / sequencesPerSegment
        let ws = TrainingWorkspace(model: model, capacity: segments * Matmul.paddedRows(sequencesPerSegment * longest),
                                   maxSequenceLength: longest, training: false)
        var out: [Double] = []
        out.reserveCapacity(sequences.count)
        var i = 0
        while i < sequences.count {
            let chunk = Array(sequences[i..<min(sequences.count, i + microBatch)])
            let rb = PairBatch(sequences: chunk, sequencesPerSegment: sequencesPerSegment)
            var logp = [Float](repeating: 0, count: rb.batch.batchSize * rb.batch.maxLength)
            try model.forward(rb.batch, workspace: ws, logProbs: &logp, training: false)
            out += logp.withUnsafeBufferPointer { rb.responseSums($0.baseAddress!) }
            i += chunk.count
            progress?(i)
        }
        return out
    }

    /// Summed response log-probs of several responses to each prompt, the prompt computed once:
    ///   out[g][j] = Σ_i log p(r_j[i] | prompt_g, r_j[<i])   (0 for an empty response)
    /// The prompt is prefilled into KV-cache slot 0 (its last row's logits predict every r_j[0]), the
    /// cache is forked into one slot per response, and each response's tokens but its last are appended
    /// with all logits kept, in calls of at most `rowsPerCall` rows (longer responses in consecutive
    /// pieces); logp = l[t] − log Σ exp l as `TargetLogProbs.scores` computes it, summed in position
    /// order in Double. The same quantity as `responseLogProbs` (rounding differs: other products),
    /// without recomputing a prompt for each of its k samples.
    public static func sharedPromptResponseLogProbs(model: LlamaModel, groups: [(prompt: [Int32], responses: [[Int32]])],
                                                    rowsPerCall: Int = 256) throws -> [[Double]] {
        precondition(rowsPerCall >= 1)
        let c = model.config, V = c.vocabSize
        let k = groups.map(\.responses.count).max() ?? 0
        let longest = groups.map { g in g.prompt.count + (g.responses.map(\.count).max() ?? 0) }.max() ?? 0
        guard k > 0, longest > 0 else { return groups.map { [Double](repeating: 0, count: $0.responses.count) } }
        let cache = KVCache(config: c, slots: 1 + k, maxLength: longest)
        let session = InferenceSession(model: model, cache: cache, maxRows: rowsPerCall)
        var logp = [Float](repeating: 0, count: rowsPerCall)
        /// log p(targets[n]) of the session's logits rows n = 0..<rows, handed to `add(n, value)`.
        func score(rows: Int, targets: [Int32], into add: (Int, Double) -> Void) {
            targets.withUnsafeBufferPointer { t in
                logp.withUnsafeMutableBufferPointer { lp in
                    TargetLogProbs.scores(logp: lp.baseAddress!, logits: session.logits.pointer, targets: t.baseAddress!, rows: rows, vocab: V)
                }
            }
            for n in 0..<rows { add(n, Double(logp[n])) }
        }
        var out: [[Double]] = []
        out.reserveCapacity(groups.count)
        for g in groups {
            var sums = [Double](repeating: 0, count: g.responses.count)
            defer { out.append(sums) }
            guard g.responses.contains(where: { !$0.isEmpty }) else { continue }
            guard !g.prompt.isEmpty else { throw ScoringError.emptyPrompt }
            for s in 0...g.responses.count { cache.reset(slot: s) }
            try session.extendInCalls(slot: 0, tokens: g.prompt)
            // logits row 0: the prompt's last token, which predicts every response's first token
            for (j, r) in g.responses.enumerated() where !r.isEmpty {
                score(rows: 1, targets: [r[0]]) { _, v in sums[j] += v }
            }
            for (j, r) in g.responses.enumerated() where r.count > 1 { cache.fork(from: 0, to: 1 + j, length: g.prompt.count) }
            // Pieces of r_j[0..<count−1] (feeding r_j[i] predicts r_j[i+1]), piece q of every response in
            // round q, packed into calls of at most rowsPerCall rows; a slot gets one piece per call.
            var start = [Int](repeating: 0, count: g.responses.count)
            while true {
                var pieces: [(j: Int, from: Int, to: Int)] = []
                for (j, r) in g.responses.enumerated() where start[j] < r.count - 1 {
                    let to = min(r.count - 1, start[j] + rowsPerCall)
                    pieces.append((j, start[j], to)); start[j] = to
                }
                if pieces.isEmpty { break }
                var i = 0
                while i < pieces.count {
                    var call: [(j: Int, from: Int, to: Int)] = [], rows = 0
                    while i < pieces.count, rows + (pieces[i].to - pieces[i].from) <= rowsPerCall {
                        call.append(pieces[i]); rows += pieces[i].to - pieces[i].from; i += 1
                    }
                    let written = try session.extend(slots: call.map { 1 + $0.j },
                                                     tokens: call.map { Array(g.responses[$0.j][$0.from..<$0.to]) }, allLogits: true)
                    precondition(written == rows)
                    // rows in slot order, then position order: row of r_j[i] predicts r_j[i + 1]
                    var owner: [Int] = [], targets: [Int32] = []
                    for p in call {
                        for t in p.from..<p.to { owner.append(p.j); targets.append(g.responses[p.j][t + 1]) }
                    }
                    score(rows: rows, targets: targets) { n, v in sums[owner[n]] += v }
                }
            }
        }
        return out
    }
}

public enum ScoringError: Error, CustomStringConvertible {
    case emptyPrompt
    public var description: String { "a response cannot be scored without a prompt (no token predicts its first)" }
}
