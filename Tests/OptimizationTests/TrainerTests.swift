// The DPO step through the whole model: log 2 at the start, finite differences of the full loss,
// accumulation equivalence, optimizers, divergence guard and the cached reference.

import XCTest
import Kernels
import Llama
import Checkpoints
@testable import Optimization
import TestSupport

final class TrainerTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    func model() throws -> LlamaModel { try ModelDirectory.load(Fixtures.url("llama-mha")) }

    func pairs(_ n: Int, seed: UInt64 = 5) -> [TokenizedPair] {
        var r = TestRandom(seed: seed)
        return (0..<n).map { i in
            TokenizedPair(id: "p\(i)", prompt: r.tokens(3 + i % 4, below: 128), chosen: r.tokens(2 + i % 5, below: 128),
                          rejected: r.tokens(3 + (i * 3) % 4, below: 128))
        }
    }

    func settings(batch: Int, micro: Int, kind: OptimizerKind = .sgd, lr: Double = 0.1) -> TrainerSettings {
        var s = TrainerSettings()
        s.batchSize = batch; s.microBatchSize = micro
        s.optimizer.kind = kind; s.optimizer.learningRate = lr; s.optimizer.schedule = .constant
        s.optimizer.maxGradNorm = 0
        s.limits = SequenceLimits(maxLength: 64, maxPromptLength: 32)
        return s
    }

    func testFirstStepLossIsLogTwoAndTheStepSeparatesChosenFromRejected() throws {
        let m = try model(), ps = pairs(4)
        // The reference scored in other micro-batches (4 pairs) than the step (2): batch invariance
        // makes each pair's log-probs the same bits either way.
        let ref = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 4)
        let trainer = try PreferenceTrainer(policy: m, settings: settings(batch: 4, micro: 2))
        let first = try trainer.step(pairs: ps, reference: ref, indices: [0, 1, 2, 3])
        XCTAssertEqual(first.loss, log(2.0), "policy = reference ⇒ loss = log 2 exactly")
        XCTAssertEqual(first.rewardsChosen, 0); XCTAssertEqual(first.rewardsMargins, 0)
        let second = try trainer.step(pairs: ps, reference: ref, indices: [0, 1, 2, 3])
        XCTAssertLessThan(second.loss, log(2.0))
        XCTAssertGreaterThan(second.rewardsMargins, 0)
        XCTAssertEqual(second.rewardsAccuracies, 1)
    }

    /// ∂(DPO loss)/∂θ from the hand-written backward against central differences of the loss
    /// (evaluated in Double from the model's log-probs) at the coordinates with the largest gradients.
    func testFullDPOLossMatchesFiniteDifferences() throws {
        let m = try model(), ps = pairs(3)
        // A reference that differs from the policy, so that the loss is not at its symmetric point.
        let ref = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 3).map { ($0.chosen + 0.7, $0.rejected - 0.4) }
        var s = settings(batch: 3, micro: 3)
        s.loss = LossSettings(kind: .sigmoid, beta: 0.5, labelSmoothing: 0.1, nllWeight: 0.2)
        func loss() throws -> Double {
            let lp = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 3)
            return try (0..<3).reduce(0.0) { acc, i in
                acc + (try s.loss.evaluate(PairLogProbs(policyChosen: lp[i].chosen, policyRejected: lp[i].rejected,
                                                        referenceChosen: ref[i].0, referenceRejected: ref[i].1,
                                                        chosenTokens: ps[i].chosen.count, rejectedTokens: ps[i].rejected.count)).loss)
            } / 3
        }
        // Analytic gradient: a step with learning rate 0 leaves θ unchanged and fills the gradients.
        s.optimizer.learningRate = 1e-30
        let trainer = try PreferenceTrainer(policy: m, settings: s)
        _ = try trainer.step(pairs: ps, reference: ref, indices: [0, 1, 2])
        let g = trainer.gradients.toArray()
        let top = g.indices.sorted { abs(g[$0]) > abs(g[$1]) }.prefix(12)
        for i in top {
            let h: Float = 2e-3 * max(1, abs(m.parameters[i]))
            let orig = m.parameters[i]
            m.parameters[i] = orig + h; let up = try loss()
            m.parameters[i] = orig - h; let down = try loss()
            m.parameters[i] = orig
            let fd = (up - down) / Double(2 * h)
            XCTAssertEqual(Double(g[i]), fd, accuracy: 0.03 * abs(fd) + 1e-5, "parameter \(i)")
        }
    }

    /// Accumulation equivalence, exactly: products run over rows padded to sgemm's tile and weight
    /// gradients are formed pair by pair in a fixed order, so 1 micro-batch of 8, 8 of 1 and 3 + 3 + 2
    /// give the same bits — for an untied model and a tied GQA one (whose embedding matrix receives the
    /// lm_head and embedding gradients, interleaved pair by pair).
    func testOneMicroBatchOfEightEqualsEightMicroBatchesOfOne() throws {
        XCTAssertGreaterThan(Matmul.rowTile, 1, "no sgemm row tile found: batch invariance degrades to rounding")
        for fixture in ["llama-mha", "llama-gqa-tied"] {
            let ps = pairs(8)
            // A generic point (policy ≠ reference): at policy = reference the DPO gradient is a difference
            // of nearly equal chosen/rejected terms, where any float32 reordering would show magnified.
            var r = TestRandom(seed: 77)
            let base = try ModelDirectory.load(Fixtures.url(fixture))
            let ref = try SequenceScoring.logProbs(model: base, pairs: ps, microBatch: 8)
                .map { ($0.chosen + Double(r.uniform(1, -3, 3)[0]), $0.rejected + Double(r.uniform(1, -3, 3)[0])) }
            var updates: [[Float]] = [], weights: [[Float]] = [], losses: [Double] = []
            for micro in [8, 1, 3] {
                let m = try ModelDirectory.load(Fixtures.url(fixture))
                // SGD: the update is −lr × the accumulated gradient, compared directly.
                let trainer = try PreferenceTrainer(policy: m, settings: settings(batch: 8, micro: micro, kind: .sgd, lr: 0.05))
                losses.append(try trainer.step(pairs: ps, reference: ref, indices: Array(0..<8)).loss)
                updates.append(trainer.gradients.toArray().map { -0.05 * $0 })
                weights.append(m.parameters.toArray())
            }
            XCTAssertGreaterThan(updates[0].map { abs($0) }.max()!, 0)
            for other in 1..<3 {
                // ‖u_other − u₈‖ / ‖u₈‖ = 0: not one bit differs
                var diff = 0.0, norm = 0.0, differing = 0
                for (a, b) in zip(updates[other], updates[0]) {
                    diff += Double(a - b) * Double(a - b); norm += Double(b) * Double(b)
                    if a.bitPattern != b.bitPattern { differing += 1 }
                }
                XCTAssertEqual(differing, 0, "\(fixture), micro-batch \([8, 1, 3][other]): \(differing) gradient entries differ, "
                               + "relative L2 \((diff / norm).squareRoot())")
                XCTAssertLessThanOrEqual((diff / norm).squareRoot(), 1e-6)
                XCTAssertTrue(weights[other] == weights[0], "\(fixture): weights after the step differ")
                XCTAssertEqual(losses[other], losses[0], accuracy: 1e-12 * abs(losses[0]))
            }
        }
    }

    func testReferenceCacheEqualsRecomputationAndBatchComposition() throws {
        let m = try model(), ps = pairs(6)
        let a = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 6)
        let again = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 6)
        for (x, y) in zip(a, again) { XCTAssertEqual(x.chosen, y.chosen); XCTAssertEqual(x.rejected, y.rejected) }
        // Other batch compositions give the same bits (rows padded to sgemm's tile: batch invariance).
        for micro in [1, 4] {
            let b = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: micro)
            for (x, y) in zip(a, b) { XCTAssertEqual(x.chosen, y.chosen); XCTAssertEqual(x.rejected, y.rejected) }
        }
        // Round trip through JSON (how the cache is stored) is exact.
        let data = try JSONEncoder().encode(a.map { [$0.chosen, $0.rejected] })
        let back = try JSONDecoder().decode([[Double]].self, from: data)
        XCTAssertEqual(back.map { $0[0] }, a.map(\.chosen))
    }

    /// Everything a resumed optimizer needs, bit for bit: name, step, hyperparameters, and every
    /// element of every moment (a one-ulp change makes two states differ).
    static func sameState(_ a: OptimizerState, _ b: OptimizerState) -> Bool {
        a.name == b.name && a.step == b.step && a.hyperparametersJSON == b.hyperparametersJSON
            && a.moments.map(\.name) == b.moments.map(\.name)
            && zip(a.moments, b.moments).allSatisfy { $0.values.toArray().map(\.bitPattern) == $1.values.toArray().map(\.bitPattern) }
    }

    /// A deep copy (the optimizer's own state() shares its live moment buffers).
    static func copy(_ s: OptimizerState) -> OptimizerState {
        OptimizerState(name: s.name, step: s.step, hyperparametersJSON: s.hyperparametersJSON,
                       moments: s.moments.map { ($0.name, FloatBuffer($0.values.toArray())) })
    }

    func testOptimizersMoveDownhillAndStateRoundTrips() throws {
        let tmp = try TinyModels.temporaryDirectory("optimizer-state")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let names: [OptimizerKind: [String]] = [.adamw: ["exp_avg", "exp_avg_sq"], .rmsprop: ["square_avg"], .sgd: ["momentum_buffer"]]
        for kind in OptimizerKind.allCases {
            let m = try model(), ps = pairs(4)
            let ref = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 4)
            var s = settings(batch: 4, micro: 4, kind: kind, lr: kind == .sgd ? 0.2 : 2e-3)
            s.optimizer.momentum = kind == .sgd ? 0.9 : 0
            s.optimizer.weightDecay = 0.01
            s.optimizer.maxGradNorm = 1.0
            let trainer = try PreferenceTrainer(policy: m, settings: s)
            var losses: [Double] = []
            for _ in 0..<4 { losses.append(try trainer.step(pairs: ps, reference: ref, indices: [0, 1, 2, 3]).loss) }
            XCTAssertLessThan(losses.last!, losses.first!, "\(kind): \(losses)")
            let st = Self.copy(trainer.optimizer.state())
            XCTAssertEqual(st.step, 4)
            XCTAssertEqual(st.name, kind.rawValue)
            XCTAssertEqual(st.moments.map(\.name), names[kind])
            for moment in st.moments {
                XCTAssertEqual(moment.values.count, m.layout.count)
                XCTAssertGreaterThan(moment.values.toArray().filter { $0 != 0 }.count, m.layout.count / 2,
                                     "\(kind) \(moment.name): four steps fill the moments (zeros would compare equal whatever the file held)")
            }

            // Through the checkpoint file (as a resumed run reads it) and into a fresh optimizer.
            let url = tmp.appendingPathComponent("\(kind).h5")
            try NativeCheckpoint(model: m, optimizer: st, metadataJSON: "{\"step\":4}").write(to: url)
            let read = try NativeCheckpoint.read(from: url)
            let back = try XCTUnwrap(read.optimizer)
            XCTAssertTrue(Self.sameState(back, st), "\(kind): the state read back differs from the state written")
            XCTAssertEqual(read.model.parameters.toArray().map(\.bitPattern), m.parameters.toArray().map(\.bitPattern))
            let other = Optimizer(settings: s.optimizer, parameterCount: m.layout.count)
            try other.restore(back)
            XCTAssertEqual(other.step, 4)
            XCTAssertTrue(Self.sameState(other.state(), st), "\(kind): restore lost part of the state")

            // The comparison can fail: any one changed field or element makes the states differ.
            var changed = Self.copy(st); changed.step += 1
            XCTAssertFalse(Self.sameState(changed, st))
            changed = Self.copy(st); changed.hyperparametersJSON += " "
            XCTAssertFalse(Self.sameState(changed, st))
            for (i, moment) in st.moments.enumerated() {
                changed = Self.copy(st)
                let at = moment.values.count - 1
                changed.moments[i].values[at] = changed.moments[i].values[at].nextUp
                XCTAssertFalse(Self.sameState(changed, st), "\(kind) \(moment.name): a one-ulp change must be seen")
            }
            // A state of another optimizer is refused.
            let foreign = OptimizerState(name: kind == .adamw ? "rmsprop" : "adamw", step: 4,
                                         moments: (kind == .adamw ? ["square_avg"] : ["exp_avg", "exp_avg_sq"]).map { ($0, FloatBuffer(count: m.layout.count)) })
            XCTAssertThrowsError(try Optimizer(settings: s.optimizer, parameterCount: m.layout.count).restore(foreign))

            // Resuming from the file continues exactly as the uninterrupted trainer does.
            let resumed = try model()
            resumed.parameters.copy(from: read.model.parameters)
            let second = try PreferenceTrainer(policy: resumed, settings: s)
            try second.optimizer.restore(back)
            var a = try trainer.step(pairs: ps, reference: ref, indices: [0, 1, 2, 3])
            var b = try second.step(pairs: ps, reference: ref, indices: [0, 1, 2, 3])
            a.tokensPerSecond = nil; b.tokensPerSecond = nil   // wall-clock speed, the one figure that may differ
            XCTAssertEqual(a.step, 5)
            XCTAssertEqual(a, b, "\(kind): the step after a resume")
            XCTAssertEqual(resumed.parameters.toArray().map(\.bitPattern), m.parameters.toArray().map(\.bitPattern), "\(kind): weights after the resumed step")
            XCTAssertTrue(Self.sameState(second.optimizer.state(), trainer.optimizer.state()), "\(kind): moments after the resumed step")
        }
    }

    func testDivergenceStopsBeforeTouchingTheWeights() throws {
        let m = try model(), ps = pairs(2)
        let ref = try SequenceScoring.logProbs(model: m, pairs: ps, microBatch: 2).map { (Double.nan, $0.rejected) }
        let trainer = try PreferenceTrainer(policy: m, settings: settings(batch: 2, micro: 2))
        let before = m.parameters.toArray()
        XCTAssertThrowsError(try trainer.step(pairs: ps, reference: ref, indices: [0, 1])) {
            XCTAssertTrue("\($0)".contains("diverged"), "\($0)")
        }
        XCTAssertEqual(m.parameters.toArray(), before)
        XCTAssertEqual(trainer.optimizer.step, 0)
    }

    func testTruncationKeepsPromptEndAndCounts() {
        var counts = TruncationCounts()
        let p = TokenizedPair(id: "x", prompt: Array(1...10).map(Int32.init), chosen: Array(20...29).map(Int32.init), rejected: [5])
        let t = p.truncated(SequenceLimits(maxLength: 12, maxPromptLength: 4), counts: &counts)
        XCTAssertEqual(t.prompt, [7, 8, 9, 10])
        XCTAssertEqual(t.chosen, Array(20...27).map(Int32.init))
        XCTAssertEqual(t.rejected, [5])
        XCTAssertEqual(counts.promptsTruncated, 1)
        XCTAssertEqual(counts.responsesTruncated, 1)
    }
    /// Each prompt computed once through the KV cache gives every response's summed log-probs as
    /// whole-sequence forwards do (to rounding), whatever the call size: responses longer than a call,
    /// of one token, empty (0); a response without a prompt is refused.
    func testSharedPromptLogProbsAgreeWithWholeSequenceForwards() throws {
        let m = try model()
        var r = TestRandom(seed: 11)
        let groups: [(prompt: [Int32], responses: [[Int32]])] = [
            (r.tokens(9, below: 128), [r.tokens(13, below: 128), r.tokens(1, below: 128), [], r.tokens(6, below: 128)]),
            (r.tokens(2, below: 128), [r.tokens(20, below: 128)]),
            (r.tokens(5, below: 128), [[], []]),
        ]
        let whole = try SequenceScoring.responseLogProbs(model: m, sequences: groups.flatMap { g in g.responses.map { (g.prompt, $0) } },
                                                         microBatch: 3)
        for rows in [1, 5, 12, 256] {
            let shared = Array(try SequenceScoring.sharedPromptResponseLogProbs(model: m, groups: groups, rowsPerCall: rows).joined())
            XCTAssertEqual(shared.count, whole.count)
            for (a, b) in zip(shared, whole) {
                XCTAssertEqual(a, b, accuracy: 2e-5 * max(1, abs(b)), "\(rows) rows per call")
            }
            XCTAssertEqual(shared[2], 0); XCTAssertEqual(shared[5], 0); XCTAssertEqual(shared[6], 0)
            XCTAssertNotEqual(shared[1], 0)
        }
        XCTAssertThrowsError(try SequenceScoring.sharedPromptResponseLogProbs(model: m, groups: [([], [[3, 4]])]))
    }
}
