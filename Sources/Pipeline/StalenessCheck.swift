// The check that a serving engine serves the policy idpo means it to (TRL #5312: after a weight
// update the server kept sampling from stale weights, silently). A few fixed probe prompts are scored
// by idpo's own engine and through the server: the log-probabilities of the server's most likely next
// tokens must agree within a stated tolerance, or the run stops, naming both values.

import Foundation
import Kernels
import Llama

public struct StalenessReport: Sendable {
    /// The largest |log p_idpo − log p_server| over the probes' top tokens.
    public var maxDifference: Double
    public var worst: String
    public var probes: Int
}

public enum StalenessCheck {
    /// Probe prompts: the first `count` of `prompts` (by id), rendered and cut as generation does.
    public static func probes(_ prompts: [PromptRecord], policy: PolicyText, count: Int = 4, maxTokens: Int) throws -> [(id: Int, tokens: [Int32])] {
        try prompts.sorted { $0.id < $1.id }.prefix(count).map { ($0.id, try policy.promptTokens($0.prompt, maxTokens: maxTokens).tokens) }
    }

    /// Compares the server's top-`top` next-token log-probs after each probe with idpo's own (float64
    /// log-softmax of `model`'s logits); throws when any differs by more than `tolerance` nats.
    @discardableResult
    public static func verify(model: LlamaModel, engine: RemoteCompletions, probes: [(id: Int, tokens: [Int32])], tolerance: Double,
                              top: Int = 8, serving label: String) throws -> StalenessReport {
        var report = StalenessReport(maxDifference: 0, worst: "", probes: probes.count)
        let longest = probes.map(\.tokens.count).max() ?? 1
        let cache = KVCache(config: model.config, slots: 1, maxLength: longest)
        let session = InferenceSession(model: model, cache: cache, maxRows: min(longest, 512), logitRows: 1)
        let V = model.config.vocabSize
        for probe in probes {
            cache.reset(slot: 0)
            try session.extendInCalls(slot: 0, tokens: probe.tokens)
            let logits = session.logits.pointer
            var m = -Double.infinity
            for v in 0..<V { m = max(m, Double(logits[v])) }
            var z = 0.0
            for v in 0..<V { z += exp(Double(logits[v]) - m) }
            let lse = m + log(z)
            let remote = try engine.nextTokenLogProbs(prompt: probe.tokens, count: top, what: "the staleness probe for prompt \(probe.id)")
            for (token, lp) in remote {
                guard token >= 0 && Int(token) < V else {
                    throw RemoteEngineError("\(engine.url.absoluteString) named token \(token) for prompt \(probe.id), outside the policy's vocabulary (0..<\(V)): it serves another model than \(label)")
                }
                let local = Double(logits[Int(token)]) - lse
                let d = abs(local - lp)
                if d > report.maxDifference {
                    report.maxDifference = d
                    report.worst = String(format: "prompt %d, token %d: log p %.5f by idpo, %.5f by the server", probe.id, token, local, lp)
                }
            }
        }
        guard report.maxDifference <= tolerance else {
            throw RemoteEngineError("the server at \(engine.url.absoluteString) is not serving \(label): next-token log-probabilities differ by up to \(String(format: "%.4f", report.maxDifference)) nats (tolerance \(tolerance)); worst \(report.worst). Reload it with the new weights (generation.engine.reload_command) before sampling.")
        }
        return report
    }
}
