// Supervised fine-tuning (the engine of `idpo sft` and `idpo train-judge`): token-level
// cross-entropy on the marked tokens of each sequence (the assistant turns of a chat; the A/B verdict
// of a preference-model prompt), right-padded micro-batches through the engine's forward/backward,
// gradient accumulation over a global batch, the shared optimizers and schedules, and metrics.
// Deterministic: the epoch order is a permutation seeded by (seed, epoch).

import Foundation
import Kernels
import Llama

/// One training sequence: `tokens`, and for each position whether that token is a target
/// (predicted from the tokens before it). `trained[0]` is ignored: nothing predicts the first token.
public struct SupervisedExample: Codable, Sendable, Equatable {
    public var id: String
    public var tokens: [Int32]
    public var trained: [Bool]

    public init(id: String, tokens: [Int32], trained: [Bool]) {
        precondition(tokens.count == trained.count, "SupervisedExample: one trained flag per token")
        self.id = id; self.tokens = tokens; self.trained = trained
    }

    /// Target tokens (positions ≥ 1 marked as trained).
    public var trainedTokenCount: Int { trained.indices.dropFirst().filter { trained[$0] }.count }

    /// The example cut to its first `maxLength` tokens (TRL's truncation of SFT data).
    public func truncated(to maxLength: Int) -> SupervisedExample {
        guard tokens.count > maxLength else { return self }
        return SupervisedExample(id: id, tokens: Array(tokens.prefix(maxLength)), trained: Array(trained.prefix(maxLength)))
    }
}

public struct SupervisedSettings: Codable, Equatable, Sendable {
    public var optimizer: OptimizerSettings = {
        var o = OptimizerSettings()
        o.learningRate = 2e-5; o.warmupRatio = 0.03
        return o
    }()
    /// Sequences per optimizer step (global batch).
    public var batchSize = 16
    /// Sequences per forward/backward (gradients accumulate over ⌈batch / micro⌉ passes).
    public var microBatchSize = 16
    public var epochs = 1
    /// Longest sequence; longer ones keep their first `maxLength` tokens.
    public var maxLength = 2048
    public var seed: UInt64 = 42
    /// Recompute each layer in backward from its saved input (see `TrainerSettings`).
    public var activationCheckpointing = false
    /// Count greedy-correct targets (copies the micro-batch's logits: N × vocab floats).
    public var measureTokenAccuracy = true
    public init() {}
}

/// Metrics of one optimizer step (TRL SFTTrainer names where they exist).
public struct SupervisedStepMetrics: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Double
    /// Mean cross-entropy over the step's trained tokens (nats).
    public var loss: Double
    /// Fraction of trained tokens whose target is the arg-max of the logits (nil when not measured).
    public var tokenAccuracy: Double?
    public var gradNorm: Double
    public var learningRate: Double
    /// Tokens through the model per second (prompt and padding-free), and the trained ones.
    public var tokensPerSecond: Double
    public var trainedTokens: Int
    public var sequences: Int

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, sequences
        case tokenAccuracy = "mean_token_accuracy", gradNorm = "grad_norm", learningRate = "learning_rate"
        case tokensPerSecond = "tokens_per_s", trainedTokens = "num_trained_tokens"
    }
}

/// Loss and token accuracy of a model on examples, without training.
public struct SupervisedEvaluation: Codable, Equatable, Sendable {
    public var loss: Double
    public var tokenAccuracy: Double
    public var trainedTokens: Int
}

/// Cross-entropy training of a causal LM on marked tokens.
public final class SupervisedTrainer {
    public let model: LlamaModel
    public let settings: SupervisedSettings
    public let optimizer: Optimizer
    public let gradients: FloatBuffer
    /// Sequences cut to `maxLength` so far.
    public private(set) var truncatedSequences = 0
    private let workspaces: GrowingWorkspace
    private var schedule: EpochSchedule { EpochSchedule(batchSize: settings.batchSize, epochs: settings.epochs, seed: settings.seed) }

    /// Trains `model.trainableParameters`: its adapter when it carries one, else every parameter.
    public init(model: LlamaModel, settings: SupervisedSettings) throws {
        try settings.validate()
        self.model = model
        self.settings = settings
        optimizer = Optimizer(settings: settings.optimizer, parameterCount: model.trainableParameters.count)
        gradients = FloatBuffer(count: model.trainableParameters.count)
        workspaces = GrowingWorkspace(model: model, activationCheckpointing: settings.activationCheckpointing)
    }

    public func stepsPerEpoch(exampleCount: Int) -> Int { schedule.stepsPerEpoch(exampleCount) }
    public func totalSteps(exampleCount: Int) -> Int { schedule.totalSteps(exampleCount) }

    /// The examples (indices) of optimizer step `step` (0-based): epoch e visits the examples in a
    /// permutation seeded by (seed, e).
    public func batchIndices(step: Int, exampleCount: Int) -> [Int] { schedule.batchIndices(step: step, count: exampleCount) }

    /// Checks the examples against the model: ids inside the vocabulary, at least one trained token.
    public func check(_ examples: [SupervisedExample]) throws {
        let V = Int32(model.config.vocabSize)
        for e in examples {
            if let bad = e.tokens.first(where: { $0 < 0 || $0 >= V }) {
                throw TrainingError.invalid("example '\(e.id)': token \(bad) is outside the vocabulary (0..<\(V))")
            }
            guard e.truncated(to: settings.maxLength).trainedTokenCount > 0 else {
                throw TrainingError.invalid("example '\(e.id)' has no trained token within max length \(settings.maxLength)")
            }
        }
    }

    /// One optimizer step over `indices`: loss = Σ −log p(target) over the trained tokens of the whole
    /// global batch / their number (so accumulation over micro-batches equals one big batch).
    public func step(examples: [SupervisedExample], indices: [Int]) throws -> SupervisedStepMetrics {
        let started = DispatchTime.now().uptimeNanoseconds
        let stepIndex = optimizer.step
        let total = totalSteps(exampleCount: examples.count)
        let lr = learningRate(settings.optimizer, step: stepIndex, totalSteps: total)
        let prepared = indices.map { i -> SupervisedExample in
            let e = examples[i]
            if e.tokens.count > settings.maxLength { truncatedSequences += 1 }
            return e.truncated(to: settings.maxLength)
        }
        let trainedTotal = prepared.reduce(0) { $0 + $1.trainedTokenCount }
        guard trainedTotal > 0 else { throw TrainingError.invalid("step \(stepIndex + 1) has no trained tokens") }
        gradients.zero()
        var lossSum = 0.0, correct = 0, tokens = 0
        var start = 0
        while start < prepared.count {
            let micro = Array(prepared[start..<min(prepared.count, start + settings.microBatchSize)])
            start += micro.count
            let r = try pass(micro, training: true, gradientScale: -1 / Float(trainedTotal))
            lossSum += r.loss; correct += r.correct; tokens += r.tokens
        }
        let loss = lossSum / Double(trainedTotal)
        guard loss.isFinite else { throw TrainingError.diverged("loss is \(loss) at step \(stepIndex + 1)") }
        let norm = try optimizer.apply(parameters: model.trainableParameters, gradients: gradients, lr: lr)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        return SupervisedStepMetrics(step: stepIndex + 1, epoch: Double(stepIndex + 1) / Double(stepsPerEpoch(exampleCount: examples.count)),
                                     loss: loss, tokenAccuracy: settings.measureTokenAccuracy ? Double(correct) / Double(trainedTotal) : nil,
                                     gradNorm: norm, learningRate: lr, tokensPerSecond: Double(tokens) / seconds,
                                     trainedTokens: trainedTotal, sequences: prepared.count)
    }

    /// Runs the remaining optimizer steps (from `optimizer.step` to the end), calling `onStep` after each.
    public func train(examples: [SupervisedExample], onStep: (SupervisedStepMetrics) throws -> Void) throws {
        guard !examples.isEmpty else { throw TrainingError.invalid("no training examples") }
        try check(examples)
        let total = totalSteps(exampleCount: examples.count)
        while optimizer.step < total {
            try onStep(try step(examples: examples, indices: batchIndices(step: optimizer.step, exampleCount: examples.count)))
        }
    }

    /// Mean loss and greedy token accuracy over the trained tokens of `examples` (no gradients).
    public func evaluate(_ examples: [SupervisedExample]) throws -> SupervisedEvaluation {
        var lossSum = 0.0, correct = 0, count = 0
        var start = 0
        while start < examples.count {
            let micro = examples[start..<min(examples.count, start + settings.microBatchSize)].map { $0.truncated(to: settings.maxLength) }
            start += micro.count
            let r = try pass(micro, training: false, gradientScale: 0, alwaysMeasure: true)
            lossSum += r.loss; correct += r.correct; count += micro.reduce(0) { $0 + $1.trainedTokenCount }
        }
        return SupervisedEvaluation(loss: count > 0 ? lossSum / Double(count) : 0,
                                    tokenAccuracy: count > 0 ? Double(correct) / Double(count) : 0, trainedTokens: count)
    }

    /// Forward (and with `training`, backward with ∂loss/∂logp = gradientScale at trained targets) over
    /// one micro-batch. Returns Σ −log p over trained targets, the arg-max hits, and the tokens run.
    private func pass(_ micro: [SupervisedExample], training: Bool, gradientScale: Float,
                      alwaysMeasure: Bool = false) throws -> (loss: Double, correct: Int, tokens: Int) {
        // Inputs are tokens[0..<L−1], targets tokens[1..<L]; position t is trained when trained[t + 1].
        let lengths = micro.map { max(1, $0.tokens.count - 1) }
        let T = lengths.max() ?? 1
        var inputs = [Int32](repeating: 0, count: micro.count * T), targets = inputs
        var mask = [Bool](repeating: false, count: micro.count * T)
        for (b, e) in micro.enumerated() where e.tokens.count >= 2 {
            for t in 0..<(e.tokens.count - 1) {
                inputs[b * T + t] = e.tokens[t]; targets[b * T + t] = e.tokens[t + 1]; mask[b * T + t] = e.trained[t + 1]
            }
        }
        // one gradient segment per example: micro-batches accumulate to the same bits
        let batch = TokenBatch(tokens: inputs, targets: targets, lengths: lengths, maxLength: T, sequencesPerSegment: 1)
        let ws = workspaceFor(tokens: batch.packedRows, longest: T, training: training)
        var logp = [Float](repeating: 0, count: micro.count * T)
        let measure = alwaysMeasure || settings.measureTokenAccuracy
        let V = model.config.vocabSize
        var logits = measure ? [Float](repeating: 0, count: batch.totalTokens * V) : []
        if measure {
            try logits.withUnsafeMutableBufferPointer { l in
                try model.forward(batch, workspace: ws, logProbs: &logp, training: training, logits: l.baseAddress!)
            }
        } else {
            try model.forward(batch, workspace: ws, logProbs: &logp, training: training)
        }
        var loss = 0.0, correct = 0, row = 0
        var dLogp = [Float](repeating: 0, count: training ? micro.count * T : 0)
        for b in 0..<micro.count {
            for t in 0..<lengths[b] {
                defer { row += 1 }
                guard mask[b * T + t] else { continue }
                loss -= Double(logp[b * T + t])
                if training { dLogp[b * T + t] = gradientScale }
                if measure {
                    // Arg-max with the lowest id winning ties.
                    var best = 0, bestValue = -Float.infinity
                    let base = row * V
                    for v in 0..<V where logits[base + v] > bestValue { bestValue = logits[base + v]; best = v }
                    if Int32(best) == targets[b * T + t] { correct += 1 }
                }
            }
        }
        if training { model.backward(dLogProbs: dLogp, batchMaxLength: T, workspace: ws, gradients: gradients) }
        return (loss, correct, batch.totalTokens)
    }

    private func workspaceFor(tokens need: Int, longest: Int, training: Bool) -> TrainingWorkspace {
        // One workspace serves both (a training workspace also runs forward-only passes).
        workspaces.workspace(tokens: need, longest: longest)
    }
}
