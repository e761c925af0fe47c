// `idpo sft` (cross-entropy fine-tuning on chat conversations, assistant turns only) and
// `idpo train-judge` (the pairwise A/B preference model of RLHFlow trained on preference pairs):
// both through the engine's backward and the shared optimizers, writing an ordinary Hugging Face
// model directory and metrics.jsonl.

import ArgumentParser
import Foundation
import Kernels
import Llama
import Checkpoints
import Optimization
import Pipeline

/// Optimizer and batching options shared by `sft` and `train-judge`.
struct SupervisedOptions: ParsableArguments {
    @Option(help: "Passes over the data.") var epochs: Int = 1
    @Option(name: .customLong("batch-size"), help: "Sequences per optimizer step (global batch).") var batchSize: Int = 16
    @Option(name: .customLong("micro-batch-size"), help: "Sequences per forward/backward (default: the batch size; smaller accumulates gradients).")
    var microBatchSize: Int?
    @Option(name: .customLong("learning-rate"), help: "Peak learning rate.") var learningRate: Double = 2e-5
    @Option(help: "adamw | rmsprop | sgd") var optimizer: OptimizerKind = .adamw
    @Option(name: .customLong("weight-decay"), help: "Decoupled (AdamW) or L2 (RMSProp/SGD) weight decay.") var weightDecay: Double = 0
    @Option(help: "constant | linear | cosine") var scheduler: ScheduleKind = .cosine
    @Option(name: .customLong("warmup-ratio"), help: "Warmup as a fraction of the steps.") var warmupRatio: Double = 0.03
    @Option(name: .customLong("max-length"), help: "Longest sequence (longer ones keep their first tokens).") var maxLength: Int = 2048
    @Option(name: .customLong("max-grad-norm"), help: "Global gradient-norm clip (0 disables).") var maxGradNorm: Double = 1.0
    @Option(help: "Random seed (example order, A/B positions).") var seed: UInt64 = 42
    @Flag(name: .customLong("no-token-accuracy"), help: "Skip the token accuracy metric (saves a copy of the logits).") var noTokenAccuracy = false

    var settings: SupervisedSettings {
        var s = SupervisedSettings()
        s.optimizer.kind = optimizer; s.optimizer.learningRate = learningRate; s.optimizer.weightDecay = weightDecay
        s.optimizer.schedule = scheduler; s.optimizer.warmupRatio = warmupRatio; s.optimizer.maxGradNorm = maxGradNorm
        if optimizer == .rmsprop { s.optimizer.beta2 = 0.99 }
        s.batchSize = batchSize; s.microBatchSize = microBatchSize ?? batchSize; s.epochs = epochs
        s.maxLength = maxLength; s.seed = seed; s.measureTokenAccuracy = !noTokenAccuracy
        return s
    }

    func validate() throws {
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
    }
}

/// What a supervised run ends with: its last step, and the token-weighted loss and accuracy over the
/// final epoch (a single step's figures are one batch's noise).
struct SupervisedSummary {
    var last: SupervisedStepMetrics?
    var finalEpochLoss = 0.0
    var finalEpochAccuracy: Double?
    func describe(accuracy name: String = "token accuracy") -> String {
        guard let last else { return "no steps" }
        return String(format: "%d steps, last epoch: loss %.4f", last.step, finalEpochLoss)
            + (finalEpochAccuracy.map { String(format: ", %@ %.3f", name, $0) } ?? "")
    }
}

/// Trains `model` on `examples`, logging metrics.jsonl and a progress bar.
func runSupervised(model: LlamaModel, examples: [SupervisedExample], settings: SupervisedSettings, label: String,
                   metricsOut: URL) throws -> (summary: SupervisedSummary, trainer: SupervisedTrainer) {
    let trainer = try SupervisedTrainer(model: model, settings: settings)
    let total = trainer.totalSteps(exampleCount: examples.count)
    let finalEpochStart = total - trainer.stepsPerEpoch(exampleCount: examples.count)
    let bar = ProgressBar(label, total: total, unit: "steps")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var lines = Data(), summary = SupervisedSummary()
    var lossSum = 0.0, accuracySum = 0.0, tokens = 0
    try trainer.train(examples: examples) { m in
        summary.last = m
        if m.step > finalEpochStart {
            lossSum += m.loss * Double(m.trainedTokens); accuracySum += (m.tokenAccuracy ?? 0) * Double(m.trainedTokens)
            tokens += m.trainedTokens
        }
        lines.append(try encoder.encode(m)); lines.append(0x0A)
        var extra = String(format: "loss %.4f", m.loss)
        if let a = m.tokenAccuracy { extra += String(format: "  token acc %.3f", a) }
        bar.update(m.step, extra: extra + String(format: "  %.0f tok/s", m.tokensPerSecond))
    }
    try AtomicFile.write(lines, to: metricsOut)
    summary.finalEpochLoss = lossSum / Double(max(1, tokens))
    summary.finalEpochAccuracy = settings.measureTokenAccuracy ? accuracySum / Double(max(1, tokens)) : nil
    return (summary, trainer)
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on chat conversations (cross-entropy on the assistant turns).",
        discussion: """
        Data is JSONL of {"messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}, …]}
        (TRL's conversational format; an optional "id"). Each conversation is rendered with the model's
        chat template; only the assistant turns (their text and end-of-turn token) are trained, the
        rest is context. The loss is the mean over the trained tokens of each global batch, so
        --micro-batch-size changes memory, not the result. Writes the trained model as a Hugging Face
        directory (config.json, model.safetensors, tokenizer files) and metrics.jsonl (loss,
        mean_token_accuracy, grad_norm, learning_rate, tokens_per_s). Deterministic for a seed.

        Example:
          idpo sft --model models/base --data chats.jsonl --out models/sft --epochs 3 --batch-size 32 --learning-rate 1e-3
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Starting model directory (weights, tokenizer, chat template).") var model: String
    @Option(help: "Training conversations (JSONL with \"messages\").") var data: String
    @Option(name: .customLong("eval-data"), help: "Held-out conversations: loss and token accuracy before and after.") var evalData: String?
    @Option(help: "Output model directory.") var out: String
    @OptionGroup var training: SupervisedOptions

    func run() throws {
        compute.apply()
        let t0 = Date()
        let chat = try ChatModel(directory: URL(fileURLWithPath: model))
        let examples = try ChatDataFile.read(URL(fileURLWithPath: data)).map { try chat.supervisedExample($0) }
        let heldOut = try evalData.map { try ChatDataFile.read(URL(fileURLWithPath: $0)).map { try chat.supervisedExample($0) } }
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let trainedTokens = examples.reduce(0) { $0 + $1.trainedTokenCount }
        print("\(examples.count) conversations, \(examples.reduce(0) { $0 + $1.tokens.count }) tokens, \(trainedTokens) trained")
        if let heldOut {
            let before = try SupervisedTrainer(model: chat.model, settings: training.settings).evaluate(heldOut)
            print(String(format: "held-out before: loss %.4f, token accuracy %.3f", before.loss, before.tokenAccuracy))
        }
        let (summary, trainer) = try runSupervised(model: chat.model, examples: examples, settings: training.settings, label: "sft",
                                                   metricsOut: outDir.appendingPathComponent("metrics.jsonl"))
        try ModelDirectory.saveHuggingFace(chat.model, to: outDir, tokenizerSource: chat.directory)
        if let heldOut {
            let after = try trainer.evaluate(heldOut)
            print(String(format: "held-out after: loss %.4f, token accuracy %.3f", after.loss, after.tokenAccuracy))
        }
        print(String(format: "%@ in %.1f s; %d sequences truncated → %@", summary.describe(), Date().timeIntervalSince(t0),
                     trainer.truncatedSequences, out))
    }
}

struct TrainJudge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-judge",
        abstract: "Train a pairwise A/B preference model (RLHFlow's format) on preference pairs.",
        discussion: """
        Pairs are TRL preference JSONL (the chosen response is the better one). Each pair becomes the
        prompt the pairwise judge reads — "[CONTEXT] {context} [RESPONSE A] {a} [RESPONSE B] {b} \\n" as
        the single user turn of the model's chat template, BOS text removed, the context rendered with
        the plain pair-PM template — followed by the verdict token "A" or "B", the only trained token.
        The chosen response is shown as A or B at random (seeded), or in both orders with --both-orders.
        With --eval-pairs, the judge's agreement with the pairs' labels is measured with the judging
        procedure itself (both orders averaged), before and after training.

        Example:
          idpo train-judge --model models/pm-init --pairs pairs.jsonl --eval-pairs heldout.jsonl --out models/pm \\
                           --epochs 3 --batch-size 32 --learning-rate 1e-3
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Starting model directory (weights, tokenizer, chat template; \"A\" and \"B\" single tokens).") var model: String
    @Option(help: "Training pairs (TRL JSONL; chosen is better).") var pairs: String
    @Option(name: .customLong("eval-pairs"), help: "Held-out pairs: agreement with their labels before and after.") var evalPairs: String?
    @Option(help: "Output model directory.") var out: String
    @Flag(name: .customLong("both-orders"), help: "Train every pair in both orders instead of one random order.") var bothOrders = false
    @OptionGroup var training: SupervisedOptions

    func run() throws {
        compute.apply()
        let t0 = Date()
        let directory = URL(fileURLWithPath: model)
        let judge = try PairwiseJudge(directory: directory)
        let records = try PairRecord.read(URL(fileURLWithPath: pairs))
        var rng = SplitMix64(seed: training.seed ^ 0xA_B0A_B0A_B)
        var examples: [SupervisedExample] = []
        for (j, p) in records.enumerated() {
            let orders = bothOrders ? [true, false] : [rng.next() & 1 == 0]
            for chosenFirst in orders {
                examples.append(try judge.pairwiseTrainingExample(
                    id: "\(p.id)\(chosenFirst ? "A" : "B")-\(j)", messages: p.prompt,
                    a: chosenFirst ? p.chosen : p.rejected, b: chosenFirst ? p.rejected : p.chosen, aIsBetter: chosenFirst))
            }
        }
        let heldOut = try evalPairs.map { try PairRecord.read(URL(fileURLWithPath: $0)) }
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        print("\(records.count) pairs → \(examples.count) examples, \(examples.reduce(0) { $0 + $1.tokens.count }) tokens")
        if let heldOut {
            let r = try DemoEvaluation.judgeAgreement(judge: judge, pairs: heldOut)
            print(String(format: "held-out agreement before: %.1f%% of %d pairs", 100 * r.agreement, r.pairs))
        }
        let (summary, trainer) = try runSupervised(model: judge.model, examples: examples, settings: training.settings,
                                                   label: "train-judge", metricsOut: outDir.appendingPathComponent("metrics.jsonl"))
        try ModelDirectory.saveHuggingFace(judge.model, to: outDir, tokenizerSource: directory)
        if let heldOut {
            let trained = try PairwiseJudge(directory: outDir)
            let r = try DemoEvaluation.judgeAgreement(judge: trained, pairs: heldOut)
            print(String(format: "held-out agreement after: %.1f%% of %d pairs (chosen shown as A: %.1f%%, as B: %.1f%%; mean P %.3f)",
                         100 * r.agreement, r.pairs, 100 * r.agreementChosenAsA, 100 * r.agreementChosenAsB, r.meanProbability))
        }
        print(String(format: "%@ in %.1f s; %d sequences truncated → %@", summary.describe(accuracy: "verdict accuracy"),
                     Date().timeIntervalSince(t0), trainer.truncatedSequences, out))
    }
}
