// The iterative driver behind `idpo iterate`: for t = 1…T, generate with π(t−1) → judge → select
// pairs → reference log-probs → train from π(t−1) → save π(t) → evaluate, in a run directory
//
//   runs/<name>/recipe.json        the resolved recipe (a changed recipe is refused unless forced)
//   runs/<name>/manifest.json      stage states and content hashes
//   runs/<name>/events.log         what happened when, with timings
//   runs/<name>/summary.json       per-iteration figures
//   runs/<name>/iter-<t>/{prompts.jsonl, samples.jsonl, judgments.jsonl, pairs.jsonl,
//                         reference-logps.jsonl, metrics.jsonl, policy/, evaluation.json}
//
// Every file is written atomically; every stage is resumable (generation and judging by batches of
// prompts, training by optimizer steps), so killing the process at any moment and running the same
// command again ends with the same bytes as an uninterrupted run. A lock file keeps a second driver
// out of the same directory.

import Foundation
import Support
import Kernels
import Llama
import Checkpoints
import Generation
import Preference
import Optimization

public struct RunError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}


/// The stages of an iteration, in the order they run (manifest keys, timings, log lines).
public enum IterationStage: String, CaseIterable, Codable, Sendable {
    case generate, judge, train, evaluate
}

/// Stage states of a run, persisted in manifest.json.
public struct Manifest: Codable, Equatable {
    public struct Entry: Codable, Equatable {
        public var done: Bool
        /// SHA-256 of the stage's main output (for a model directory: of its weight files), checked
        /// when a resumed run reuses the stage.
        public var hash: String?
    }
    public var formatVersion = 1
    public var iterations: [String: [String: Entry]] = [:]
    /// How the judge read its input when it last ran (`Judge.inputSummary`), e.g. a GPM's convention.
    public var judgeInput: String?

    public func entry(_ t: Int, _ stage: IterationStage) -> Entry? { iterations["\(t)"]?[stage.rawValue] }
    public func isDone(_ t: Int, _ stage: IterationStage) -> Bool { entry(t, stage)?.done == true }
    public mutating func mark(_ t: Int, _ stage: IterationStage, hash: String?) {
        iterations["\(t)", default: [:]][stage.rawValue] = Entry(done: true, hash: hash)
    }
}

/// SHA-256 of a file's bytes, streamed (content hashes in the manifest; a stage's output may be a
/// whole checkpoint); for a model directory, of its config and weight files' hashes in name order.
public func contentHash(_ url: URL) -> String? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return nil }
    guard isDirectory.boolValue else { return try? SHA256.hex(file: url) }
    guard let files = try? ModelDirectory.describe(url).contentFiles else { return nil }
    var h = SHA256()
    for (name, file) in files {
        guard let digest = try? SHA256.hex(file: file) else { return nil }
        h.update(Data((name + " " + digest + "\n").utf8))
    }
    return h.finalize().hex
}

/// Per-iteration figures (summary.json and the terminal).
public struct IterationSummary: Codable, Equatable {
    public var iteration: Int
    public var prompts = 0
    public var pairs = 0
    public var dropped = 0
    /// The judge's mean margin chosen_reward − rejected_reward over the pairs (reward / GPM scores).
    public var meanMargin: Double?
    /// A pairwise judge's mean P(chosen ≻ rejected) over the pairs, from its own comparisons.
    public var meanChosenProbability: Double?
    public var comparisonsPerPrompt = 0.0
    public var finalLoss: Double?
    /// TRL's rewards/accuracies of the last optimizer step.
    public var finalRewardAccuracy: Double?
    /// TRL's rewards/margins (β·(a − b), the implicit DPO reward margin) of the last optimizer step.
    public var finalRewardMargin: Double?
    public var winRateVsInitial: Double?
    public var winRateVsPrevious: Double?
    public var oracleAccuracy: Double?
    public var initialOracleAccuracy: Double?
    public var meanResponseTokens = 0.0
    /// Fraction of the samples that ended with a stop token rather than the length limit (TRL's
    /// val/contain_eos_token): a falling value flags responses growing into the limit.
    public var containEOSToken: Double?
    /// KL(π(t) ‖ π0) estimated on the evaluation samples (TRL's objective/kl; see `klFromInitial`).
    public var klFromInitial: Double?
    /// Seconds per stage (`IterationStage` names).
    public var seconds: [String: Double] = [:]
    /// Every model load of the iteration, in order, with its time.
    public var loads: [ModelLoad]?
    /// The policy that sampled this iteration's responses, π(t−1) (`PolicyDescription`).
    public var sampledBy: String?
    /// What π(t) is: a full model, or a LoRA adapter (its settings, hash and base).
    public var trainedPolicy: String?
}

/// One line naming a policy directory: a full model, or "LoRA adapter r 16, alpha 32 (q_proj, …),
/// sha256 1a2b3c4d… over base /path" — the summary, the terminal and the report say which adapter
/// produced each iteration.
public enum PolicyDescription {
    public static func describe(_ directory: URL) -> String {
        guard let d = try? ModelDirectory.describe(directory) else { return directory.path }
        guard let (lora, base) = d.adapter else { return "\(directory.path) (full model)" }
        let weights = directory.appendingPathComponent(AdapterDirectory.weightsFile)
        let hash = (try? SHA256.hex(file: weights)).map { String($0.prefix(12)) } ?? "?"
        return "\(directory.path) (LoRA adapter r \(lora.r), alpha \(lora.alpha)\(lora.useRSLoRA ? ", rsLoRA" : ""), \(lora.targetModules.count == LoRAModule.allCases.count ? "all-linear" : lora.targetModules.map(\.rawValue).joined(separator: ", ")); adapter_model.safetensors sha256 \(hash)… over base \(base.path))"
    }
}

/// One model load: which model, for which stage, how long it took.
public struct ModelLoad: Codable, Equatable, Sendable {
    public var model: String
    public var stage: String
    public var seconds: Double
}

/// evaluation.json: the figures of an evaluation, named as in summary.json.
public struct EvaluationRecord: Codable, Equatable, Sendable {
    public var iteration: Int
    public var prompts: Int
    public var winRateVsInitial: Double?
    public var winRateVsPrevious: Double?
    public var oracleAccuracy: Double?
    public var initialOracleAccuracy: Double?
    public var klFromInitial: Double?
}

public final class RunDriver {
    public let recipe: Recipe
    public let directory: URL
    public var quiet = false
    /// Work counters (tests check that sweeps share iteration-1 work).
    public private(set) var generatedPrompts = 0
    public private(set) var judgedPrompts = 0

    let lock: RunLock
    /// Continue although the recipe or a finished stage's output changed.
    let force: Bool
    var manifest = Manifest()
    var summaries: [Int: IterationSummary] = [:]

    /// Opens (or creates) the run directory of `recipe`. A different recipe under an existing run is
    /// refused unless `force`, naming the keys that changed.
    public init(recipe: Recipe, force: Bool = false, directory: URL? = nil) throws {
        self.recipe = recipe
        self.force = force
        self.directory = directory ?? recipe.run.directory
        lock = try RunLock(directory: self.directory)
        // A killed run leaves its half-written temporaries (`.<file>.tmp-<pid>`); we hold the lock now,
        // so none of them belongs to a live writer of this run.
        let stale = AtomicFile.removeStaleTemporaries(in: self.directory, recursive: true)
        if !stale.isEmpty { warn("removed \(stale.count) temporary file(s) left by an interrupted run in \(self.directory.path)") }
        let recipeFile = self.directory.appendingPathComponent("recipe.json")
        if let data = try? Data(contentsOf: recipeFile) {
            let previous = try Recipe.fromCanonicalJSON(data)
            let changed = recipe.changedKeys(from: previous).filter { !Self.outputNeutralKeys.contains($0) && !$0.hasPrefix("sweep") }
            if !changed.isEmpty && !force {
                throw RunError("\(self.directory.path) was started with a different recipe (changed: \(changed.joined(separator: ", "))); use --force to continue with the new one, or choose another run.name")
            }
        }
        try AtomicFile.write(try recipe.canonicalJSON(), to: recipeFile)
        if let data = try? Data(contentsOf: self.directory.appendingPathComponent("manifest.json")) {
            manifest = try JSONFormat.decoder.decode(Manifest.self, from: data)
        }
        if let data = try? Data(contentsOf: self.directory.appendingPathComponent("summary.json")),
           let list = try? JSONFormat.decoder.decode([IterationSummary].self, from: data) {
            for s in list { summaries[s.iteration] = s }
        }
    }

    /// Recipe keys that change how a run works but not what it writes: changing them needs no --force.
    static let outputNeutralKeys: Set<String> = ["run.output_root", "training.save_interval_seconds"]

    func iterationDirectory(_ t: Int) -> URL { directory.appendingPathComponent("iter-\(t)") }
    func policyDirectory(after t: Int) -> URL { t == 0 ? recipe.policyURL : iterationDirectory(t).appendingPathComponent("policy") }

    func log(_ message: String) {
        let line = "\(ISO8601DateFormatter().string(from: Date())) \(message)\n"
        let url = directory.appendingPathComponent("events.log")
        if let h = try? FileHandle(forWritingTo: url) { h.seekToEndOfFile(); h.write(Data(line.utf8)); try? h.close() }
        else { try? Data(line.utf8).write(to: url) }
        if !quiet { FileHandle.standardError.write(Data("[\(recipe.run.name)] \(message)\n".utf8)) }
    }

    func saveManifest() throws {
        try AtomicFile.write(try JSONFormat.pretty(manifest), to: directory.appendingPathComponent("manifest.json"))
    }

    func saveSummaries() throws {
        try AtomicFile.write(try JSONFormat.pretty(allSummaries), to: directory.appendingPathComponent("summary.json"))
    }

    /// Runs `stage` of iteration t unless the manifest says it is done; records its hash and time.
    /// A done stage is reused only when its output still has the recorded SHA-256 (an edited
    /// pairs.jsonl or replaced π(t) is refused, naming the file, unless `force`; then the new content
    /// is recorded and used).
    func stage(_ t: Int, _ stage: IterationStage, output: URL?, _ body: () throws -> Void) throws {
        let name = stage.rawValue
        if manifest.isDone(t, stage) {
            if let output, let recorded = manifest.entry(t, stage)?.hash, recorded.count == 64 {
                let now = contentHash(output)
                if now != recorded {
                    let what = now == nil ? "is missing" : "changed since the \(name) stage of iteration \(t) wrote it (SHA-256 \(recorded.prefix(12))…, now \(now!.prefix(12))…)"
                    guard force else {
                        throw RunError("\(output.path) \(what); the later stages were made from the recorded one. Restore it, delete iteration \(t)'s directory to redo it, or rerun with --force to continue from the file as it is")
                    }
                    guard let now else { throw RunError("\(output.path) \(what)") }
                    warn("\(output.path) \(what); continuing from it as it is (--force)")
                    manifest.mark(t, stage, hash: now)
                    try saveManifest()
                }
            }
            return
        }
        log("iteration \(t): \(name) …")
        let t0 = Date()
        try body()
        let seconds = Date().timeIntervalSince(t0)
        manifest.mark(t, stage, hash: output.flatMap(contentHash))
        try saveManifest()
        summaries[t, default: IterationSummary(iteration: t)].seconds[name] = seconds
        try saveSummaries()
        log(String(format: "iteration %d: %@ done in %.1f s", t, name, seconds))
    }

    /// The prompts of iteration t: one file per iteration, or one file split into `iterations`
    /// disjoint parts by a seeded shuffle (the remainder spread over the first parts, nothing dropped).
    public func prompts(iteration t: Int) throws -> [PromptRecord] {
        let urls = recipe.promptFileURLs
        if urls.count > 1 { return try PromptFile.read(urls[t - 1]) }
        let all = try PromptFile.read(urls[0])
        var order = Array(all.indices)
        var rng = SplitMix64(seed: recipe.run.seed ^ 0x5EED_5EED)
        order.shuffle(using: &rng)
        let n = recipe.iterations, base = all.count / n, extra = all.count % n
        let start = (t - 1) * base + min(t - 1, extra), count = base + (t - 1 < extra ? 1 : 0)
        return order[start..<(start + count)].sorted().map { all[$0] }
    }

    var generationSettings: GenerationStageSettings {
        var s = GenerationStageSettings()
        s.samplesPerPrompt = recipe.generation.k
        s.sampling = recipe.samplingParameters
        s.maxNewTokens = recipe.generation.maxNewTokens
        s.maxPromptTokens = recipe.prompts.maxPromptTokens
        return s
    }

    var judge: (any Judge)? = nil
    /// The judge, loaded once per stage that uses it (released before training and after evaluation).
    func loadJudge(for stage: IterationStage) throws -> any Judge {
        if let judge { return judge }
        let j = try models.timed("judge", stage) {
            try Judges.load(directory: recipe.judgeURL, kind: recipe.judge.kind,
                            temperature: recipe.judge.temperature, tau: recipe.judge.tau,
                            stripBOS: recipe.judge.stripBOS ?? .all, gpmInput: recipe.judge.gpmInput ?? .ranker,
                            command: recipe.judge.command ?? [], engine: recipe.judge.engine, notes: { [quiet] in if !quiet { note($0) } })
        }
        judge = j
        if manifest.judgeInput != j.inputSummary {
            manifest.judgeInput = j.inputSummary
            try saveManifest()
        }
        return j
    }

    /// The models of the iteration being run, each loaded once where memory allows.
    var models = IterationModels()

    /// Runs iterations `range` (default: all), skipping finished stages.
    public func run(iterations range: ClosedRange<Int>? = nil) throws {
        let r = range ?? 1...recipe.iterations
        guard r.lowerBound >= 1 && r.upperBound <= recipe.iterations else {
            throw RunError("iterations \(r) are outside 1…\(recipe.iterations)")
        }
        for t in r {
            if t > 1 && !manifest.isDone(t - 1, .train) {
                throw RunError("iteration \(t) needs π(\(t - 1)); run iteration \(t - 1) first")
            }
            try runIteration(t)
        }
    }

    func runIteration(_ t: Int) throws {
        let dir = iterationDirectory(t)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let samplesURL = dir.appendingPathComponent("samples.jsonl")
        let judgmentsURL = dir.appendingPathComponent("judgments.jsonl"), pairsURL = dir.appendingPathComponent("pairs.jsonl")
        var summary = summaries[t] ?? IterationSummary(iteration: t)
        models = IterationModels()
        defer { models = IterationModels() }   // released: the next iteration starts from π(t) on disk

        try stage(t, .generate, output: samplesURL) {
            let prompts = try self.prompts(iteration: t)
            try JSONLines.write(prompts, to: dir.appendingPathComponent("prompts.jsonl"))
            let policy = try models.policy(policyDirectory(after: t - 1), label: "π(\(t - 1))", for: .generate)
            var s = generationSettings
            s.seed = recipe.run.seed &+ UInt64(t)
            if let settings = recipe.generation.engine {
                try sampleRemotely(t, settings: settings, policy: policy, prompts: prompts, generation: s, out: samplesURL)
            } else {
                try Stages.generate(policy: policy, prompts: prompts, settings: s, out: samplesURL, quiet: quiet)
            }
            generatedPrompts += prompts.count
        }
        summaries[t, default: summary].sampledBy = PolicyDescription.describe(policyDirectory(after: t - 1))
        summary = summaries[t]!
        try stage(t, .judge, output: pairsURL) {
            let samples = try SampleRecord.read(samplesURL)
            models.keepForTraining(policyDirectory(after: t - 1), besideJudge: recipe.judgeModelURLs, lora: recipe.training.lora != nil)
            let js = try Stages.judge(judge: try loadJudge(for: .judge), samples: samples, method: recipe.judge.ranking,
                                      selection: recipe.pairs.selection, lengthPenalty: recipe.pairs.lengthPenalty,
                                      seed: recipe.run.seed &+ UInt64(t), iteration: t,
                                      judgmentsOut: judgmentsURL, pairsOut: pairsURL, quiet: quiet, samplesFile: samplesURL.path)
            judgedPrompts += samples.count
            summary = summaries[t] ?? summary
            summary.prompts = js.prompts; summary.pairs = js.pairs; summary.dropped = js.dropped
            summary.meanChosenProbability = js.meanChosenProbability
            summary.comparisonsPerPrompt = Double(js.comparisons) / Double(max(1, js.prompts))
            let tokens = samples.flatMap(\.responseTokens).map(\.count)
            summary.meanResponseTokens = Double(tokens.reduce(0, +)) / Double(max(1, tokens.count))
            summary.containEOSToken = Stages.stoppedFraction(samples)
            summaries[t] = summary
            // Kept for evaluation's win rates when it fits beside training; else released first.
            if !IterationModels.fitBesideTraining(recipe.judgeModelURLs, policy: policyDirectory(after: t - 1)) { judge = nil }
            log("iteration \(t): \(js.pairs) pairs from \(js.prompts) prompts, \(js.droppedText)")
            for example in js.dropExamples ?? [] { log("iteration \(t): dropped \(example)") }
        }
        try stage(t, .train, output: dir.appendingPathComponent("policy")) {
            let pairs = try PairRecord.read(pairsURL)
            guard !pairs.isEmpty else { throw RunError("iteration \(t) produced no preference pairs (see \(judgmentsURL.path)); nothing to train on") }
            var options = TrainStageOptions()
            options.settings = recipe.trainerSettings
            options.checkpointSeconds = recipe.training.saveIntervalSeconds
            options.settings.seed = recipe.run.seed &+ UInt64(t)
            options.quiet = quiet
            options.recordTimings = false
            options.lora = recipe.training.lora
            let referenceDir = recipe.reference == .initial ? recipe.policyURL : policyDirectory(after: t - 1)
            // π(t−1) as generation loaded it, when it can be trained in place (float32 weights).
            let loaded = models.take(policyDirectory(after: t - 1), trainable: options.lora == nil)
            // π0 as the reference is kept for evaluation's KL when it fits beside training: one load.
            // In iteration 1 π0 is the policy trained in place, so a copy of it is kept instead.
            let keepReference = recipe.reference == .initial && recipe.evaluation != nil
                && IterationModels.fitBesideTraining(recipe.judgeModelURLs + [referenceDir], policy: policyDirectory(after: t - 1))
            var keptReference: ChatModel? = nil
            if keepReference && t > 1 {
                keptReference = try models.policy(referenceDir, label: "π0 (reference)", for: .train)
            } else if keepReference, options.lora != nil, let loaded {
                models.adopt(loaded, as: referenceDir)   // LoRA trains a new adapter beside it: π0 stays as it is
            } else if keepReference, let copy = loaded?.float32Copy() {
                models.adopt(copy, as: referenceDir)
            }
            let result = try TrainStage.run(policyDirectory: policyDirectory(after: t - 1), referenceDirectory: referenceDir,
                                            pairs: pairs, options: options, policy: loaded, reference: keptReference?.model,
                                            referenceCache: dir.appendingPathComponent("reference-logps.jsonl"),
                                            metricsOut: dir.appendingPathComponent("metrics.jsonl"),
                                            stateDirectory: dir.appendingPathComponent("train-state"),
                                            outDirectory: dir.appendingPathComponent("policy"))
            if let s = result.policyLoadSeconds { models.record("π(\(t - 1))", .train, s) }
            if let r = result.referenceLoadSeconds { models.record(referenceDir == recipe.policyURL ? "π0 (reference)" : "reference", .train, r) }
            // π(t) as trained is what was saved when it is float32 (model.h5): evaluation uses it.
            if result.savedExactly { models.adopt(result.policy, as: dir.appendingPathComponent("policy")) }
            summary = summaries[t] ?? summary
            summary.finalLoss = result.steps.last?.loss
            summary.trainedPolicy = PolicyDescription.describe(dir.appendingPathComponent("policy"))
            summary.finalRewardAccuracy = result.steps.last?.rewardsAccuracies
            summary.finalRewardMargin = result.steps.last?.rewardsMargins
            let margins = pairs.compactMap(\.margin)
            summary.meanMargin = margins.isEmpty ? nil : margins.reduce(0, +) / Double(margins.count)
            summaries[t] = summary
        }
        if recipe.evaluation != nil {
            try stage(t, .evaluate, output: dir.appendingPathComponent("evaluation.json")) { try evaluate(t) }
        }
        if !models.loads.isEmpty {
            summaries[t, default: summary].loads = (summaries[t]?.loads ?? []) + models.loads
            log("iteration \(t): model loads: " + models.loads.map { String(format: "%@ %.1f s (%@)", $0.model, $0.seconds, $0.stage) }.joined(separator: ", "))
        }
        try saveSummaries()
        if !quiet { print(format(summaries[t] ?? summary)) }
    }

    /// Samples per evaluation prompt (at the generation temperature, seeded: the same for every policy).
    static let evaluationSamples = 4

    /// A policy's sampled responses to the evaluation prompts (cached per policy directory): it is
    /// evaluated as it behaves when it generates training data, not only at its greedy mode.
    func evaluationResponses(policyAfter t: Int) throws -> [SampleRecord] {
        guard let evaluation = recipe.evaluation else { return [] }
        let out = (t == 0 ? directory.appendingPathComponent("iter-0") : iterationDirectory(t)).appendingPathComponent("eval-samples.jsonl")
        if let cached = try? SampleRecord.read(out) { return cached }
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        var s = generationSettings
        s.samplesPerPrompt = Self.evaluationSamples; s.maxNewTokens = evaluation.maxNewTokens
        s.seed = recipe.run.seed ^ 0xE7A1
        let policy = try models.policy(policyDirectory(after: t), label: "π(\(t))", for: .evaluate)
        return try Stages.generate(policy: policy, prompts: try PromptFile.read(URL(fileURLWithPath: evaluation.prompts)),
                                   settings: s, out: out, quiet: quiet)
    }

    /// Iteration t's sampling through the recipe's serving engine: from iteration 2 on the server is
    /// first made to serve π(t−1) (reload_command, or SGLang's /update_weights_from_disk), then the
    /// staleness check compares its next-token log-probs on probe prompts with idpo's own, and only
    /// then are the samples drawn.
    func sampleRemotely(_ t: Int, settings: RemoteEngineSettings, policy: ChatModel, prompts: [PromptRecord],
                        generation s: GenerationStageSettings, out: URL) throws {
        let engine = try RemoteCompletions(settings)
        let directory = policyDirectory(after: t - 1), label = "π(\(t - 1))"
        // (π0 as well when it is a LoRA adapter: the server starts on its base)
        if t > 1 || policy.model.adapter != nil { try handOff(directory, iteration: t - 1, to: engine, policy: policy) }
        let text = policy.text
        let limit = max(1, min(s.maxPromptTokens, text.config.maxPositionEmbeddings - s.maxNewTokens))
        let report = try StalenessCheck.verify(model: policy.model, engine: engine, probes: try StalenessCheck.probes(prompts, policy: text, maxTokens: limit),
                                               tolerance: settings.stalenessTolerance, serving: "\(label) (\(directory.path))")
        log(String(format: "iteration %d: the server at %@ serves %@: probe log-probs within %.4f nats (tolerance %g)", t,
                   engine.url.absoluteString, label, report.maxDifference, settings.stalenessTolerance))
        try Stages.generateRemote(policy: text, engine: engine, prompts: prompts, settings: s, out: out, quiet: quiet)
    }

    /// Makes the server serve π(t) (`directory`): the recipe's reload_command with IDPO_POLICY,
    /// IDPO_ITERATION and, for llama-server, IDPO_POLICY_GGUF (π(t) exported by idpo beside it, a LoRA
    /// adapter merged into its base first); without one, SGLang's /update_weights_from_disk — or, for
    /// a LoRA π(t) on vLLM or SGLang, the engine's run-time adapter loading (`loadAdapter`; later
    /// requests name the adapter).
    func handOff(_ directory: URL, iteration t: Int, to engine: RemoteCompletions, policy: ChatModel) throws {
        let settings = engine.settings
        var environment = ProcessInfo.processInfo.environment
        environment["IDPO_POLICY"] = directory.path; environment["IDPO_ITERATION"] = "\(t)"
        if settings.server == .llamacpp {
            // beside π(t) in iteration t's folder (π0's in the run's folder: never in the user's)
            let gguf = t == 0 ? self.directory.appendingPathComponent("initial-policy.gguf")
                              : directory.deletingLastPathComponent().appendingPathComponent("policy.gguf")
            let weights = GGUFWriter.WeightType(rawValue: settings.exportType.rawValue)!
            let exported = policy.model.adapter == nil ? policy.model : try Self.mergedFloat32(policy.model, adapterDirectory: directory)
            try GGUFWriter.llama(exported, weights: weights, name: "\(recipe.run.name)-pi\(t)",
                                 tokenizer: try GGUFTokenizerExport.from(directory)).write(to: gguf)
            environment["IDPO_POLICY_GGUF"] = gguf.path
            log("iteration \(t + 1): π(\(t)) exported to \(gguf.path) (\(settings.exportType.rawValue)\(policy.model.adapter == nil ? "" : ", LoRA adapter merged")) for the server")
        } else if policy.model.adapter != nil && settings.reloadCommand == nil {
            let name = "\(recipe.run.name)-pi\(t)"
            try engine.loadAdapter(name: name, path: directory.path)
            log("iteration \(t + 1): the server loaded π(\(t))'s LoRA adapter \(directory.path) as \(name)")
            return
        }
        if let command = settings.reloadCommand {
            // (Subprocess, not Process: the command may leave a server running in the background)
            let status: Int32
            do { status = try Subprocess.run(command, environment: environment, directory: URL(fileURLWithPath: settings.workingDirectory ?? FileManager.default.currentDirectoryPath)) } catch {
                throw RunError("generation.engine.reload_command \(command) could not start: \(error.localizedDescription)")
            }
            guard status == 0 else {
                throw RunError("generation.engine.reload_command \(command.joined(separator: " ")) exited with status \(status) while handing π(\(t)) to the server")
            }
            log("iteration \(t + 1): reload_command \(command.joined(separator: " ")) done")
        } else if settings.server == .sglang {
            let update = try RemoteCompletions(settings).postTo(path: "/update_weights_from_disk", ["model_path": directory.path],
                                                                what: "the weight update to π(\(t))")
            guard (update as? [String: Any])?["success"] as? Bool == true else {
                throw RunError("\(settings.baseURL)/update_weights_from_disk did not succeed for π(\(t)): \(update)")
            }
        } else {
            throw RunError("generation.engine has no reload_command: the \(settings.server.rawValue) server cannot be told to serve π(\(t))")
        }
    }

    /// A float32 copy of a LoRA policy with its adapter merged into the base (W + s·B·A, PEFT's
    /// merge_and_unload), for a server that cannot load the adapter itself. A 16-bit base is read
    /// again from its directory in float32.
    static func mergedFloat32(_ model: LlamaModel, adapterDirectory: URL) throws -> LlamaModel {
        guard let adapter = model.adapter else { return model }
        let merged: LlamaModel
        if let copy = model.float32Copy() { merged = copy; merged.adapter = nil }
        else { merged = try ModelDirectory.load(try AdapterDirectory.baseDirectory(of: adapterDirectory)) }
        AdapterDirectory.merge(adapter, into: merged)
        return merged
    }

    /// Win rate of `a` over `b` by the judge: sample j of one policy against sample j of the other
    /// (1 win, ½ tie, 0 loss), averaged over prompts and samples.
    func winRate(_ a: [SampleRecord], _ b: [SampleRecord]) throws -> Double {
        let judge = try loadJudge(for: .evaluate)
        // every comparison at once for a judge that batches (a program judge runs once, not per pair)
        var comparisons: [SampleRecord] = []
        for (x, y) in zip(a, b) {
            for (ra, rb) in zip(x.responses, y.responses) where ra != rb {
                comparisons.append(SampleRecord(id: x.id, prompt: x.prompt, responses: [ra, rb], responseTokens: [], finishReasons: []))
            }
        }
        try judge.prefetch(comparisons)
        var total = 0.0, count = 0
        for (x, y) in zip(a, b) {
            for (ra, rb) in zip(x.responses, y.responses) {
                count += 1
                if ra == rb { total += 0.5; continue }
                let ranking = try judge.judge(messages: x.prompt.messages, responses: [ra, rb], method: judge.comparisonMethod)
                if let best = ranking.ranking.best { total += best == 0 ? 1 : 0 } else { total += 0.5 }
            }
        }
        return total / Double(max(1, count))
    }

    /// TRL's objective/kl on π(t)'s evaluation samples: the mean over samples of
    /// Σ_i [log π(t)(y_i | x, y_<i) − log π0(y_i | x, y_<i)] over the generated tokens (the stop token
    /// excluded) — a Monte-Carlo estimate of KL(π(t) ‖ π0). Prompts are cut as generation cut them.
    func klFromInitial(_ t: Int, samples: [SampleRecord]) throws -> Double? {
        guard let evaluation = recipe.evaluation else { return nil }
        let policy = try models.policy(policyDirectory(after: t), label: "π(\(t))", for: .evaluate)
        let limit = max(1, min(generationSettings.maxPromptTokens, policy.model.config.maxPositionEmbeddings - evaluation.maxNewTokens))
        // Each prompt with its samples: the prompt is computed once for all of them (KV cache).
        let groups = try samples.map { s in (prompt: try policy.promptTokens(s.prompt, maxTokens: limit).tokens, responses: s.responseTokens) }
        let count = groups.reduce(0) { $0 + $1.responses.count }
        guard count > 0 else { return nil }
        let now = try SequenceScoring.sharedPromptResponseLogProbs(model: policy.model, groups: groups).joined()
        let initial = try SequenceScoring.sharedPromptResponseLogProbs(
            model: try models.policy(policyDirectory(after: 0), label: "π0", for: .evaluate).model, groups: groups).joined()
        return zip(now, initial).reduce(0) { $0 + ($1.0 - $1.1) } / Double(count)
    }

    func evaluate(_ t: Int) throws {
        var clock = Date(), parts: [String] = []
        func lap(_ name: String) { parts.append(String(format: "%@ %.1f s", name, Date().timeIntervalSince(clock))); clock = Date() }
        let current = try evaluationResponses(policyAfter: t)
        lap("samples of π(\(t))")
        let initial = try evaluationResponses(policyAfter: 0)
        lap("samples of π0")
        var summary = summaries[t] ?? IterationSummary(iteration: t)
        summary.klFromInitial = try klFromInitial(t, samples: current)
        models.releasePolicies()   // before the judge is loaded
        lap("KL")
        summary.winRateVsInitial = try winRate(current, initial)
        summary.winRateVsPrevious = t > 1 ? try winRate(current, try evaluationResponses(policyAfter: t - 1)) : summary.winRateVsInitial
        lap("win rates")
        judge = nil   // released: the next iteration generates with the policy first
        log("iteration \(t): evaluate: " + parts.joined(separator: ", "))
        if let name = recipe.evaluation?.oracle {
            guard let oracle = Oracles.named(name) else { throw RunError("unknown evaluation oracle '\(name)' (known: \(Oracles.names.joined(separator: ", ")))") }
            func accuracy(_ samples: [SampleRecord]) -> Double {
                let scores = samples.flatMap { s in s.responses.map { oracle.score(prompt: s.prompt, response: $0) } }
                return scores.reduce(0, +) / Double(max(1, scores.count))
            }
            summary.oracleAccuracy = accuracy(current)
            summary.initialOracleAccuracy = accuracy(initial)
        }
        summaries[t] = summary
        let record = EvaluationRecord(iteration: t, prompts: current.count, winRateVsInitial: summary.winRateVsInitial,
                                      winRateVsPrevious: summary.winRateVsPrevious, oracleAccuracy: summary.oracleAccuracy,
                                      initialOracleAccuracy: summary.initialOracleAccuracy, klFromInitial: summary.klFromInitial)
        try AtomicFile.write(try JSONFormat.pretty(record), to: iterationDirectory(t).appendingPathComponent("evaluation.json"))
    }

    public func format(_ s: IterationSummary) -> String {
        var parts = ["iteration \(s.iteration):", "\(s.pairs) pairs of \(s.prompts) prompts (\(s.dropped) dropped)"]
        if let m = s.meanMargin { parts.append(String(format: "judge margin %.3f", m)) }
        if let p = s.meanChosenProbability { parts.append(String(format: "judge P(chosen ≻ rejected) %.3f", p)) }
        if let m = s.finalRewardMargin { parts.append(String(format: "rewards/margins %.3f", m)) }
        if let l = s.finalLoss { parts.append(String(format: "final loss %.4f", l)) }
        if let w = s.winRateVsInitial { parts.append(String(format: "win rate vs π0 %.1f%%", 100 * w)) }
        if let k = s.klFromInitial { parts.append(String(format: "KL(π‖π0) %.2f", k)) }
        if let e = s.containEOSToken { parts.append(String(format: "ended by EOS %.1f%%", 100 * e)) }
        if let a = s.oracleAccuracy, let a0 = s.initialOracleAccuracy {
            parts.append(String(format: "oracle accuracy %.1f%% (π0 %.1f%%)", 100 * a, 100 * a0))
        }
        let timing = IterationStage.allCases.compactMap { k in s.seconds[k.rawValue].map { String(format: "%@ %.1fs", k.rawValue, $0) } }
        if !timing.isEmpty { parts.append("time: " + timing.joined(separator: ", ")) }
        return parts.joined(separator: "  ")
    }

    public var allSummaries: [IterationSummary] { summaries.keys.sorted().map { summaries[$0]! } }
}

/// The policies one iteration uses, each loaded once: π(t−1) samples and, when its weights are
/// float32, is trained in place; the trained π(t) is handed to evaluation when what was saved is
/// exactly what is in memory. A 16-bit π(t−1) is sampled from in 16 bits and loaded again as float32
/// master weights for training. Every load is timed (`loads`, the iteration summary).
final class IterationModels {
    private var policies: [String: ChatModel] = [:]
    private(set) var loads: [ModelLoad] = []

    static func key(_ directory: URL) -> String { directory.standardizedFileURL.path }

    func record(_ model: String, _ stage: IterationStage, _ seconds: Double) {
        loads.append(ModelLoad(model: model, stage: stage.rawValue, seconds: seconds))
    }

    func timed<T>(_ model: String, _ stage: IterationStage, _ load: () throws -> T) throws -> T {
        let t0 = Date()
        let value = try load()
        record(model, stage, Date().timeIntervalSince(t0))
        return value
    }

    /// The policy at `directory`, loaded frozen (16-bit weights stay 16-bit) the first time.
    func policy(_ directory: URL, label: String, for stage: IterationStage) throws -> ChatModel {
        if let m = policies[Self.key(directory)] { return m }
        let m = try timed(label, stage) { try ChatModel(directory: directory, frozen: true) }
        policies[Self.key(directory)] = m
        return m
    }

    /// Keeps π(t−1) loaded through judging, for training, when it is float32 and its weights and the
    /// judge's files together take at most half of this machine's memory; else releases it first.
    /// With LoRA a 16-bit π(t−1) is kept too: it is the frozen base training puts the adapter on.
    func keepForTraining(_ directory: URL, besideJudge judge: [URL], lora: Bool = false) {
        guard let m = policies[Self.key(directory)] else { return }
        if (!m.model.isFloat32 && !lora) || judge.map(Self.fileBytes).reduce(m.model.weightBytes, MemoryPlan.sum) > MemoryBudget.physicalBytes / 2 { release(directory) }
    }

    /// Hands the loaded policy over (for training in place) and forgets it; nil when it is not loaded
    /// or, for `trainable`, not float32.
    func take(_ directory: URL, trainable: Bool) -> ChatModel? {
        guard let m = policies.removeValue(forKey: Self.key(directory)) else { return nil }
        return !trainable || m.model.isFloat32 ? m : nil
    }

    /// The bytes of a model's files (Int.max when they cannot be read).
    static func fileBytes(_ directory: URL) -> Int {
        ((try? ModelDirectory.describe(directory))?.files.map(\.bytes) ?? [Int.max]).reduce(0, MemoryPlan.sum)
    }

    /// Whether `kept` (the judge, the reference) may stay loaded while the policy trains: their files
    /// plus 8 bytes per byte of the policy's files (float32 weights, gradients and two moments of a
    /// 16-bit checkpoint) take at most half of this machine's memory.
    static func fitBesideTraining(_ kept: [URL], policy: URL) -> Bool {
        kept.map(fileBytes).reduce(MemoryPlan.product(fileBytes(policy), 8), MemoryPlan.sum) <= MemoryBudget.physicalBytes / 2
    }

    func adopt(_ model: ChatModel, as directory: URL) { policies[Self.key(directory)] = model }
    func release(_ directory: URL) { policies[Self.key(directory)] = nil }
    func releasePolicies() { policies = [:] }
}

/// Programmatic response oracles that evaluation may name (the demo world registers its own).
public protocol ResponseOracle {
    /// 1 for a correct / best response, 0 for a wrong one (graded oracles may return values between).
    func score(prompt: PromptInput, response: String) -> Double
}

/// The oracles recipes may name in `evaluation.oracle`, registered by the programs that provide them
/// (the demo world registers "sort-digits"). Registration and lookup are thread-safe.
public enum Oracles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var registry: [String: any ResponseOracle] = [:]
    public static func register(_ name: String, _ oracle: any ResponseOracle) { lock.withLock { registry[name] = oracle } }
    public static func named(_ name: String) -> (any ResponseOracle)? { lock.withLock { registry[name] } }
    public static var names: [String] { lock.withLock { registry.keys.sorted() } }
}
