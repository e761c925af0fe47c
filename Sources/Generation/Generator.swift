// Batched k-sampling: each prompt is prefilled once, its cache forked into k sample slots, and all
// live samples decode together, prompts entering as slots free up (continuous batching by prompt).
//
// Determinism: sample j of prompt id i uses its own random stream seeded from (seed, i, j); a
// prompt's prefill runs alone, and decode rows are computed row-independently (SmallMatmul), so a
// sample never depends on batch size, batch composition, or which prompts ran before it.

import Foundation
import Kernels
import Llama
import Support

/// One prompt to answer: a stable id (seeds its random streams) and its token ids.
public struct GenerationRequest: Sendable {
    public let id: Int
    public let tokens: [Int32]
    public init(id: Int, tokens: [Int32]) { self.id = id; self.tokens = tokens }
}

public enum FinishReason: String, Codable, Sendable {
    /// A stop token (eos / end of turn) was produced; it is not part of `tokens`.
    case stop
    /// `maxNewTokens` were produced.
    case length
}

public struct GeneratedSample: Sendable, Equatable {
    public let promptID: Int
    public let sampleIndex: Int
    public var tokens: [Int32]
    public var finishReason: FinishReason
}

public struct GenerationSettings: Sendable {
    public var samplesPerPrompt: Int
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    public var stopTokens: Set<Int32>
    public var seed: UInt64
    /// Fork one prompt prefill into the k samples (false: prefill every sample; for benchmarks).
    public var sharePrefill: Bool = true
    /// Sequences decoded together (≤ SmallMatmul.maxRows, rounded down to a multiple of k).
    public var maxBatchSlots: Int = SmallMatmul.maxRows

    public init(samplesPerPrompt: Int, maxNewTokens: Int, sampling: SamplingParameters, stopTokens: Set<Int32>,
                seed: UInt64, sharePrefill: Bool = true, maxBatchSlots: Int = SmallMatmul.maxRows) {
        self.samplesPerPrompt = samplesPerPrompt; self.maxNewTokens = maxNewTokens; self.sampling = sampling
        self.stopTokens = stopTokens; self.seed = seed; self.sharePrefill = sharePrefill; self.maxBatchSlots = maxBatchSlots
    }
}

public enum GenerationError: Error, CustomStringConvertible {
    case promptTooLong(id: Int, tokens: Int, limit: Int)
    case emptyPrompt(id: Int)
    case invalidSettings(String)
    public var description: String {
        switch self {
        case let .promptTooLong(id, n, limit): return "prompt \(id) has \(n) tokens; with max_new_tokens the model allows \(limit)"
        case let .emptyPrompt(id): return "prompt \(id) has no tokens"
        case let .invalidSettings(s): return s
        }
    }
}

/// The random stream of sample j of prompt i: a SplitMix64 seeded by mixing (seed, i, j).
public func sampleStream(seed: UInt64, promptID: Int, sampleIndex: Int) -> SplitMix64 {
    var mixer = SplitMix64(seed: seed ^ 0x5EED_0F1D_0000_0000)
    var s = mixer.next() ^ UInt64(bitPattern: Int64(promptID)) &* 0x9E37_79B9_7F4A_7C15
    mixer = SplitMix64(seed: s)
    s = mixer.next() ^ UInt64(bitPattern: Int64(sampleIndex)) &* 0xC2B2_AE3D_27D4_EB4F
    return SplitMix64(seed: s)
}

public final class Generator {
    public let model: LlamaModel
    public init(model: LlamaModel) { self.model = model }

    /// Statistics of the last `generate` call.
    public private(set) var prefillTokens = 0
    public private(set) var decodedTokens = 0

    /// Sequences decoded together: whole prompts' k samples, at most `SmallMatmul.maxRows` rows, and
    /// no more than keep the KV cache within a quarter of this machine's memory (at least one prompt's
    /// k samples; `memoryPlan` then says whether that fits at all).
    static func slots(config c: LlamaConfig, maxLength: Int, requests: Int, settings: GenerationSettings) -> Int {
        let k = max(1, settings.samplesPerPrompt)
        let perGroup = max(1, KVCache.estimatedBytes(config: c, slots: k, maxLength: maxLength))
        let memoryGroups = MemoryBudget.physicalBytes / 4 / perGroup
        let groupsCapacity = max(1, min(min(settings.maxBatchSlots, SmallMatmul.maxRows) / k, memoryGroups))
        return min(groupsCapacity, max(1, requests)) * k
    }

    /// What `generate` allocates for `requests` prompts of at most `longestPrompt` tokens: the
    /// weights it holds (`weightBytes`, default float32), the KV cache, the inference scratch and the
    /// samplers' buffers.
    public static func memoryPlan(config c: LlamaConfig, longestPrompt: Int, requests: Int, settings: GenerationSettings,
                                  weightBytes: Int? = nil) -> MemoryPlan {
        let slots = Self.slots(config: c, maxLength: longestPrompt + settings.maxNewTokens, requests: requests, settings: settings)
        var plan = MemoryPlan()
        plan.add("weights", weightBytes ?? c.parameterBytes)
        plan.add("KV cache", KVCache.estimatedBytes(config: c, slots: slots, maxLength: longestPrompt + settings.maxNewTokens))
        plan.add("inference scratch", InferenceSession.estimatedBytes(config: c, maxRows: max(longestPrompt, slots),
                                                                      maxKeys: longestPrompt + settings.maxNewTokens, logitRows: slots))
        plan.add("samplers", MemoryPlan.product(Parallel.maxThreads, c.vocabSize, 12))
        return plan
    }

    /// Generates `settings.samplesPerPrompt` samples for every request. Results are in request order,
    /// samples in index order. `onPromptDone(requestIndex, samples)` is called as each prompt completes
    /// (in completion order) — for progress bars and incremental, resumable output.
    public func generate(_ requests: [GenerationRequest], settings: GenerationSettings,
                         onPromptDone: ((Int, [GeneratedSample]) throws -> Void)? = nil) throws -> [[GeneratedSample]] {
        let k = settings.samplesPerPrompt
        guard k >= 1 else { throw GenerationError.invalidSettings("samples per prompt must be at least 1") }
        guard settings.maxNewTokens >= 1 else { throw GenerationError.invalidSettings("max new tokens must be at least 1") }
        let limit = model.config.maxPositionEmbeddings
        var longest = 1
        for r in requests {
            guard !r.tokens.isEmpty else { throw GenerationError.emptyPrompt(id: r.id) }
            guard r.tokens.count + settings.maxNewTokens <= limit else {
                throw GenerationError.promptTooLong(id: r.id, tokens: r.tokens.count, limit: limit - settings.maxNewTokens)
            }
            longest = max(longest, r.tokens.count)
        }
        let groups = Self.slots(config: model.config, maxLength: longest + settings.maxNewTokens,
                                requests: requests.count, settings: settings) / k
        let slotsPerGroup = k
        let V = model.config.vocabSize
        // Refuse before allocating what this machine cannot hold (k = 10⁶ would ask for terabytes).
        let plan = Self.memoryPlan(config: model.config, longestPrompt: longest, requests: requests.count, settings: settings,
                                   weightBytes: model.weightBytes)
        try plan.require("generation with k = \(k) samples of up to \(settings.maxNewTokens) new tokens after \(longest)-token prompts")
        let cache = KVCache(config: model.config, slots: groups * slotsPerGroup, maxLength: longest + settings.maxNewTokens)
        // Logits are read one row per slot (a prefill's last token, then one per decoded sample).
        let session = InferenceSession(model: model, cache: cache, maxRows: max(longest, groups * slotsPerGroup),
                                       logitRows: groups * slotsPerGroup)
        // One sampler (scratch space) per worker thread: rows are sampled in parallel.
        let samplers = (0..<Parallel.maxThreads).map { _ in Sampler(parameters: settings.sampling, vocabularySize: V) }
        let sampler = samplers[0]
        prefillTokens = 0; decodedTokens = 0

        // Per-slot state
        struct Live { var request: Int; var sample: Int; var rng: SplitMix64; var tokens: [Int32]; var done: Bool; var reason: FinishReason }
        var live = [Live?](repeating: nil, count: groups * slotsPerGroup)
        var results = [[GeneratedSample]](repeating: [], count: requests.count)
        var next = 0

        func finish(_ s: Int, _ token: Int32) {
            if settings.stopTokens.contains(token) { live[s]!.done = true; live[s]!.reason = .stop; return }
            live[s]!.tokens.append(token)
            if live[s]!.tokens.count >= settings.maxNewTokens { live[s]!.done = true; live[s]!.reason = .length }
        }

        /// Starts request `r` in group `g`: prefill, fork, first token of each sample.
        func start(_ r: Int, inGroup g: Int) throws {
            let base = g * slotsPerGroup
            let req = requests[r]
            for j in 0..<k {
                let s = base + j
                live[s] = Live(request: r, sample: j, rng: sampleStream(seed: settings.seed, promptID: req.id, sampleIndex: j),
                               tokens: [], done: false, reason: .length)
                cache.reset(slot: s)
                if j == 0 || !settings.sharePrefill {
                    try session.extend(slots: [s], tokens: [req.tokens])
                    prefillTokens += req.tokens.count
                } else {
                    cache.fork(from: base, to: s)
                }
                // With a shared prefill the logits row is the same for every j.
                let token = sampler.sample(logits: session.logits.pointer, count: V, rng: &live[s]!.rng)
                finish(s, token)
            }
        }

        func retireFinishedGroups() throws {
            for g in 0..<groups {
                let slots = (g * slotsPerGroup)..<((g + 1) * slotsPerGroup)
                guard let first = live[slots.lowerBound], slots.allSatisfy({ live[$0]?.done == true }) else { continue }
                let samples = slots.map { s in
                    GeneratedSample(promptID: requests[first.request].id, sampleIndex: live[s]!.sample,
                                    tokens: live[s]!.tokens, finishReason: live[s]!.reason)
                }
                results[first.request] = samples
                for s in slots { live[s] = nil }
                try onPromptDone?(first.request, samples)
            }
        }

        while true {
            // Fill free groups with waiting prompts.
            for g in 0..<groups where live[g * slotsPerGroup] == nil && next < requests.count {
                try start(next, inGroup: g)
                next += 1
            }
            try retireFinishedGroups()
            let active = live.indices.filter { live[$0] != nil && !live[$0]!.done }
            if active.isEmpty {
                if next >= requests.count && live.allSatisfy({ $0 == nil }) { break }
                continue
            }
            try session.extend(slots: active, tokens: active.map { [live[$0]!.tokens.last!] })
            decodedTokens += active.count
            var drawn = [Int32](repeating: 0, count: active.count)
            var streams = active.map { live[$0]!.rng }
            drawn.withUnsafeMutableBufferPointer { drawn in
                streams.withUnsafeMutableBufferPointer { streams in
                    Parallel.forEach(active.count) { row, worker in
                        drawn[row] = samplers[worker].sample(logits: session.logits.pointer + row * V, count: V, rng: &streams[row])
                    }
                }
            }
            for (row, s) in active.enumerated() {
                live[s]!.rng = streams[row]
                finish(s, drawn[row])
            }
        }
        return results
    }
}
