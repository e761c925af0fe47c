// The KV-cache path equals the training path: cached decoding reproduces the full forward at every
// position, batched slots at different positions agree with single ones, and forks continue exactly.

import XCTest
import Kernels
import Llama
import Checkpoints
import TestSupport

final class InferenceTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    /// Full-forward logits (T, V) of one sequence through the training path.
    func fullLogits(_ model: LlamaModel, _ tokens: [Int32]) throws -> [Float] {
        let T = tokens.count, V = model.config.vocabSize
        let batch = TokenBatch(tokens: tokens, targets: tokens, lengths: [T], maxLength: T)
        var logp = [Float](repeating: 0, count: T), logits = [Float](repeating: 0, count: T * V)
        try model.forward(batch, workspace: TrainingWorkspace(config: model.config, capacity: Matmul.paddedRows(T), maxSequenceLength: T, training: false),
                          logProbs: &logp, training: false, logits: &logits)
        return logits
    }

    func testDecodeEqualsFullForwardAtEveryPosition() throws {
        for name in ["llama-mha", "llama-gqa-tied", "qwen2-tied", "qwen3-headdim", "mistral-window", "gemma-mqa", "gemma2-softcap"] {
            let model = try ModelDirectory.load(Fixtures.url(name))
            let V = model.config.vocabSize
            var r = TestRandom(seed: 21)
            let tokens = r.tokens(20, below: V)
            let full = try fullLogits(model, tokens)
            let cache = KVCache(config: model.config, slots: 1, maxLength: 32)
            let session = InferenceSession(model: model, cache: cache, maxRows: 32)
            // Prefill 7 tokens (all logits), then decode one at a time.
            try session.extend(slots: [0], tokens: [Array(tokens[0..<7])], allLogits: true)
            let c0 = compare(Array(session.logits.buffer[0..<7 * V]), Array(full[0..<7 * V]))
            XCTAssertLessThanOrEqual(c0.relativeError, 1e-5, "\(name) prefill: \(c0)")
            for t in 7..<20 {
                try session.extend(slots: [0], tokens: [[tokens[t]]])
                let c = compare(Array(session.logits.buffer[0..<V]), Array(full[t * V..<(t + 1) * V]))
                XCTAssertLessThanOrEqual(c.relativeError, 1e-5, "\(name) decode position \(t): \(c)")
            }
            XCTAssertEqual(cache.lengths[0], 20)
        }
    }

    /// A sequence longer than the session's rows goes in several calls; the last token's logits
    /// equal the full forward's (reward models and the pairwise judge read them so).
    func testLongSequencesRunInSeveralCalls() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let V = model.config.vocabSize
        var r = TestRandom(seed: 23)
        let tokens = r.tokens(50, below: V)
        let full = try fullLogits(model, tokens)
        let session = InferenceSession(model: model, cache: KVCache(config: model.config, slots: 1, maxLength: 64), maxRows: 16)
        try session.extendInCalls(slot: 0, tokens: tokens)
        XCTAssertEqual(session.cache.lengths[0], 50)
        let c = compare(Array(session.logits.buffer[0..<V]), Array(full[49 * V..<50 * V]))
        XCTAssertLessThanOrEqual(c.relativeError, 1e-5, "\(c)")
    }

    func testBatchedSlotsAtDifferentPositionsAndForks() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-gqa-tied"))
        let V = model.config.vocabSize
        var r = TestRandom(seed: 22)
        let prompt = r.tokens(9, below: V)
        let contA = r.tokens(5, below: V), contB = r.tokens(3, below: V)
        // Reference: unforked single sequences.
        let fullA = try fullLogits(model, prompt + contA), fullB = try fullLogits(model, prompt + contB)

        let cache = KVCache(config: model.config, slots: 3, maxLength: 24)
        let s = InferenceSession(model: model, cache: cache, maxRows: 24)
        try s.extend(slots: [0], tokens: [prompt])          // one shared prefill
        cache.fork(from: 0, to: 1)
        cache.fork(from: 0, to: 2)
        // Slots 1 and 2 continue in one batch with unequal new-token counts.
        try s.extend(slots: [1, 2], tokens: [Array(contA[0..<3]), Array(contB[0..<1])], allLogits: true)
        let rowsA = Array(s.logits.buffer[0..<3 * V]), rowB = Array(s.logits.buffer[3 * V..<4 * V])
        XCTAssertLessThanOrEqual(compare(rowsA, Array(fullA[9 * V..<12 * V])).relativeError, 1e-5)
        XCTAssertLessThanOrEqual(compare(rowB, Array(fullB[9 * V..<10 * V])).relativeError, 1e-5)
        // Then decode both together, each at its own position (12 and 10).
        try s.extend(slots: [1, 2], tokens: [[contA[3]], [contB[1]]])
        let cA = compare(Array(s.logits.buffer[0..<V]), Array(fullA[12 * V..<13 * V]))
        let cB = compare(Array(s.logits.buffer[V..<2 * V]), Array(fullB[10 * V..<11 * V]))
        XCTAssertLessThanOrEqual(cA.relativeError, 1e-5, "\(cA)")
        XCTAssertLessThanOrEqual(cB.relativeError, 1e-5, "\(cB)")
        XCTAssertEqual(cache.lengths, [9, 13, 11])
        // The source slot is untouched by its forks: continuing it gives the same as slot 1 did.
        try s.extend(slots: [0], tokens: [[contA[0]]])
        let c0 = compare(Array(s.logits.buffer[0..<V]), Array(fullA[9 * V..<10 * V]))
        XCTAssertLessThanOrEqual(c0.relativeError, 1e-5, "\(c0)")
        // A full cache is an error, not a trap.
        XCTAssertThrowsError(try s.extend(slots: [0], tokens: [r.tokens(20, below: V)]))
        XCTAssertThrowsError(try s.extend(slots: [5], tokens: [[1]]))
        XCTAssertThrowsError(try s.extend(slots: [0], tokens: [[Int32(V)]]))
    }
}
