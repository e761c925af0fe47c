// `idpo sft` (cross-entropy fine-tuning on chat conversations, assistant turns only) and
// `idpo train-judge` (the pairwise A/B preference model of RLHFlow trained on preference pairs):
// options in, `SupervisedStage` (Pipeline) does the work, a summary out.

import ArgumentParser
import Foundation
import Optimization
import Pipeline

/// Optimizer and batching options shared by `sft` and `train-judge`; defaults from `SupervisedSettings`.
struct SupervisedOptions: ParsableArguments {
    @Option(help: "Passes over the data.") var epochs = SupervisedSettings().epochs
    @Option(name: .customLong("batch-size"), help: "Sequences per optimizer step (global batch).")
    var batchSize = SupervisedSettings().batchSize
    @Option(name: .customLong("micro-batch-size"), help: "Sequences per forward/backward (default: the batch size; smaller accumulates gradients).")
    var microBatchSize: Int?
    @OptionGroup var optimization: OptimizerOptions<SupervisedTraining>
    @Option(name: .customLong("max-length"), help: "Longest sequence (longer ones keep their first tokens).")
    var maxLength = SupervisedSettings().maxLength
    @Option(help: "Random seed (example order, A/B positions).") var seed = SupervisedSettings().seed
    @Flag(name: .customLong("no-token-accuracy"), help: "Skip the token accuracy metric (saves a copy of the logits).")
    var noTokenAccuracy = false

    var settings: SupervisedSettings {
        var s = SupervisedSettings()
        s.optimizer = optimization.settings
        s.batchSize = batchSize; s.microBatchSize = microBatchSize ?? batchSize; s.epochs = epochs
        s.maxLength = maxLength; s.seed = seed; s.measureTokenAccuracy = !noTokenAccuracy
        return s
    }

    func validate() throws { try throwFirst(settings.issues(naming: optionName)) }
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on chat conversations (cross-entropy on the assistant turns).",
        discussion: """
        Data is JSONL of {"messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}, …]} (TRL's conversational format; an optional "id"). Each conversation is rendered with the model's chat template; only the assistant turns (their text and end-of-turn token) are trained, the rest is context. The loss is the mean over the trained tokens of each global batch, so --micro-batch-size changes memory, not the result.

        Writes the trained model as a Hugging Face directory (config.json, model.safetensors, tokenizer files) and metrics.jsonl (loss, mean_token_accuracy, grad_norm, learning_rate, tokens_per_s). Deterministic for a seed.

        Example:
          idpo sft --model models/base --data chats.jsonl --out models/sft \\
                   --epochs 3 --batch-size 32 --learning-rate 1e-3
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Starting model directory (weights, tokenizer, chat template).") var model: String
    @Option(help: "Training conversations (JSONL with \"messages\").") var data: String
    @Option(name: .customLong("eval-data"), help: "Held-out conversations: loss and token accuracy before and after.") var evalData: String?
    @Option(help: "Output model directory.") var out: String
    @OptionGroup var training: SupervisedOptions
    @OptionGroup var adapter: AdapterOptions

    func run() throws {
        compute.apply()
        let t0 = Date()
        var settings = training.settings
        settings.activationCheckpointing = adapter.activationCheckpointing
        let summary = try SupervisedStage.fineTune(model: URL(fileURLWithPath: model), data: URL(fileURLWithPath: data),
                                                   evalData: evalData.map { URL(fileURLWithPath: $0) }, out: URL(fileURLWithPath: out),
                                                   settings: settings, lora: try adapter.lora(), log: { print($0) })
        print(String(format: "%@ in %.1f s; %d sequences truncated → %@", summary.describe(), Date().timeIntervalSince(t0),
                     summary.truncatedSequences, out))
    }
}

struct TrainJudge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-judge",
        abstract: "Train a pairwise A/B preference model (RLHFlow's format) on preference pairs.",
        discussion: """
        Pairs are TRL preference JSONL (the chosen response is the better one). Each pair becomes the prompt the pairwise judge reads — "[CONTEXT] {context} [RESPONSE A] {a} [RESPONSE B] {b} \\n" as the single user turn of the model's chat template, BOS text removed, the context rendered with the plain pair-PM template — followed by the verdict token "A" or "B", the only trained token. The chosen response is shown as A or B at random (seeded), or in both orders with --both-orders.

        With --eval-pairs, the judge's agreement with the pairs' labels is measured with the judging procedure itself (both orders averaged), before and after training.

        Example:
          idpo train-judge --model models/pm-init --pairs pairs.jsonl \\
                           --eval-pairs heldout.jsonl --out models/pm \\
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
        let summary = try SupervisedStage.trainJudge(model: URL(fileURLWithPath: model), pairs: URL(fileURLWithPath: pairs),
                                                     evalPairs: evalPairs.map { URL(fileURLWithPath: $0) }, bothOrders: bothOrders,
                                                     out: URL(fileURLWithPath: out), settings: training.settings, log: { print($0) })
        print(String(format: "%@ in %.1f s; %d sequences truncated → %@", summary.describe(accuracy: "verdict accuracy"),
                     Date().timeIntervalSince(t0), summary.truncatedSequences, out))
    }
}
