// `idpo generate`, `idpo judge`, `idpo train`: the three stages of an online-RLHF iteration on
// files, each usable alone (and rerun to resume an interrupted run).

import ArgumentParser
import Foundation
import Kernels
import Generation
import Preference
import Optimization
import Pipeline

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample k responses per prompt from a policy.",
        discussion: """
        Prompts are TRL prompt-only JSONL: {"prompt": "text"} (encoded as is, with the tokenizer's BOS) or {"prompt": [{"role": "user", "content": "…"}, …]} (rendered with the model's chat template and the generation prompt); an optional integer "id" (default: the line's index) seeds the prompt's samples.

        Output is RLHFlow's {"prompt", "responses": [k strings]} plus token ids, counts and finish reasons (stop | length). Sample j of prompt i depends only on (seed, i, j): not on batch size, other prompts, or an interruption — rerun the same command to resume. Prompts longer than --max-prompt-tokens keep their last tokens (counted in a warning).

        With --server URL the samples come from a serving engine's OpenAI-compatible /v1/completions (vLLM, SGLang or llama.cpp's llama-server, --server-kind): idpo still renders, cuts and tokenizes each prompt with --model's tokenizer and chat template (only its config.json and tokenizer files are read, no weights) and sends the token ids with n = k, the seed, the sampling settings and the stop ids.

        Example:
          idpo generate --model models/sft --prompts data/prompts.jsonl --k 8 \\
                        --out samples.jsonl
          idpo generate --model models/sft --server http://127.0.0.1:8000 \\
                        --server-kind vllm --prompts data/prompts.jsonl --k 8 \\
                        --out samples.jsonl
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Policy model directory (config.json, weights, tokenizer.json, tokenizer_config.json).") var model: String
    @Option(help: "Prompt file (TRL prompt-only JSONL).") var prompts: String
    @Option(help: "Samples per prompt.") var k = GenerationStageSettings().samplesPerPrompt
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .customLong("max-new-tokens"), help: "Most tokens per response.") var maxNewTokens = GenerationStageSettings().maxNewTokens
    @Option(name: .customLong("max-prompt-tokens"), help: "Longer prompts keep their last tokens.")
    var maxPromptTokens = GenerationStageSettings().maxPromptTokens
    @Option(help: "Random seed.") var seed = GenerationStageSettings().seed
    @Option(help: "Output JSONL file.") var out: String
    @Option(help: "Sample through this server's OpenAI-compatible /v1/completions instead of idpo's engine.") var server: String?
    @Option(name: .customLong("server-kind"), help: "vllm | sglang | llamacpp: which engine answers at --server.")
    var serverKind = RemoteEngineSettings(baseURL: "").server
    @Option(name: .customLong("server-model"), help: "The served model's name (the request's model field).") var serverModel: String?
    @Option(name: .customLong("max-concurrency"), help: "Requests in flight at once (with --server).")
    var maxConcurrency = RemoteEngineSettings(baseURL: "").maxConcurrency

    var settings: GenerationStageSettings {
        var s = GenerationStageSettings()
        s.samplesPerPrompt = k; s.sampling = sampling.parameters
        s.maxNewTokens = maxNewTokens; s.maxPromptTokens = maxPromptTokens; s.seed = seed
        return s
    }

    func validate() throws { try throwFirst(settings.rangeIssues(naming: optionName)) }

    func run() throws {
        compute.apply()
        let records = try PromptFile.read(URL(fileURLWithPath: prompts))
        let t0 = Date()
        let samples: [SampleRecord]
        if let server {
            var engine = RemoteEngineSettings(baseURL: server, server: serverKind)
            engine.model = serverModel; engine.maxConcurrency = maxConcurrency
            samples = try Stages.generateRemote(policy: try PolicyText(directory: URL(fileURLWithPath: model)), engine: try RemoteCompletions(engine),
                                                prompts: records, settings: settings, out: URL(fileURLWithPath: out))
        } else {
            let policy = try ChatModel(directory: URL(fileURLWithPath: model), frozen: true)
            samples = try Stages.generate(policy: policy, prompts: records, settings: settings, out: URL(fileURLWithPath: out))
        }
        let tokens = samples.reduce(0) { $0 + $1.responseTokens.reduce(0) { $0 + $1.count } }
        let stops = samples.reduce(0) { $0 + $1.finishReasons.filter { $0 == "stop" }.count }
        print(String(format: "%d prompts × %d samples, %d tokens in %.1f s (%.0f tok/s); %d stopped, %d hit the length limit → %@",
                     samples.count, k, tokens, Date().timeIntervalSince(t0), Double(tokens) / Date().timeIntervalSince(t0),
                     stops, samples.count * k - stops, out))
    }
}

struct Judge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank each prompt's responses with a preference model and select preference pairs.",
        discussion: """
        Judges: pairwise (RLHFlow's A/B preference model: both orders averaged, the context shared by a prompt's comparisons computed once through the KV cache), reward (Llama-, Qwen2-, Qwen3-, Mistral-, Gemma- or Gemma2ForSequenceClassification with score.weight), gpm (general preference model as the GPM repository runs it: value_head.weight (d, hidden), d read from the checkpoint, and prompt_head.weight when present; --gpm-input picks the repository's ranker or example input convention), command (a program of yours — rule-based or verifiable rewards: it reads the sample records, one prompt with its k responses per line, on stdin and prints one JSON array of k numbers per line; --command "python3 score.py", run in the current directory).

        Rankings: knockout (≤ 1.5k comparisons), king-of-the-hill (≤ 2k − 2), round-robin (all pairs, gives SPPO targets), scores (reward / gpm). Ties (|P − ½| < 1e-6) go to the first-listed response; prompts whose best and worst cannot be told apart are dropped and counted, never emitted as chosen == rejected.

        --out gets every comparison; --pairs gets TRL conversational pairs (prompt, chosen, rejected, chosen_reward, rejected_reward, margin, responses, scores).

        Example:
          idpo judge --judge models/pm --kind pairwise --ranking knockout \\
                     --samples samples.jsonl --out judgments.jsonl --pairs pairs.jsonl
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(name: .customLong("judge"), help: "Judge model directory (not for --kind command).") var judgeDirectory: String?
    @Option(help: "pairwise | reward | gpm | command") var kind = JudgeSettings().kind
    @Option(help: "The program of a command judge and its arguments, split at spaces (a recipe's judge.command takes a list).")
    var command: String?
    @Option(help: "Read a pairwise judge's P(A) from this server's next-token log-probs, or a reward model's scores from its pooling endpoint (--judge still gives the tokenizer, template and, for llama-server, score.weight).")
    var server: String?
    @Option(name: .customLong("server-kind"), help: "vllm | sglang | llamacpp: which engine answers at --server.")
    var serverKind = RemoteEngineSettings(baseURL: "").server
    @Option(help: "knockout | king-of-the-hill | round-robin | scores (default: knockout for pairwise, scores otherwise)")
    var ranking: RankingMethod?
    @Option(help: "max_min | max_max | max_random | random | max_min_length_penalty") var selection = JudgeSettings().selection
    @Option(name: .customLong("length-penalty"), help: "λ of max_min_length_penalty (score − λ·tokens).")
    var lengthPenalty = JudgeSettings().lengthPenalty
    @Option(help: "Softmax temperature of the pairwise model.") var temperature = JudgeSettings().temperature
    @Option(help: "τ of the general preference model.") var tau = JudgeSettings().tau
    @Option(name: .customLong("strip-bos"),
            help: "Remove every BOS string from the judge's input (all, RLHFlow's procedure) or only a leading one (leading).")
    var stripBOS = JudgeSettings().stripBOS
    @Option(name: .customLong("gpm-input"),
            help: "How a GPM reads the conversation: ranker (GPO's ranker: BOS string removed, no special tokens added; the default) or example (the GPM repository's example: BOS kept, special tokens added, last token replaced by EOS).")
    var gpmInput: GPMInput?
    @Option(help: "Samples file (from idpo generate).") var samples: String
    @Option(help: "Judgments output (JSONL).") var out: String
    @Option(help: "Preference pairs output (TRL JSONL).") var pairs: String
    @Option(help: "Random seed (for the random selections).") var seed: UInt64 = 42

    var settings: JudgeSettings {
        var s = JudgeSettings()
        s.kind = kind; s.temperature = temperature; s.tau = tau; s.stripBOS = stripBOS; s.gpmInput = gpmInput ?? s.gpmInput
        s.selection = selection; s.lengthPenalty = lengthPenalty
        return s
    }

    func validate() throws {
        try throwFirst(settings.rangeIssues(naming: optionName))
        if kind == .command {
            guard command?.split(separator: " ").isEmpty == false else { throw ValidationError("--kind command needs --command (the program and its arguments)") }
            if judgeDirectory != nil { throw ValidationError("--judge names a model; a command judge (--kind command) takes --command instead") }
        } else {
            guard judgeDirectory != nil else { throw ValidationError("Missing expected argument '--judge <judge>' (the judge model directory)") }
            if command != nil { throw ValidationError("--command applies to --kind command, not \(kind.rawValue)") }
        }
        if gpmInput != nil && kind != .gpm { throw ValidationError("--gpm-input applies to --kind gpm, not \(kind.rawValue)") }
        if server != nil && kind != .pairwise && kind != .reward { throw ValidationError("--server reads a pairwise judge or a reward model through a server; a \(kind.rawValue) judge is run by idpo") }
    }

    func run() throws {
        compute.apply()
        let method = ranking ?? JudgeSettings.defaultRanking(for: kind)
        let judge = try Judges.load(directory: URL(fileURLWithPath: judgeDirectory ?? FileManager.default.currentDirectoryPath), kind: kind,
                                    temperature: temperature, tau: tau, stripBOS: stripBOS, gpmInput: settings.gpmInput,
                                    command: (command ?? "").split(separator: " ").map(String.init),
                                    engine: server.map { RemoteEngineSettings(baseURL: $0, server: serverKind) }, notes: { note($0) })
        let records = try SampleRecord.read(URL(fileURLWithPath: samples))
        let t0 = Date()
        let summary = try Stages.judge(judge: judge, samples: records, method: method, selection: selection, lengthPenalty: lengthPenalty,
                                       seed: seed, judgmentsOut: URL(fileURLWithPath: out), pairsOut: URL(fileURLWithPath: pairs),
                                       samplesFile: samples)
        var line = String(format: "%d prompts judged in %.1f s: %d pairs, ", summary.prompts, Date().timeIntervalSince(t0), summary.pairs)
            + summary.droppedText
        line += String(format: "; %.1f comparisons per prompt", Double(summary.comparisons) / Double(max(1, summary.prompts)))
        if summary.tokensNaive > 0 {
            line += String(format: "; %d tokens computed (%.0f%% of the %d a naive judge computes)", summary.tokensComputed,
                           100 * Double(summary.tokensComputed) / Double(summary.tokensNaive), summary.tokensNaive)
        }
        print(line)
        for example in summary.dropExamples ?? [] { print("  dropped \(example)") }
        if summary.dropped > (summary.dropExamples?.count ?? 0) { print("  (every drop reason is in \(out))") }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a policy on preference pairs (DPO, IPO, SPPO, GPO, …) with cached reference log-probs.",
        discussion: """
        Pairs are TRL preference JSONL (conversational with an explicit prompt, or standard strings). Reference log-probs are computed once (the reference model is then released) and cached next to the output as reference-logps.jsonl.

        Writes metrics.jsonl (TRL names: loss, grad_norm, learning_rate, rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins, logps/*, logits/*, tokens_per_s) and the trained policy (config.json, tokenizer files and the weights in the policy's own dtype: model.h5 for a float32 policy, --export-hf adding model.safetensors; model.safetensors in bf16/f16 for a bf16/f16 policy, trained in float32 master weights). The reference, when it is a bf16/f16 checkpoint, is run in 16 bits (half the memory, the same results as a float32 copy).

        A NaN/Inf loss or gradient stops with an error and keeps the last good state. Rerun the same command to resume. The defaults are a recipe's (README.md, "Defaults").

        Example:
          idpo train --policy models/sft --reference models/sft --pairs pairs.jsonl \\
                     --out runs/dpo --loss sigmoid --beta 0.1 --learning-rate 5e-7 \\
                     --epochs 2 --batch-size 16
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Policy model directory (the starting point).") var policy: String
    @Option(help: "Reference model directory (default: the policy).") var reference: String?
    @Option(help: "Preference pairs (TRL JSONL).") var pairs: String
    @Option(help: "Output directory.") var out: String
    @OptionGroup var loss: LossOptions
    @OptionGroup var optimization: OptimizerOptions<PreferenceTraining>
    @Option(name: .customLong("warmup-steps"), help: "Warmup steps (overrides --warmup-ratio).") var warmupSteps: Int?
    @Option(help: "Passes over the pairs.") var epochs = TrainerSettings().epochs
    @Option(name: .customLong("batch-size"), help: "Pairs per optimizer step (global batch).") var batchSize = TrainerSettings().batchSize
    @Option(name: .customLong("micro-batch-size"), help: "Pairs per forward/backward (gradient accumulation).")
    var microBatchSize = TrainerSettings().microBatchSize
    @Option(name: .customLong("max-length"), help: "Longest prompt + response.") var maxLength = TrainerSettings().limits.maxLength
    @Option(name: .customLong("max-prompt-length"), help: "Longest prompt (longer ones keep their end).")
    var maxPromptLength = TrainerSettings().limits.maxPromptLength
    @Option(help: "Random seed (batch order).") var seed = TrainerSettings().seed
    @Option(name: .customLong("checkpoint-every"), help: "Save resumable state every N steps (0: never) …")
    var checkpointEvery = TrainStageOptions().checkpointEvery
    @Option(name: .customLong("checkpoint-seconds"), help: "… once this many seconds of training have passed since the last save (0: every N steps). A save writes weights and AdamW moments, 3× the model.")
    var checkpointSeconds = TrainStageOptions().checkpointSeconds
    @Flag(name: .customLong("export-hf"), help: "Also write model.safetensors into the output directory.") var exportHF = false
    @OptionGroup var adapter: AdapterOptions

    var settings: TrainerSettings {
        var s = TrainerSettings()
        s.loss = loss.settings
        s.optimizer = optimization.settings; s.optimizer.warmupSteps = warmupSteps
        s.limits = SequenceLimits(maxLength: maxLength, maxPromptLength: maxPromptLength)
        s.batchSize = batchSize; s.microBatchSize = microBatchSize; s.epochs = epochs; s.seed = seed
        s.activationCheckpointing = adapter.activationCheckpointing
        return s
    }

    func validate() throws {
        try throwFirst(settings.issues(naming: optionName))
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be ≥ 0") }
        guard checkpointSeconds >= 0, checkpointSeconds.isFinite else { throw ValidationError("--checkpoint-seconds must be a finite number ≥ 0") }
    }

    func run() throws {
        compute.apply()
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let records = try PairRecord.read(URL(fileURLWithPath: pairs))
        var options = TrainStageOptions()
        options.settings = settings; options.checkpointEvery = checkpointEvery; options.checkpointSeconds = checkpointSeconds
        options.exportHuggingFace = exportHF
        options.lora = try adapter.lora()
        let t0 = Date()
        let result = try TrainStage.run(policyDirectory: URL(fileURLWithPath: policy),
                                        referenceDirectory: URL(fileURLWithPath: reference ?? policy), pairs: records,
                                        options: options, referenceCache: outDir.appendingPathComponent("reference-logps.jsonl"),
                                        metricsOut: outDir.appendingPathComponent("metrics.jsonl"),
                                        stateDirectory: outDir.appendingPathComponent("state"), outDirectory: outDir)
        if let last = result.steps.last {
            print(String(format: "%d steps in %.1f s (reference pass %.1f s): loss %.4f, rewards/margins %.4f, rewards/accuracies %.2f; truncated %d prompts, %d responses → %@",
                         last.step, Date().timeIntervalSince(t0), result.referenceSeconds, last.loss, last.rewardsMargins,
                         last.rewardsAccuracies, result.truncation.promptsTruncated, result.truncation.responsesTruncated, out))
        }
    }
}
