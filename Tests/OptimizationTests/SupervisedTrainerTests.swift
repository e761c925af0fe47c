// The SFT engine: the loss is the mean −log p over exactly the marked tokens, it decreases on a tiny
// batch, gradient accumulation over micro-batches equals one big batch, runs are deterministic, and
// token accuracy / evaluation agree with the forward pass.

import XCTest
import Kernels
import Llama
import Checkpoints
@testable import Optimization
import TestSupport

final class SupervisedTrainerTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    func model() throws -> LlamaModel { try ModelDirectory.load(Fixtures.url("llama-mha")) }

    /// Sequences of 6–12 tokens; the first half is context (untrained), the rest trained.
    func examples(_ n: Int, seed: UInt64 = 3) -> [SupervisedExample] {
        var r = TestRandom(seed: seed)
        return (0..<n).map { i in
            let length = 6 + (i * 5) % 7
            let tokens = r.tokens(length, below: 128)
            return SupervisedExample(id: "e\(i)", tokens: tokens, trained: (0..<length).map { $0 >= length / 2 })
        }
    }

    func settings(batch: Int, micro: Int, lr: Double = 1e-2, kind: OptimizerKind = .adamw) -> SupervisedSettings {
        var s = SupervisedSettings()
        s.batchSize = batch; s.microBatchSize = micro; s.epochs = 1
        s.optimizer.kind = kind; s.optimizer.learningRate = lr; s.optimizer.schedule = .constant
        s.optimizer.warmupRatio = 0; s.optimizer.maxGradNorm = 0
        return s
    }

    /// −mean log p over the trained targets, computed position by position with the forward pass.
    func referenceLoss(_ m: LlamaModel, _ examples: [SupervisedExample]) throws -> Double {
        var total = 0.0, count = 0
        for e in examples {
            let L = e.tokens.count - 1
            let batch = TokenBatch(tokens: Array(e.tokens.prefix(L)), targets: Array(e.tokens.dropFirst()), lengths: [L], maxLength: L)
            let ws = TrainingWorkspace(config: m.config, capacity: Matmul.paddedRows(L), maxSequenceLength: L, training: false)
            var logp = [Float](repeating: 0, count: L)
            try m.forward(batch, workspace: ws, logProbs: &logp, training: false)
            for t in 0..<L where e.trained[t + 1] { total -= Double(logp[t]); count += 1 }
        }
        return total / Double(count)
    }

    func testLossIsTheMeanOverTrainedTokensAndDecreases() throws {
        let m = try model(), data = examples(4)
        let expected = try referenceLoss(m, data)
        let trainer = try SupervisedTrainer(model: m, settings: settings(batch: 4, micro: 2))
        let first = try trainer.step(examples: data, indices: [0, 1, 2, 3])
        XCTAssertEqual(first.loss, expected, accuracy: 1e-5 * expected)
        XCTAssertEqual(first.trainedTokens, data.reduce(0) { $0 + $1.trainedTokenCount })
        XCTAssertEqual(first.sequences, 4)
        var last = first
        for _ in 0..<15 { last = try trainer.step(examples: data, indices: [0, 1, 2, 3]) }
        XCTAssertLessThan(last.loss, 0.5 * first.loss, "AdamW on one tiny batch must fit it")
        XCTAssertGreaterThan(last.tokenAccuracy ?? 0, first.tokenAccuracy ?? 1)
        let evaluation = try trainer.evaluate(data)
        XCTAssertEqual(evaluation.loss, try referenceLoss(m, data), accuracy: 1e-5)
        XCTAssertEqual(evaluation.trainedTokens, first.trainedTokens)
    }

    func testOnlyMarkedTokensCount() throws {
        // The same tokens with different marks: each loss is the mean over its own marked targets.
        let m = try model()
        let tokens: [Int32] = [5, 17, 99, 3, 64, 12, 7, 80]
        let late = SupervisedExample(id: "late", tokens: tokens, trained: [false, false, false, false, false, true, true, true])
        let one = SupervisedExample(id: "one", tokens: tokens, trained: [false, false, true, false, false, false, false, false])
        let trainer = try SupervisedTrainer(model: m, settings: settings(batch: 1, micro: 1))
        let lateLoss = try trainer.evaluate([late]).loss, oneLoss = try trainer.evaluate([one]).loss
        XCTAssertEqual(lateLoss, try referenceLoss(m, [late]), accuracy: 1e-6)
        XCTAssertEqual(oneLoss, try referenceLoss(m, [one]), accuracy: 1e-6)
        XCTAssertNotEqual(lateLoss, oneLoss)
        XCTAssertEqual(late.trainedTokenCount, 3)
        XCTAssertEqual(SupervisedExample(id: "x", tokens: [1, 2], trained: [true, false]).trainedTokenCount, 0,
                       "the first token has nothing to predict it")
    }

    func testAccumulationEqualsOneBigBatch() throws {
        let data = examples(6)
        let big = try model(), small = try model()
        let a = try SupervisedTrainer(model: big, settings: settings(batch: 6, micro: 6, lr: 0.1, kind: .sgd))
        let b = try SupervisedTrainer(model: small, settings: settings(batch: 6, micro: 1, lr: 0.1, kind: .sgd))
        let sa = try a.step(examples: data, indices: Array(0..<6))
        let sb = try b.step(examples: data, indices: Array(0..<6))
        XCTAssertEqual(sa.loss, sb.loss, accuracy: 1e-6 * sa.loss)
        XCTAssertEqual(sa.gradNorm, sb.gradNorm, accuracy: 1e-5 * sa.gradNorm)
        // Batch invariance (each example its own gradient segment): the same bits.
        XCTAssertTrue(small.parameters.toArray() == big.parameters.toArray(), "parameters differ after one step")
    }

    func testTrainingIsDeterministicAndVisitsEveryExampleEachEpoch() throws {
        let data = examples(10)
        var s = settings(batch: 4, micro: 2)
        s.epochs = 2; s.optimizer.schedule = .cosine; s.optimizer.warmupRatio = 0.2
        func run() throws -> (LlamaModel, [SupervisedStepMetrics]) {
            let m = try model()
            let t = try SupervisedTrainer(model: m, settings: s)
            var steps: [SupervisedStepMetrics] = []
            try t.train(examples: data) { steps.append($0) }
            return (m, steps)
        }
        let (m1, steps1) = try run(), (m2, steps2) = try run()
        XCTAssertEqual(steps1.count, 6, "⌈10 / 4⌉ steps × 2 epochs")
        XCTAssertEqual(steps1.map(\.loss), steps2.map(\.loss))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: m1.parameters.pointer, count: m1.parameters.count)),
                       Array(UnsafeBufferPointer(start: m2.parameters.pointer, count: m2.parameters.count)))
        let trainer = try SupervisedTrainer(model: try model(), settings: s)
        for epoch in 0..<2 {
            let seen = (0..<3).flatMap { trainer.batchIndices(step: epoch * 3 + $0, exampleCount: 10) }
            XCTAssertEqual(seen.sorted(), Array(0..<10))
        }
        XCTAssertEqual(steps1.last?.epoch ?? 0, 2, accuracy: 1e-12)
    }

    func testRejectsExamplesWithoutTrainedTokensOrOutsideTheVocabulary() throws {
        let trainer = try SupervisedTrainer(model: try model(), settings: settings(batch: 2, micro: 2))
        let none = SupervisedExample(id: "none", tokens: [1, 2, 3], trained: [true, false, false])
        XCTAssertThrowsError(try trainer.train(examples: [none]) { _ in })
        let outside = SupervisedExample(id: "outside", tokens: [1, 500, 3], trained: [false, true, true])
        XCTAssertThrowsError(try trainer.train(examples: [outside]) { _ in })
        var s = settings(batch: 2, micro: 3)
        XCTAssertThrowsError(try s.validate())
        s = settings(batch: 2, micro: 2); s.maxLength = 1
        XCTAssertThrowsError(try s.validate())
    }
}
