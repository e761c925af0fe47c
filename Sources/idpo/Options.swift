// Option groups that several commands share. Each produces one of the modules' settings types, takes
// its defaults from that type and checks it with that type's rules (`rangeIssues`), so a command
// and a recipe never disagree on a default or a rule (README.md, "Defaults").

import ArgumentParser
import Kernels
import Llama
import Generation
import Optimization
import Preference
import Pipeline

extension RankingMethod: ExpressibleByArgument {}
extension PairSelection: ExpressibleByArgument {}
extension JudgeKind: ExpressibleByArgument {}
extension BOSStripping: ExpressibleByArgument {}
extension GPMInput: ExpressibleByArgument {}
extension ServerKind: ExpressibleByArgument {}
extension PreferenceLossKind: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}

/// A settings key (`micro_batch_size`) as its command-line option (`--micro-batch-size`).
func optionName(_ key: String) -> String { "--" + key.replacingOccurrences(of: "_", with: "-") }

/// Throws the first issue as a usage error (with its hint), naming the settings by their options.
func throwFirst(_ issues: [SettingIssue]) throws {
    guard let first = issues.first else { return }
    throw ValidationError(first.message + (first.hint.map { " (\($0))" } ?? ""))
}

/// Options shared by every command that computes.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for our parallel loops and OpenBLAS together (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }
    func apply() { Parallel.setThreads(threads ?? Parallel.maxThreads) }
}

/// Where an optimizer option group takes its defaults from: the preference trainer's or the
/// supervised trainer's settings.
protocol OptimizerDefaults { static var optimizer: OptimizerSettings { get } }
enum PreferenceTraining: OptimizerDefaults { static var optimizer: OptimizerSettings { TrainerSettings().optimizer } }
enum SupervisedTraining: OptimizerDefaults { static var optimizer: OptimizerSettings { SupervisedSettings().optimizer } }

/// Optimizer, learning-rate schedule and gradient clipping.
struct OptimizerOptions<Defaults: OptimizerDefaults>: ParsableArguments {
    @Option(name: .customLong("learning-rate"), help: "Peak learning rate.")
    var learningRate = Defaults.optimizer.learningRate
    @Option(help: "adamw | rmsprop | sgd")
    var optimizer = Defaults.optimizer.kind
    @Option(name: .customLong("weight-decay"), help: "Decoupled (AdamW) or L2 (RMSProp/SGD) weight decay.")
    var weightDecay = Defaults.optimizer.weightDecay
    @Option(help: "constant | linear | cosine")
    var scheduler = Defaults.optimizer.schedule
    @Option(name: .customLong("warmup-ratio"), help: "Warmup as a fraction of the steps.")
    var warmupRatio = Defaults.optimizer.warmupRatio
    @Option(name: .customLong("max-grad-norm"), help: "Global gradient-norm clip (0 disables).")
    var maxGradNorm = Defaults.optimizer.maxGradNorm

    var settings: OptimizerSettings {
        var s = OptimizerSettings(kind: optimizer)
        s.learningRate = learningRate; s.weightDecay = weightDecay; s.schedule = scheduler
        s.warmupRatio = warmupRatio; s.maxGradNorm = maxGradNorm
        return s
    }
}

/// The preference loss and its strengths.
struct LossOptions: ParsableArguments {
    @Option(help: "sigmoid | robust | hinge | ipo | sppo_hard | sppo | gpo | sigmoid_norm")
    var loss = LossSettings().kind
    @Option(help: "β: strength of the KL regularisation (> 0).")
    var beta = LossSettings().beta
    @Option(name: .customLong("label-smoothing"), help: "ε for sigmoid/robust, in [0, 0.5).")
    var labelSmoothing = LossSettings().labelSmoothing
    @Option(name: .customLong("nll-weight"), help: "α of the RPO term (NLL of the chosen response).")
    var nllWeight = LossSettings().nllWeight

    var settings: LossSettings { LossSettings(kind: loss, beta: beta, labelSmoothing: labelSmoothing, nllWeight: nllWeight) }
}

/// How the policy samples.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature = SamplingParameters().temperature
    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass (1 keeps every token).")
    var topP = SamplingParameters().topP
    @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens (0 keeps all).")
    var topK = SamplingParameters().topK

    var parameters: SamplingParameters { SamplingParameters(temperature: temperature, topP: topP, topK: topK) }
}

/// LoRA and activation checkpointing, as a recipe's `training.lora` / `training.activation_checkpointing`.
struct AdapterOptions: ParsableArguments {
    @Option(name: .customLong("lora-r"), help: "Train a LoRA adapter of this rank instead of every weight (PEFT layout; the base stays frozen in its dtype).")
    var loraR: Int?
    @Option(name: .customLong("lora-alpha"), help: "LoRA alpha (scale alpha / r; with --use-rslora alpha / √r).")
    var loraAlpha = LoRAConfig().alpha
    @Option(name: .customLong("lora-target-modules"), help: "Comma-separated projections to adapt: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear.")
    var loraTargetModules = "all-linear"
    @Flag(name: .customLong("use-rslora"), help: "rsLoRA scaling alpha / √r.") var useRSLoRA = false
    @Flag(name: .customLong("activation-checkpointing"), help: "Keep only each layer's input and recompute the layer in backward (same gradients, far less activation memory, about one more forward pass of time).")
    var activationCheckpointing = false

    /// The adapter's settings, nil without --lora-r.
    func lora() throws -> LoRAConfig? {
        guard let r = loraR else { return nil }
        let modules = try LoRAConfig.modules(loraTargetModules.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return LoRAConfig(r: r, alpha: loraAlpha, dropout: 0, targetModules: modules, useRSLoRA: useRSLoRA)
    }

    func validate() throws {
        do {
            if let issue = try lora()?.issues.first { throw ValidationError("LoRA settings: \(issue)") }
        } catch let e as LoRAError { throw ValidationError("--lora-target-modules: \(e.description)") }
    }
}
