// The supervised stages on files, beside the preference trainer's (TrainStage.swift): fine-tuning
// on chat conversations (`idpo sft`: cross-entropy on the assistant turns) and training the pairwise
// A/B preference model on preference pairs (`idpo train-judge`: the verdict token). Both write an
// ordinary Hugging Face model directory and metrics.jsonl.

import Foundation
import Kernels
import Llama
import Checkpoints
import Optimization
import Support

/// What a supervised run ends with: its last step, the token-weighted loss and accuracy over the
/// final epoch (a single step's figures are one batch's noise), and the sequences cut to length.
public struct SupervisedSummary: Sendable {
    public var last: SupervisedStepMetrics?
    public var finalEpochLoss = 0.0
    public var finalEpochAccuracy: Double?
    public var truncatedSequences = 0

    /// "N steps, last epoch: loss L, <accuracy name> A".
    public func describe(accuracy name: String = "token accuracy") -> String {
        guard let last else { return "no steps" }
        return String(format: "%d steps, last epoch: loss %.4f", last.step, finalEpochLoss)
            + (finalEpochAccuracy.map { String(format: ", %@ %.3f", name, $0) } ?? "")
    }
}

public enum SupervisedStage {
    /// Fine-tunes the model in `model` on the conversations in `data` (JSONL with "messages"), writes
    /// the trained model and metrics.jsonl to `out`; with `evalData`, reports the held-out loss and
    /// token accuracy before and after through `log`.
    public static func fineTune(model: URL, data: URL, evalData: URL?, out: URL, settings: SupervisedSettings,
                                lora: LoRAConfig? = nil, log: (String) -> Void) throws -> SupervisedSummary {
        // With LoRA (or an adapter directory as the model): base + adapter, the adapter trained and
        // written in PEFT's layout over the base.
        let (chat, _) = try TrainStage.trainablePolicy(model, loaded: nil, lora: lora, seed: settings.seed)
        if let a = chat.model.adapter {
            log("training a LoRA adapter (r = \(a.config.r), alpha = \(a.config.alpha), \(a.layout.count) parameters) over the frozen base \(try TrainStage.adapterBase(of: model).path)")
        }
        let examples = try ChatDataFile.read(data).map { try chat.supervisedExample($0) }
        let heldOut = try evalData.map { try ChatDataFile.read($0).map { try chat.supervisedExample($0) } }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let trainedTokens = examples.reduce(0) { $0 + $1.trainedTokenCount }
        log("\(examples.count) conversations, \(examples.reduce(0) { $0 + $1.tokens.count }) tokens, \(trainedTokens) trained")
        if let heldOut {
            let before = try SupervisedTrainer(model: chat.model, settings: settings).evaluate(heldOut)
            log(String(format: "held-out before: loss %.4f, token accuracy %.3f", before.loss, before.tokenAccuracy))
        }
        let (summary, trainer) = try train(model: chat.model, examples: examples, settings: settings, label: "sft",
                                           metricsOut: out.appendingPathComponent("metrics.jsonl"))
        if let adapter = chat.model.adapter {
            try AdapterDirectory.write(adapter, base: try TrainStage.adapterBase(of: model), to: out, tokenizerSource: chat.directory)
        } else {
            try ModelDirectory.saveHuggingFace(chat.model, to: out, tokenizerSource: chat.directory)
        }
        if let heldOut {
            let after = try trainer.evaluate(heldOut)
            log(String(format: "held-out after: loss %.4f, token accuracy %.3f", after.loss, after.tokenAccuracy))
        }
        return summary
    }

    /// Trains the pairwise A/B judge in `model` on the TRL pairs in `pairs` (chosen is better): each
    /// pair becomes the judge's prompt followed by the verdict token, the chosen response shown as A
    /// or B at random (seeded) or, with `bothOrders`, in both orders. Writes the trained model and
    /// metrics.jsonl to `out`; with `evalPairs`, reports the judge's agreement with their labels
    /// before and after through `log`.
    public static func trainJudge(model: URL, pairs: URL, evalPairs: URL?, bothOrders: Bool, out: URL,
                                  settings: SupervisedSettings, log: (String) -> Void) throws -> SupervisedSummary {
        let judge = try PairwiseJudge(directory: model)
        let records = try PairRecord.read(pairs)
        var rng = SplitMix64(seed: settings.seed ^ 0xA_B0A_B0A_B)
        var examples: [SupervisedExample] = []
        for (j, p) in records.enumerated() {
            let orders = bothOrders ? [true, false] : [rng.next() & 1 == 0]
            for chosenFirst in orders {
                examples.append(try judge.pairwiseTrainingExample(
                    id: "\(p.id)\(chosenFirst ? "A" : "B")-\(j)", messages: p.prompt,
                    a: chosenFirst ? p.chosen : p.rejected, b: chosenFirst ? p.rejected : p.chosen, aIsBetter: chosenFirst))
            }
        }
        let heldOut = try evalPairs.map { try PairRecord.read($0) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        log("\(records.count) pairs → \(examples.count) examples, \(examples.reduce(0) { $0 + $1.tokens.count }) tokens")
        if let heldOut {
            let r = try judge.agreement(with: heldOut)
            log(String(format: "held-out agreement before: %.1f%% of %d pairs", 100 * r.agreement, r.pairs))
        }
        let (summary, _) = try train(model: judge.model, examples: examples, settings: settings,
                                     label: "train-judge", metricsOut: out.appendingPathComponent("metrics.jsonl"))
        try ModelDirectory.saveHuggingFace(judge.model, to: out, tokenizerSource: model)
        if let heldOut {
            let trained = try PairwiseJudge(directory: out)
            let r = try trained.agreement(with: heldOut)
            log(String(format: "held-out agreement after: %.1f%% of %d pairs (chosen shown as A: %.1f%%, as B: %.1f%%; mean P %.3f)",
                       100 * r.agreement, r.pairs, 100 * r.agreementChosenAsA, 100 * r.agreementChosenAsB, r.meanProbability))
        }
        return summary
    }

    /// Trains `model` on `examples`, logging metrics.jsonl and a progress bar.
    static func train(model: LlamaModel, examples: [SupervisedExample], settings: SupervisedSettings, label: String,
                      metricsOut: URL) throws -> (summary: SupervisedSummary, trainer: SupervisedTrainer) {
        let trainer = try SupervisedTrainer(model: model, settings: settings)
        let total = trainer.totalSteps(exampleCount: examples.count)
        let finalEpochStart = total - trainer.stepsPerEpoch(exampleCount: examples.count)
        let bar = ProgressBar(label, total: total, unit: "steps")
        var lines = Data(), summary = SupervisedSummary()
        var lossSum = 0.0, accuracySum = 0.0, tokens = 0
        try trainer.train(examples: examples) { m in
            summary.last = m
            if m.step > finalEpochStart {
                lossSum += m.loss * Double(m.trainedTokens); accuracySum += (m.tokenAccuracy ?? 0) * Double(m.trainedTokens)
                tokens += m.trainedTokens
            }
            lines.append(try JSONFormat.lines([m]))
            var extra = String(format: "loss %.4f", m.loss)
            if let a = m.tokenAccuracy { extra += String(format: "  token acc %.3f", a) }
            bar.update(m.step, extra: extra + String(format: "  %.0f tok/s", m.tokensPerSecond))
        }
        try AtomicFile.write(lines, to: metricsOut)
        summary.finalEpochLoss = lossSum / Double(max(1, tokens))
        summary.finalEpochAccuracy = settings.measureTokenAccuracy ? accuracySum / Double(max(1, tokens)) : nil
        summary.truncatedSequences = trainer.truncatedSequences
        return (summary, trainer)
    }
}
