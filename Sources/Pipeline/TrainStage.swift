// The training stage on files: TRL pairs → token ids (TRL's conversational tokenization), cached
// reference log-probs (computed once, the reference model then released), the preference trainer
// with a resumable checkpoint every `checkpointEvery` steps and `checkpointSeconds` seconds, metrics.jsonl, and the trained
// policy written as a model directory.

import Foundation
import Kernels
import Llama
import Checkpoints
import Optimization
import Support

public struct TrainStageOptions {
    public var settings = TrainerSettings()
    /// Save the resumable state every this many optimizer steps (0: never) …
    public var checkpointEvery = 1
    /// … and only once this many seconds of training have passed since the last save (or the start;
    /// 0: every time). A save writes weights and moments (3× the model), so saving every step of a
    /// real model would cost more than the step. Outputs never depend on when the state was saved.
    public var checkpointSeconds: Double = 300
    /// Also write model.safetensors (the output directory then holds both).
    public var exportHuggingFace = false
    /// Train a LoRA adapter with these settings instead of every weight (the base frozen, kept in
    /// its checkpoint's dtype); π(t) is then written as a PEFT adapter directory over that base. A
    /// policy that already is an adapter directory trains its own adapter (these settings, when
    /// given, must equal its own).
    public var lora: LoRAConfig?
    public var quiet = false
    /// Write tokens_per_s, train_runtime and reference_runtime into metrics.jsonl (the driver turns
    /// this off — the fields are then left out, not written as 0 — so that its outputs are
    /// byte-identical between an interrupted and an uninterrupted run; timings go to its event log).
    public var recordTimings = true
    public init() {}
}

public struct TrainStageResult {
    public var steps: [StepMetrics]
    public var truncation: TruncationCounts
    public var referenceSeconds: Double
    /// Pairs left out because chosen and rejected were the same tokens.
    public var skippedIdentical: Int
    /// The trained policy, in memory.
    public var policy: ChatModel
    /// Whether π(t) on disk is exactly `policy` (float32 weights; a 16-bit export is rounded).
    public var savedExactly: Bool
    /// Seconds spent loading the policy and the reference (nil: the one handed in was used, or none was loaded).
    public var policyLoadSeconds: Double?
    public var referenceLoadSeconds: Double?
    /// The adapter π(t) is (nil: a full model): its settings and base directory.
    public var adapter: (config: LoRAConfig, base: URL)?
}

/// reference-logps.jsonl: a header naming what the values were computed from, then one line per pair.
struct ReferenceCacheLine: Codable {
    /// Header: the cache key (`TrainStage.referenceCacheKey`), the reference and the pair count.
    var sha256: String?
    var reference: String?
    var pairs: Int?
    /// Pair lines.
    var id: String?
    var chosenLogp: Double?
    var rejectedLogp: Double?
    enum CodingKeys: String, CodingKey { case sha256, reference, pairs, id, chosenLogp = "chosen_logp", rejectedLogp = "rejected_logp" }
}

/// metrics.jsonl's last line (as TRL logs train_runtime etc. at the end).
struct TrainSummaryLine: Codable {
    var summary = true
    var steps: Int
    var pairs: Int
    var promptsTruncated: Int
    var pairsSkippedIdentical: Int
    var responsesTruncated: Int
    /// Seconds, measured; nil (left out) in recipe runs, whose stage times are in events.log instead.
    var trainRuntime: Double?
    var referenceRuntime: Double?
    var finalLoss: Double?
    var finalRewardsAccuracies: Double?
    var finalRewardsMargins: Double?
    enum CodingKeys: String, CodingKey {
        case summary, steps, pairs
        case promptsTruncated = "prompts_truncated", pairsSkippedIdentical = "pairs_skipped_identical"
        case responsesTruncated = "responses_truncated", trainRuntime = "train_runtime", referenceRuntime = "reference_runtime"
        case finalLoss = "final_loss", finalRewardsAccuracies = "final_rewards/accuracies", finalRewardsMargins = "final_rewards/margins"
    }
}

/// One line of metrics.jsonl: a step's metrics, or the closing summary.
struct MetricsLine: Decodable {
    var step: StepMetrics?
    init(from decoder: Decoder) throws {
        struct Probe: Decodable { var step: Int? }
        step = try Probe(from: decoder).step == nil ? nil : StepMetrics(from: decoder)
    }
}

public enum TrainStage {
    /// Tokenizes pairs the way TRL's DPOTrainer does for conversational data with an explicit prompt.
    public static func tokenize(_ pairs: [PairRecord], with model: ChatModel) throws -> [TokenizedPair] {
        try pairs.map { p in
            let ids = try model.pairTokens(prompt: .messages(p.prompt), chosen: p.chosen, rejected: p.rejected)
            return TokenizedPair(id: String(p.id), prompt: ids.prompt, chosen: ids.chosen, rejected: ids.rejected,
                                 chosenTarget: p.chosenTarget, rejectedTarget: p.rejectedTarget)
        }
    }

    /// The identity of a reference cache: SHA-256 over everything the reference log-probs are made
    /// from — the reference model's config.json and weight files (streamed), the tokenizer and chat
    /// template that produced the token ids, the truncation limits, and every pair's id and token ids
    /// (after truncation). Any change, even a different checkpoint of the same shape, gives a new key.
    static func referenceCacheKey(_ pairs: [TokenizedPair], referenceDirectory: URL, tokenizerDirectory: URL,
                                  limits: SequenceLimits) throws -> String {
        var h = SHA256()
        h.update("idpo reference log-probs v2\n")
        func file(_ directory: URL, _ name: String) throws {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { return }
            h.update("file \(name)\n")
            try h.update(file: url)
        }
        // config, weights (a GGUF file: config, weights and tokenizer in one; an adapter: its files,
        // then its base's)
        for (name, url) in try ModelDirectory.describe(referenceDirectory).contentFiles {
            h.update("file \(name)\n")
            try h.update(file: url)
        }
        if (try? ModelDirectory.weightsFormat(tokenizerDirectory)) == .gguf {
            let files = try GGUFFile(url: tokenizerDirectory).huggingFaceTokenizer()
            for (name, data) in [("tokenizer.json", files.tokenizerJSON), ("tokenizer_config.json", files.tokenizerConfigJSON)] {
                h.update("file \(name)\n")
                h.update(data)
            }
        } else {
            for name in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"] { try file(tokenizerDirectory, name) }
        }
        h.update("limits \(limits.maxLength) \(limits.maxPromptLength)\n")
        for p in pairs {
            h.update("pair \(p.id)\n")
            for ids in [p.prompt, p.chosen, p.rejected] {
                ids.withUnsafeBytes { h.update($0.baseAddress!, count: $0.count) }
                h.update("|")
            }
        }
        return h.finalize().hex
    }

    /// Peak memory of preference training: the weights, the gradients and the optimizer's moments of
    /// what is trained (every fp32 weight; with an adapter only its A and B, the frozen base at
    /// `baseWeightBytes`), plus the activations of the largest micro-batch (its pairs' two sequences,
    /// each at most max_length; with activation checkpointing one layer's and every layer's input).
    public static func trainingPlan(config c: LlamaConfig, microBatchPairs micro: Int, longest: Int,
                                    optimizer: OptimizerKind, activationCheckpointing: Bool = false,
                                    lora: LoRAConfig? = nil, baseWeightBytes: Int? = nil) -> MemoryPlan {
        let rows = MemoryPlan.product(2 * micro, Matmul.paddedRows(longest))
        let trained = lora.map { LoRALayout(config: c, lora: $0).count * 4 } ?? c.parameterBytes
        var plan = MemoryPlan()
        if lora != nil { plan.add("frozen base", baseWeightBytes ?? c.parameterBytes) }
        plan.add(lora == nil ? "weights" : "adapter", trained)
        plan.add("gradients", trained)
        plan.add("optimizer moments", MemoryPlan.product(trained, optimizer == .adamw ? 2 : 1))
        plan.add(activationCheckpointing ? "activations (checkpointed)" : "activations",
                 TrainingWorkspace.estimatedBytes(config: c, capacity: rows, maxSequenceLength: longest, training: true,
                                                  activationCheckpointing: activationCheckpointing, loraRank: lora?.r ?? 0))
        return plan
    }

    /// The plan for these (truncated) pairs: the largest micro-batch at the longest pair.
    static func trainingPlan(_ model: LlamaModel, pairs: [TokenizedPair], settings s: TrainerSettings) -> MemoryPlan {
        let longest = pairs.map { $0.prompt.count + max($0.chosen.count, $0.rejected.count) }.max() ?? 1
        return trainingPlan(config: model.config, microBatchPairs: min(s.microBatchSize, pairs.count), longest: longest,
                            optimizer: s.optimizer.kind, activationCheckpointing: s.activationCheckpointing,
                            lora: model.adapter?.config, baseWeightBytes: model.baseWeightBytes)
    }

    /// The base an adapter trained from `directory` goes over: its own base when it is an adapter.
    static func adapterBase(of directory: URL) throws -> URL {
        AdapterDirectory.isAdapter(directory) ? try AdapterDirectory.baseDirectory(of: directory) : directory
    }

    /// The policy to train: `loaded` (or the checkpoint at `directory`) as it is for full fine-tuning;
    /// with LoRA, base + adapter — the directory's own adapter when it is one (continued), else a fresh
    /// PEFT-initialised one (B = 0: the policy starts equal to the base) — as a new model over the
    /// same base weights, so a handed-in model is never changed.
    static func trainablePolicy(_ directory: URL, loaded: ChatModel?, lora: LoRAConfig?, seed: UInt64) throws -> (ChatModel, loaded: Bool) {
        let isAdapter = AdapterDirectory.isAdapter(directory)
        if lora == nil && !isAdapter {
            if let loaded, loaded.model.isFloat32, loaded.model.adapter == nil { return (loaded, false) }
            return (try ChatModel(directory: directory), true)
        }
        let start = try loaded ?? ChatModel(directory: directory, frozen: true)
        if let own = start.model.adapter {
            if let lora, lora != own.config {
                throw TrainingError.invalid("\(directory.path) is a LoRA adapter with r = \(own.config.r), lora_alpha = \(own.config.alpha), target_modules = \(own.config.targetModules.map(\.rawValue)), use_rslora = \(own.config.useRSLoRA); training.lora asks for r = \(lora.r), alpha = \(lora.alpha), target_modules = \(lora.targetModules.map(\.rawValue)), use_rslora = \(lora.useRSLoRA). Continue the adapter with its own settings (leave training.lora out or make it equal), or start from its base")
            }
            if own.config.dropout > 0 {
                throw TrainingError.invalid("\(directory.path): lora_dropout \(own.config.dropout) — idpo trains adapters without dropout (set lora_dropout to 0)")
            }
            return (start.with(model: start.model.sharingBase(adapter: own.copy())), loaded == nil)
        }
        let config = lora!
        if config.dropout > 0 {
            throw TrainingError.invalid("training.lora.dropout \(config.dropout): idpo trains adapters without dropout (set it to 0); a dropout mask would also make the reference and the policy differ at step 1")
        }
        let adapter = LoRAAdapter(model: start.model.config, config: config)
        adapter.initializeAsPEFT(seed: seed)
        return (start.with(model: start.model.sharingBase(adapter: adapter)), loaded == nil)
    }

    /// Reference log-probs for `pairs`: read from `cache` when its key matches (`referenceCacheKey`),
    /// else computed with the model at `referenceDirectory` (loaded, used, released) and written to
    /// `cache`. The pairs must already be truncated: the policy is trained on exactly these tokens.
    public static func referenceLogProbs(pairs: [TokenizedPair], referenceDirectory: URL, tokenizerDirectory: URL,
                                         limits: SequenceLimits, cache: URL,
                                         microBatch: Int, quiet: Bool, loadedReference: LlamaModel? = nil,
                                         loadSeconds: ((Double) -> Void)? = nil) throws -> [(chosen: Double, rejected: Double)] {
        let key = try referenceCacheKey(pairs, referenceDirectory: referenceDirectory, tokenizerDirectory: tokenizerDirectory,
                                        limits: limits)
        func cached() -> [(chosen: Double, rejected: Double)]? {
            guard let lines = try? JSONLines.read(ReferenceCacheLine.self, from: cache).map(\.record),
                  lines.first?.sha256 == key, lines.count == pairs.count + 1 else { return nil }
            let values = lines.dropFirst().map { ($0.chosenLogp ?? .nan, $0.rejectedLogp ?? .nan) }
            return values.allSatisfy({ $0.0.isFinite && $0.1.isFinite }) ? values : nil
        }
        if let values = cached() { return values }
        let loadStart = Date()
        let reference = try loadedReference ?? ModelDirectory.load(referenceDirectory, frozen: true)
        if loadedReference == nil { loadSeconds?(Date().timeIntervalSince(loadStart)) }
        let bar = quiet ? nil : ProgressBar("reference log-probs", total: pairs.count, unit: "pairs")
        let values = try SequenceScoring.logProbs(model: reference, pairs: pairs, microBatch: microBatch) { bar?.update($0) }
        if let bad = zip(pairs, values).first(where: { !$0.1.chosen.isFinite || !$0.1.rejected.isFinite }) {
            throw TrainingError.invalid("the reference model \(referenceDirectory.path) gives a non-finite log-probability for pair '\(bad.0.id)'")
        }
        let lines = [ReferenceCacheLine(sha256: key, reference: referenceDirectory.path, pairs: pairs.count)]
            + zip(pairs, values).map { ReferenceCacheLine(id: $0.0.id, chosenLogp: $0.1.chosen, rejectedLogp: $0.1.rejected) }
        try JSONLines.write(lines, to: cache)
        // Train on the values as stored, so a run that resumes from the cache computes the same bits.
        guard let stored = cached() else { throw TrainingError.invalid("cannot read back \(cache.path)") }
        return stored
    }

    /// The dtype π(t) is written in: the input checkpoint's when every tensor of it is BF16 (or every
    /// one F16), float32 otherwise (model.h5, GGUF, float32 or mixed safetensors).
    static func exportDType(of directory: URL) -> SafetensorsWriter.DType {
        guard let d = try? ModelDirectory.describe(directory), d.format == .safetensors || d.format == .shardedSafetensors else { return .f32 }
        if Set(d.dtypes.keys) == ["BF16"] { return .bf16 }
        if Set(d.dtypes.keys) == ["F16"] { return .f16 }
        return .f32
    }

    static func sameDirectory(_ a: URL, _ b: URL) -> Bool {
        a.standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Trains the policy at `policyDirectory` (or `loaded`, the same checkpoint already in memory as
    /// float32; `loadedReference` likewise for the reference) on `pairs`, writing metrics to `metricsOut`, a resumable state under `stateDirectory`,
    /// and the final policy to `outDirectory`.
    public static func run(policyDirectory: URL, referenceDirectory: URL, pairs records: [PairRecord],
                           options: TrainStageOptions, policy loaded: ChatModel? = nil, reference loadedReference: LlamaModel? = nil,
                           referenceCache: URL, metricsOut: URL,
                           stateDirectory: URL, outDirectory: URL) throws -> TrainStageResult {
        let loadStart = Date()
        let s = options.settings
        let (policy, didLoad) = try trainablePolicy(policyDirectory, loaded: loaded, lora: options.lora, seed: s.seed)
        let policyLoadSeconds = didLoad ? Date().timeIntervalSince(loadStart) : nil
        let adapterBase = try adapterBase(of: policyDirectory)
        if let adapter = policy.model.adapter, !options.quiet {
            note("training a LoRA adapter (r = \(adapter.config.r), alpha = \(adapter.config.alpha), scale \(adapter.scale), \(adapter.config.targetModules.map(\.rawValue).joined(separator: ", ")); \(adapter.layout.count) trained parameters) over the frozen base \(adapterBase.path)")
        }
        guard !records.isEmpty else { throw TrainingError.invalid("no preference pairs to train on") }
        try s.validate()
        // One tokenization and one truncation per pair, shared by the reference and the policy. A pair
        // whose two sides are the same tokens (as written, or once cut) teaches nothing: skipped, counted.
        let (cut, truncation) = s.limits.truncate(try tokenize(records, with: policy))
        let pairs = cut.filter { $0.chosen != $0.rejected }
        let skippedIdentical = cut.count - pairs.count
        if skippedIdentical > 0 {
            warn("\(skippedIdentical) of \(cut.count) pairs have chosen == rejected (as written or after truncation to max_length) and are skipped")
        }
        guard !pairs.isEmpty else {
            throw TrainingError.invalid("every pair has chosen == rejected (after truncation to max_length \(s.limits.maxLength)); nothing to train on")
        }
        if s.loss.kind.needsTargets, let bad = pairs.first(where: { $0.chosenTarget == nil || $0.rejectedTarget == nil }) {
            throw TrainingError.invalid("loss '\(s.loss.kind.rawValue)' needs chosen_target/rejected_target in every pair (first missing: pair \(bad.id)); judge with round-robin (sppo) or a GPM (gpo)")
        }
        let positions = policy.model.config.maxPositionEmbeddings
        if let long = pairs.first(where: { $0.prompt.count + max($0.chosen.count, $0.rejected.count) > positions }) {
            throw TrainingError.invalid("pair '\(long.id)' has \(long.prompt.count + max(long.chosen.count, long.rejected.count)) tokens after truncation to max_length \(s.limits.maxLength), more than the policy's max_position_embeddings (\(positions)); set max_length to at most \(positions)")
        }
        let plan = trainingPlan(policy.model, pairs: pairs, settings: s)
        try plan.require("training with micro-batches of \(s.microBatchSize) pairs up to \(s.limits.maxLength) tokens")
        if !options.quiet { note("train memory plan: \(plan)") }
        let t0 = Date()
        var referenceLoadSeconds: Double?
        let reference = try referenceLogProbs(pairs: pairs, referenceDirectory: referenceDirectory,
                                              tokenizerDirectory: policyDirectory, limits: s.limits, cache: referenceCache,
                                              microBatch: s.microBatchSize, quiet: options.quiet,
                                              // the same checkpoint: the policy, not yet updated, is the reference
                                              loadedReference: sameDirectory(referenceDirectory, policyDirectory) ? policy.model : loadedReference,
                                              loadSeconds: { referenceLoadSeconds = $0 })
        let referenceSeconds = Date().timeIntervalSince(t0)
        let trainer = try PreferenceTrainer(policy: policy.model, settings: s)
        // Resume from the last saved step, if any (after removing what an interrupted writer left).
        for folder in [stateDirectory, outDirectory] { _ = AtomicFile.removeStaleTemporaries(in: folder, recursive: false) }
        let stateFile = stateDirectory.appendingPathComponent("state.h5")
        var metrics: [StepMetrics] = []
        if FileManager.default.fileExists(atPath: stateFile.path) {
            let opt: OptimizerState
            if let adapter = policy.model.adapter {
                opt = try AdapterTrainingState.read(from: stateFile, into: adapter)
            } else {
                let state = try NativeCheckpoint.read(from: stateFile)
                guard state.model.config == policy.model.config, let saved = state.optimizer else {
                    throw TrainingError.invalid("\(stateFile.path) does not belong to this training run; remove it to start over")
                }
                policy.model.parameters.copy(from: state.model.parameters)
                opt = saved
            }
            try trainer.optimizer.restore(opt)
            if let lines = try? JSONLines.read(MetricsLine.self, from: metricsOut) {
                metrics = Array(lines.compactMap(\.record.step).prefix(opt.step))
            }
        }
        let total = trainer.totalSteps(pairCount: pairs.count)
        let bar = options.quiet ? nil : ProgressBar("train", total: total, unit: "steps")
        bar?.update(trainer.optimizer.step)
        var keptStep = trainer.optimizer.step
        var lastSave = Date()
        do {
            // The state is saved just before an update, once that step's loss and gradients are known to
            // be finite: a saved state is always one whose loss and gradients were finite.
            try trainer.train(pairs: pairs, reference: reference, beforeUpdate: { completed in
                guard options.checkpointEvery > 0, completed > 0, completed % options.checkpointEvery == 0,
                      completed > keptStep || !FileManager.default.fileExists(atPath: stateFile.path),
                      Date().timeIntervalSince(lastSave) >= options.checkpointSeconds else { return }
                if let adapter = policy.model.adapter {
                    try AdapterTrainingState.write(adapter, optimizer: trainer.optimizer.state(), to: stateFile)
                } else {
                    try NativeCheckpoint(model: policy.model, optimizer: trainer.optimizer.state(),
                                         metadataJSON: "{\"step\":\(completed)}").write(to: stateFile)
                }
                keptStep = completed
                lastSave = Date()
                FaultInjection.checkpoint("train-step")
            }) { measured in
                var m = measured
                if !options.recordTimings { m.tokensPerSecond = nil }
                metrics.append(m)
                try JSONLines.write(metrics, to: metricsOut)
                bar?.update(m.step, extra: String(format: "loss %.4f  margin %.3f  acc %.2f  %.0f tok/s", m.loss, m.rewardsMargins,
                                                   m.rewardsAccuracies, measured.tokensPerSecond ?? 0))
            }
            if let bad = policy.model.firstNonFiniteParameter() {
                throw TrainingError.diverged("the last update made \(bad) non-finite")
            }
        } catch TrainingError.diverged(let reason) {
            let kept = FileManager.default.fileExists(atPath: stateFile.path)
                ? "The last good state (after step \(keptStep), whose loss and gradients were finite) is kept in \(stateFile.path); nothing later was saved. Lower the learning rate (now \(s.optimizer.learningRate)) and run the same command again to continue from step \(keptStep) (a recipe run needs --force for the changed recipe), or delete \(stateDirectory.path) to start this training from the beginning."
                : "No state was saved (training starts from \(policyDirectory.path) again). Lower the learning rate (now \(s.optimizer.learningRate)) and run the same command again (a recipe run needs --force for the changed recipe)."
            throw TrainingError.diverged("\(reason). \(kept)")
        }
        // A final summary line (as TRL logs train_runtime etc. at the end).
        let runtime: Double? = options.recordTimings ? Date().timeIntervalSince(t0) : nil
        let summary = TrainSummaryLine(steps: metrics.count, pairs: pairs.count, promptsTruncated: truncation.promptsTruncated,
                                       pairsSkippedIdentical: skippedIdentical, responsesTruncated: truncation.responsesTruncated,
                                       trainRuntime: runtime, referenceRuntime: options.recordTimings ? referenceSeconds : nil,
                                       finalLoss: metrics.last?.loss, finalRewardsAccuracies: metrics.last?.rewardsAccuracies,
                                       finalRewardsMargins: metrics.last?.rewardsMargins)
        try AtomicFile.write(try JSONFormat.lines(metrics) + JSONFormat.lines([summary]), to: metricsOut)
        // π(t) is saved as weights only — the size of the model — in the input checkpoint's dtype: a
        // float32 policy as model.h5, a bf16/f16 one as model.safetensors of that dtype (trained in
        // float32 master weights, rounded once here), which the next iteration samples from in 16 bits.
        // The optimizer's moments belong to this training run's resumable state, removed below once
        // π(t) is safely on disk.
        let exportDType = Self.exportDType(of: policyDirectory)
        if let adapter = policy.model.adapter {
            // An adapter over the fixed base, in PEFT's layout (float32: exactly what was trained).
            try AdapterDirectory.write(adapter, base: adapterBase, to: outDirectory, tokenizerSource: policyDirectory)
        } else if exportDType == .f32 {
            try ModelDirectory.saveNative(NativeCheckpoint(model: policy.model, metadataJSON: "{\"steps\":\(total)}"),
                                          to: outDirectory, tokenizerSource: policyDirectory)
        } else {
            try ModelDirectory.saveHuggingFace(policy.model, to: outDirectory, dtype: exportDType, tokenizerSource: policyDirectory)
        }
        if options.exportHuggingFace && exportDType == .f32 && policy.model.adapter == nil {
            let tensors = policy.model.layout.entries.map {
                SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: policy.model.parameters.pointer + $0.offset)
            }
            try SafetensorsWriter.write(tensors, dtype: .f32, to: outDirectory.appendingPathComponent("model.safetensors"))
        }
        try? FileManager.default.removeItem(at: stateFile)
        if (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory.path))?.isEmpty == true {
            try? FileManager.default.removeItem(at: stateDirectory)
        }
        return TrainStageResult(steps: metrics, truncation: truncation, referenceSeconds: referenceSeconds,
                                skippedIdentical: skippedIdentical, policy: policy,
                                savedExactly: exportDType == .f32 || policy.model.adapter != nil,
                                policyLoadSeconds: policyLoadSeconds, referenceLoadSeconds: referenceLoadSeconds,
                                adapter: policy.model.adapter.map { ($0.config, adapterBase) })
    }
}
