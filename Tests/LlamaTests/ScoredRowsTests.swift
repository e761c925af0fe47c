// Scoring only the positions asked for (TokenBatch.scoredFrom: the responses of preference pairs)
// runs the lm_head and the softmax on fewer rows; what those rows give must be what scoring every
// row gives — the same bits for the log-probs, the same gradients — and an unscored position with a
// gradient is refused.

import XCTest
import Kernels
import Llama
import TestSupport

final class ScoredRowsTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }
    let lengths = [9, 6, 11]
    let from = [4, 0, 7]
    var T: Int { lengths.max()! }

    func batch(scored: Bool, vocab V: Int) -> TokenBatch {
        var r = TestRandom(seed: 5)
        let tokens = r.tokens(lengths.count * T, below: V), targets = r.tokens(lengths.count * T, below: V)
        return TokenBatch(tokens: tokens, targets: targets, lengths: lengths, maxLength: T, sequencesPerSegment: 2,
                          scoredFrom: scored ? from : nil)
    }

    /// Log-probs and the gradient of Σ_b Σ_{t ≥ from[b]} w_{b,t} logp[b, t].
    func run(_ model: LlamaModel, scored: Bool) throws -> (logp: [Float], grads: [Float]) {
        let b = batch(scored: scored, vocab: model.config.vocabSize)
        let ws = TrainingWorkspace(config: model.config, capacity: b.packedRows, maxSequenceLength: T)
        var logp = [Float](repeating: 0, count: lengths.count * T)
        try model.forward(b, workspace: ws, logProbs: &logp, training: true)
        var dLogp = [Float](repeating: 0, count: lengths.count * T)
        for s in lengths.indices { for t in from[s]..<lengths[s] { dLogp[s * T + t] = Float(1 + (s + t) % 3) * 0.25 } }
        let grads = FloatBuffer(count: model.layout.count)
        model.backward(dLogProbs: dLogp, batchMaxLength: T, workspace: ws, gradients: grads)
        return (logp, grads.toArray())
    }

    func testScoredRowsGiveTheSameLogProbsAndGradients() throws {
        for tied in [true, false] {
            let config = try LlamaConfig(hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4,
                                         numKeyValueHeads: 2, vocabSize: 61, tieWordEmbeddings: tied)
            let model = LlamaModel(config: config)
            model.randomize(seed: 3, std: 0.1, embeddingStd: 0.1)
            let all = try run(model, scored: false), some = try run(model, scored: true)
            for s in lengths.indices {
                for t in 0..<lengths[s] {
                    let i = s * T + t
                    if t >= from[s] {
                        XCTAssertEqual(some.logp[i].bitPattern, all.logp[i].bitPattern, "tied \(tied): sequence \(s), position \(t)")
                    } else {
                        XCTAssertEqual(some.logp[i], 0, "an unscored position reads 0")
                    }
                }
            }
            let scale = all.grads.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            for (i, (a, b)) in zip(all.grads, some.grads).enumerated() {
                XCTAssertEqual(a, b, accuracy: 1e-6 * scale, "tied \(tied): gradient \(i)")
            }
        }
    }

    func testScoredRowsAreBatchInvariant() throws {
        // the second pair's log-probs with and without the first pair in the batch: the same bits
        let config = try LlamaConfig(hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 4,
                                     vocabSize: 61, tieWordEmbeddings: true)
        let model = LlamaModel(config: config)
        model.randomize(seed: 4, std: 0.1, embeddingStd: 0.1)
        let full = batch(scored: true, vocab: 61)
        let alone = TokenBatch(tokens: Array(full.tokens[(2 * T)...]), targets: Array(full.targets[(2 * T)...]),
                               lengths: [lengths[2]], maxLength: T, sequencesPerSegment: 2, scoredFrom: [from[2]])
        func logp(_ b: TokenBatch) throws -> [Float] {
            let ws = TrainingWorkspace(config: config, capacity: b.packedRows, maxSequenceLength: T, training: false)
            var out = [Float](repeating: 0, count: b.batchSize * T)
            try model.forward(b, workspace: ws, logProbs: &out, training: false)
            return out
        }
        XCTAssertEqual(Array(try logp(full)[(2 * T)...]).map(\.bitPattern), try logp(alone).map(\.bitPattern))
    }
}

/// The training plan's workspace estimate follows what the workspace allocates, for every architecture.
final class WorkspaceEstimateTests: XCTestCase {
    func testEstimateMatchesTheAllocationForEveryArchitecture() throws {
        for name in ["llama-mha", "llama-gqa-tied", "qwen2-tied", "qwen3-headdim", "mistral-window", "gemma-mqa", "gemma2-softcap"] {
            let config = try LlamaConfig.load(url: Fixtures.url(name + "/config.json"))
            for training in [true, false] {
                let ws = TrainingWorkspace(config: config, capacity: 512, maxSequenceLength: 256, training: training)
                let estimate = TrainingWorkspace.estimatedBytes(config: config, capacity: 512, maxSequenceLength: 256, training: training)
                XCTAssertEqual(Double(estimate), Double(ws.bytes), accuracy: 0.02 * Double(ws.bytes), "\(name) training \(training)")
            }
        }
    }
}
