// Sampling and batched k-sampling: exact distributions, shared prefill, and determinism that does
// not depend on batch size, composition or order.

import XCTest
import Kernels
import Llama
import Checkpoints
@testable import Generation
import TestSupport
import Support

final class GenerationTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    func model() throws -> LlamaModel { try ModelDirectory.load(Fixtures.url("llama-gqa-tied")) }

    func requests(_ m: LlamaModel) -> [GenerationRequest] {
        var r = TestRandom(seed: 31)
        return [5, 9, 3, 12, 7].enumerated().map { GenerationRequest(id: 100 + $0.offset, tokens: r.tokens($0.element, below: 160)) }
    }

    func testSamplesDoNotDependOnBatchSizeCompositionOrOrder() throws {
        let m = try model()
        let reqs = requests(m)
        var settings = GenerationSettings(samplesPerPrompt: 3, maxNewTokens: 14, sampling: SamplingParameters(temperature: 1.0),
                                          stopTokens: [2, 3], seed: 7)
        let g = Generator(model: m)
        settings.maxBatchSlots = 3
        let one = try g.generate(reqs, settings: settings)
        settings.maxBatchSlots = 9
        let three = try g.generate(reqs, settings: settings)
        settings.maxBatchSlots = 32
        let all = try g.generate(reqs, settings: settings)
        XCTAssertEqual(one, three)
        XCTAssertEqual(one, all)
        // A subset in another order: each prompt id gets the same samples.
        let subset = try g.generate([reqs[3], reqs[0]], settings: settings)
        XCTAssertEqual(subset[0], one[3])
        XCTAssertEqual(subset[1], one[0])
        // Another seed changes the samples.
        settings.seed = 8
        XCTAssertNotEqual(try g.generate(reqs, settings: settings), one)
        // The k samples of a prompt differ from each other (temperature 1 on random weights).
        XCTAssertNotEqual(one[1][0].tokens, one[1][1].tokens)
    }

    func testSharedPrefillEqualsSeparatePrefillAndSavesWork() throws {
        let m = try model()
        let reqs = requests(m)
        var settings = GenerationSettings(samplesPerPrompt: 4, maxNewTokens: 8, sampling: SamplingParameters(temperature: 0.8, topP: 0.9),
                                          stopTokens: [], seed: 3)
        let g = Generator(model: m)
        let shared = try g.generate(reqs, settings: settings)
        let sharedPrefill = g.prefillTokens
        settings.sharePrefill = false
        let separate = try g.generate(reqs, settings: settings)
        XCTAssertEqual(shared, separate)
        let promptTokens = reqs.reduce(0) { $0 + $1.tokens.count }
        XCTAssertEqual(sharedPrefill, promptTokens)
        XCTAssertEqual(g.prefillTokens, 4 * promptTokens)
        XCTAssertTrue(shared.allSatisfy { $0.allSatisfy { $0.tokens.count == 8 && $0.finishReason == .length } })
    }

    func testGreedyFollowsFullForwardAndStopsAtStopToken() throws {
        let m = try model()
        let prompt = requests(m)[1]
        let settings = GenerationSettings(samplesPerPrompt: 2, maxNewTokens: 6, sampling: SamplingParameters(temperature: 0),
                                          stopTokens: [], seed: 1)
        let out = try Generator(model: m).generate([prompt], settings: settings)[0]
        XCTAssertEqual(out[0].tokens, out[1].tokens, "greedy samples agree")
        // Each greedy token is the argmax of the training-path logits of the sequence so far.
        var seq = prompt.tokens
        for t in out[0].tokens {
            let T = seq.count, V = 160
            var logp = [Float](repeating: 0, count: T), logits = [Float](repeating: 0, count: T * V)
            try m.forward(TokenBatch(tokens: seq, targets: seq, lengths: [T], maxLength: T),
                          workspace: TrainingWorkspace(config: m.config, capacity: Matmul.paddedRows(T), maxSequenceLength: T, training: false),
                          logProbs: &logp, training: false, logits: &logits)
            let last = Array(logits[(T - 1) * V..<T * V])
            XCTAssertEqual(Int(t), last.indices.max { last[$0] < last[$1] }!)
            seq.append(t)
        }
        // Stopping: make the third greedy token a stop token.
        let stop = out[0].tokens[2]
        let stopped = try Generator(model: m).generate([prompt], settings: GenerationSettings(
            samplesPerPrompt: 1, maxNewTokens: 6, sampling: SamplingParameters(temperature: 0), stopTokens: [stop], seed: 1))[0][0]
        XCTAssertEqual(stopped.finishReason, .stop)
        XCTAssertEqual(stopped.tokens, Array(out[0].tokens.prefix(while: { $0 != stop })))
    }

    func testPromptTooLongIsAnError() throws {
        let m = try model()   // max_position_embeddings 64
        let long = GenerationRequest(id: 0, tokens: [Int32](repeating: 5, count: 60))
        XCTAssertThrowsError(try Generator(model: m).generate([long], settings: GenerationSettings(
            samplesPerPrompt: 2, maxNewTokens: 8, sampling: SamplingParameters(), stopTokens: [], seed: 0)))
    }

    func testSamplerDistributions() {
        let logits: [Float] = [2.0, 1.0, 0.0, -1.0, 0.5]
        func frequencies(_ p: SamplingParameters, draws: Int = 40000) -> [Double] {
            let s = Sampler(parameters: p, vocabularySize: logits.count)
            var rng = SplitMix64(seed: 99)
            var counts = [Double](repeating: 0, count: logits.count)
            for _ in 0..<draws { counts[Int(s.sample(logits: logits, count: logits.count, rng: &rng))] += 1 }
            return counts.map { $0 / Double(draws) }
        }
        func softmax(_ x: [Double]) -> [Double] { let m = x.max()!; let e = x.map { exp($0 - m) }; let z = e.reduce(0, +); return e.map { $0 / z } }
        // temperature 1: softmax
        let p1 = softmax(logits.map(Double.init))
        for (f, p) in zip(frequencies(SamplingParameters()), p1) { XCTAssertEqual(f, p, accuracy: 0.01) }
        // temperature 0.5 sharpens
        let pHalf = softmax(logits.map { Double($0) / 0.5 })
        for (f, p) in zip(frequencies(SamplingParameters(temperature: 0.5)), pHalf) { XCTAssertEqual(f, p, accuracy: 0.01) }
        // top-k 2: only the two best, renormalised
        let f2 = frequencies(SamplingParameters(topK: 2))
        XCTAssertEqual(f2[0], p1[0] / (p1[0] + p1[1]), accuracy: 0.01)
        XCTAssertEqual(f2[2] + f2[3] + f2[4], 0)
        // top-p 0.7: the nucleus is {0, 1} (0.55 + 0.20 ≥ 0.7)
        let fp = frequencies(SamplingParameters(topP: 0.7))
        XCTAssertEqual(fp[2] + fp[3] + fp[4], 0)
        XCTAssertEqual(fp[0], p1[0] / (p1[0] + p1[1]), accuracy: 0.01)
        // greedy
        XCTAssertEqual(frequencies(SamplingParameters(temperature: 0), draws: 10)[0], 1)
    }
}
