// The preference-optimization loop: seeded epoch order, global batches accumulated over padded
// micro-batches, the loss of `Losses.swift` through the engine's backward, the optimizer step, and
// TRL-named metrics per step. The reference model is never held: its log-probs come cached.

import Foundation
import Kernels
import Llama

/// Metrics of one optimizer step, with TRL's names.
public struct StepMetrics: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Double
    public var loss: Double
    public var gradNorm: Double
    public var learningRate: Double
    public var rewardsChosen: Double
    public var rewardsRejected: Double
    public var rewardsAccuracies: Double
    public var rewardsMargins: Double
    public var logpsChosen: Double
    public var logpsRejected: Double
    public var logitsChosen: Double
    public var logitsRejected: Double
    /// Wall-clock speed of the step; nil (left out of metrics.jsonl) where outputs must not depend
    /// on timing — a recipe run, whose resumed and uninterrupted outputs are compared byte for byte.
    public var tokensPerSecond: Double?
    public var pairs: Int

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, pairs
        case gradNorm = "grad_norm", learningRate = "learning_rate"
        case rewardsChosen = "rewards/chosen", rewardsRejected = "rewards/rejected"
        case rewardsAccuracies = "rewards/accuracies", rewardsMargins = "rewards/margins"
        case logpsChosen = "logps/chosen", logpsRejected = "logps/rejected"
        case logitsChosen = "logits/chosen", logitsRejected = "logits/rejected"
        case tokensPerSecond = "tokens_per_s"
    }
}

/// Everything the preference trainer needs. These defaults are THE defaults of `idpo train` and of a
/// recipe's training section (README.md, "Defaults"); the rules are in SettingIssues.swift.
public struct TrainerSettings: Codable, Equatable, Sendable {
    public var loss = LossSettings()
    public var optimizer = OptimizerSettings()
    public var limits = SequenceLimits()
    /// Pairs per optimizer step (global batch).
    public var batchSize = 128
    /// Pairs per forward/backward pass (gradients accumulate over ⌈batch / micro⌉ passes).
    public var microBatchSize = 2
    public var epochs = 2
    public var seed: UInt64 = 42
    /// Keep only each layer's input and recompute the layer in backward (same gradients, bit for
    /// bit; a fraction of the activation memory, about one more forward pass of time).
    public var activationCheckpointing = false
    public init() {}
}

public final class PreferenceTrainer {
    public let policy: LlamaModel
    public let settings: TrainerSettings
    public let optimizer: Optimizer
    public let gradients: FloatBuffer
    private let workspaces: GrowingWorkspace
    private var schedule: EpochSchedule { EpochSchedule(batchSize: settings.batchSize, epochs: settings.epochs, seed: settings.seed) }

    /// Trains `policy.trainableParameters`: its adapter when it carries one (the base frozen), else
    /// every parameter.
    public init(policy: LlamaModel, settings: TrainerSettings) throws {
        try settings.validate()
        self.policy = policy
        self.settings = settings
        optimizer = Optimizer(settings: settings.optimizer, parameterCount: policy.trainableParameters.count)
        gradients = FloatBuffer(count: policy.trainableParameters.count)
        workspaces = GrowingWorkspace(model: policy, activationCheckpointing: settings.activationCheckpointing)
    }

    public func stepsPerEpoch(pairCount: Int) -> Int { schedule.stepsPerEpoch(pairCount) }
    public func totalSteps(pairCount: Int) -> Int { schedule.totalSteps(pairCount) }

    /// The pairs (indices) of optimizer step `step` (0-based): epoch e = step / stepsPerEpoch visits
    /// the pairs in a permutation seeded by (seed, e).
    public func batchIndices(step: Int, pairCount: Int) -> [Int] { schedule.batchIndices(step: step, count: pairCount) }

    /// One optimizer step over the pairs `indices` (reference log-probs given per pair). The pairs must
    /// already fit `settings.limits` (`SequenceLimits.truncate`, applied once before the reference
    /// log-probs are computed). `beforeUpdate` runs once the step's loss and gradients are known to be
    /// finite and before the weights change: the weights it sees are the last known-good state.
    public func step(pairs: [TokenizedPair], reference: [(chosen: Double, rejected: Double)], indices: [Int],
                     beforeUpdate: (() throws -> Void)? = nil) throws -> StepMetrics {
        let started = DispatchTime.now().uptimeNanoseconds
        let stepIndex = optimizer.step
        let total = totalSteps(pairCount: pairs.count)
        let lr = learningRate(settings.optimizer, step: stepIndex, totalSteps: total)
        gradients.zero()
        let global = Double(indices.count)
        var sums = (loss: 0.0, rc: 0.0, rr: 0.0, acc: 0.0, lc: 0.0, lr: 0.0, gc: 0.0, gr: 0.0, gcN: 0.0, grN: 0.0)
        var tokens = 0
        var start = 0
        while start < indices.count {
            let micro = Array(indices[start..<min(indices.count, start + settings.microBatchSize)])
            start += micro.count
            let prepared = micro.map { pairs[$0] }
            if let long = prepared.first(where: { !$0.fits(settings.limits) }) {
                throw TrainingError.invalid("pair '\(long.id)' exceeds max_length/max_prompt_length: truncate the pairs once (SequenceLimits.truncate) before computing reference log-probs")
            }
            let pb = PairBatch(prepared)
            let ws = try workspaceFor(pb)
            let B = pb.batch.batchSize, T = pb.batch.maxLength, m = pb.pairs
            let (cj, rj) = (PairBatch.chosen, PairBatch.rejected)
            var logp = [Float](repeating: 0, count: B * T), means = [Float](repeating: 0, count: B * T)
            try policy.forward(pb.batch, workspace: ws, logProbs: &logp, training: true, logitMeans: &means)
            tokens += pb.batch.totalTokens
            let seq = logp.withUnsafeBufferPointer { pb.responseSums($0.baseAddress!) }
            let meanSums = means.withUnsafeBufferPointer { pb.responseSums($0.baseAddress!) }
            var dLogp = [Float](repeating: 0, count: B * T)
            for j in 0..<m {
                let i = micro[j]
                let values = PairLogProbs(policyChosen: seq[cj(j)], policyRejected: seq[rj(j)],
                                          referenceChosen: reference[i].chosen, referenceRejected: reference[i].rejected,
                                          chosenTokens: prepared[j].chosen.count, rejectedTokens: prepared[j].rejected.count,
                                          chosenTarget: prepared[j].chosenTarget, rejectedTarget: prepared[j].rejectedTarget)
                let l = try settings.loss.evaluate(values)
                guard l.loss.isFinite else {
                    throw TrainingError.diverged("loss is \(l.loss) at step \(stepIndex + 1) (pair '\(pairs[i].id)')")
                }
                sums.loss += l.loss; sums.rc += l.rewardChosen; sums.rr += l.rewardRejected
                sums.acc += l.rewardChosen > l.rewardRejected ? 1 : 0
                sums.lc += seq[cj(j)]; sums.lr += seq[rj(j)]
                sums.gc += meanSums[cj(j)]; sums.gr += meanSums[rj(j)]
                sums.gcN += Double(pb.responseLength[cj(j)]); sums.grN += Double(pb.responseLength[rj(j)])
                // seq logp = Σ token logp over the response mask → each masked token gets ∂L/∂seq / global
                for (b, g) in [(cj(j), l.dPolicyChosen), (rj(j), l.dPolicyRejected)] {
                    let v = Float(g / global)
                    for t in pb.responseStart[b]..<pb.batch.lengths[b] { dLogp[b * T + t] = v }
                }
            }
            policy.backward(dLogProbs: dLogp, batchMaxLength: T, workspace: ws, gradients: gradients)
        }
        let gradientNorm = Optimizer.globalNorm(gradients)
        guard gradientNorm.isFinite else {
            throw TrainingError.diverged("gradient norm is \(gradientNorm) at step \(stepIndex + 1)")
        }
        try beforeUpdate?()
        let norm = try optimizer.apply(parameters: policy.trainableParameters, gradients: gradients, lr: lr, gradientNorm: gradientNorm)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        return StepMetrics(step: stepIndex + 1, epoch: Double(stepIndex + 1) / Double(stepsPerEpoch(pairCount: pairs.count)),
                           loss: sums.loss / global, gradNorm: norm, learningRate: lr,
                           rewardsChosen: sums.rc / global, rewardsRejected: sums.rr / global,
                           rewardsAccuracies: sums.acc / global, rewardsMargins: (sums.rc - sums.rr) / global,
                           logpsChosen: sums.lc / global, logpsRejected: sums.lr / global,
                           logitsChosen: sums.gc / max(1, sums.gcN), logitsRejected: sums.gr / max(1, sums.grN),
                           tokensPerSecond: Double(tokens) / seconds, pairs: indices.count)
    }

    /// Runs the remaining optimizer steps (from `optimizer.step` to the end), calling `onStep` after
    /// each (where the caller logs metrics and may checkpoint).
    public func train(pairs: [TokenizedPair], reference: [(chosen: Double, rejected: Double)],
                      beforeUpdate: ((_ completedSteps: Int) throws -> Void)? = nil,
                      onStep: (StepMetrics) throws -> Void) throws {
        guard pairs.count == reference.count else { throw TrainingError.invalid("\(pairs.count) pairs but \(reference.count) reference entries") }
        if settings.loss.kind.needsTargets, let bad = pairs.first(where: { $0.chosenTarget == nil || $0.rejectedTarget == nil }) {
            throw LossError.missingTargets(settings.loss.kind).withPair(bad.id)
        }
        let total = totalSteps(pairCount: pairs.count)
        // Size the workspace once: the largest micro-batch holds at most the `microBatchSize` largest
        // pair segments (chosen + rejected rows, padded to the row tile), its longest sequence the longest.
        let segments = pairs.map { p in Matmul.paddedRows(p.prompt.count + p.chosen.count - 1 + p.prompt.count + p.rejected.count - 1) }
        let longest = pairs.map { $0.prompt.count + max($0.chosen.count, $0.rejected.count) - 1 }.max() ?? 1
        if optimizer.step < total {
            workspaces.reserve(tokens: segments.sorted(by: >).prefix(settings.microBatchSize).reduce(0, +),
                               longest: longest)
        }
        while optimizer.step < total {
            let completed = optimizer.step
            try onStep(try step(pairs: pairs, reference: reference, indices: batchIndices(step: completed, pairCount: pairs.count),
                                beforeUpdate: beforeUpdate.map { hook in { try hook(completed) } }))
        }
    }

    private func workspaceFor(_ pb: PairBatch) throws -> TrainingWorkspace {
        workspaces.workspace(tokens: pb.batch.packedRows, longest: pb.batch.maxLength)
    }
}

extension LossError {
    func withPair(_ id: String) -> LossError { .invalid("\(description) (first such pair: '\(id)')") }
}
