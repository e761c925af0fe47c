// A recipe: the resolved, validated description of one iterative-DPO run (or a sweep of runs),
// loaded from YAML by `Recipe.load(url:)` (see RecipeValidation.swift for the schema checks).
// Holds absolute paths and every default filled in; maps onto the modules' settings types; compares
// itself with another recipe key by key; expands sweeps; writes itself as canonical JSON.

import Foundation
import Checkpoints
import Generation
import Llama
import Optimization
import Preference
import Support

/// A fully resolved recipe. Every path is absolute; every optional setting has its default.
/// Coding keys are the YAML keys (snake_case), so the canonical JSON reads like the recipe.
public struct Recipe: Codable, Equatable, Sendable {
    public var run: RunSection
    /// Model directory of the initial policy π0 (contains config.json).
    public var policy: String
    /// Which model the DPO reference is: the initial policy π0, or the previous iteration's π(t−1).
    public var reference: ReferenceChoice = .initial
    public var judge: JudgeSection
    public var prompts: PromptSection
    /// Number of generate → judge → train iterations.
    public var iterations: Int = 3
    public var generation = GenerationSection()
    public var pairs = PairSection()
    public var training = TrainingSection()
    public var evaluation: EvaluationSection? = nil
    /// Grid of values for `idpo sweep`; nil for a plain run (and in every child of `sweepPoints()`).
    public var sweep: SweepSection? = nil

    public init(run: RunSection, policy: String, judge: JudgeSection, prompts: PromptSection) {
        self.run = run; self.policy = policy; self.judge = judge; self.prompts = prompts
    }

    // MARK: Sections

    public struct RunSection: Codable, Equatable, Sendable {
        /// Run name, `[A-Za-z0-9._-]+` in a recipe (sweep children add `/key=value,…`).
        public var name: String
        /// Absolute folder that holds run directories.
        public var outputRoot: String
        /// Seeds prompt splitting, sampling and the training order.
        public var seed: UInt64 = 42
        public init(name: String, outputRoot: String, seed: UInt64 = 42) {
            self.name = name; self.outputRoot = outputRoot; self.seed = seed
        }
        /// The run directory: `output_root/name`.
        public var directory: URL { URL(fileURLWithPath: outputRoot).appendingPathComponent(name) }
        enum CodingKeys: String, CodingKey { case name, outputRoot = "output_root", seed }
    }

    public enum ReferenceChoice: String, Codable, CaseIterable, Sendable { case initial, previous }

    public struct JudgeSection: Codable, Equatable, Sendable {
        /// Model directory of the judge.
        public var model: String
        /// What kind of preference model the judge is (REFERENCE §2, §3).
        public var kind: JudgeKind = .pairwise
        /// How the k responses are ranked; `scores` for reward/gpm judges, a tournament for pairwise.
        public var ranking: RankingMethod = .knockout
        /// Softmax temperature of the pairwise A/B logits.
        public var temperature = JudgeSettings().temperature
        /// GPM temperature τ in P(i ≻ j) = σ(s / τ).
        public var tau = JudgeSettings().tau
        /// Which BOS strings the judge removes from its rendered input: every one (`all`, RLHFlow's
        /// `.replace(bos, "")`, the default when absent) or only a leading one (`leading`, for chat
        /// templates whose BOS token is also their turn marker, e.g. ChatML's <|im_start|>).
        public var stripBOS: BOSStripping?
        /// How a GPM judge reads the conversation: `ranker` (GPO's ranker, the default when absent) or
        /// `example` (the GPM repository's gpm_example_usage.py); see `GPMInput`.
        public var gpmInput: GPMInput?
        /// A command judge's program and arguments (`kind: command`), run in `workingDirectory`.
        public var command: [String]?
        /// Where a command judge runs (default: the recipe's folder); relative program paths resolve there.
        public var workingDirectory: String?
        /// A serving engine that answers for a pairwise judge (its next-token log-probs of "A" and "B").
        public var engine: RemoteEngineSettings?
        enum CodingKeys: String, CodingKey {
            case model, kind, ranking, temperature, tau, stripBOS = "strip_bos", gpmInput = "gpm_input", command
            case workingDirectory = "working_directory", engine
        }
        public init(model: String, kind: JudgeKind = .pairwise, ranking: RankingMethod? = nil) {
            self.model = model; self.kind = kind
            self.ranking = ranking ?? JudgeSettings.defaultRanking(for: kind)
        }
    }

    public struct PromptSection: Codable, Equatable, Sendable {
        /// One prompt file split into `iterations` disjoint parts by a seeded shuffle (remainder kept).
        public var file: String? = nil
        /// One prompt file per iteration.
        public var files: [String]? = nil
        /// Prompts longer than this (in policy tokens, after the chat template) are skipped.
        public var maxPromptTokens = GenerationStageSettings().maxPromptTokens
        public init(file: String? = nil, files: [String]? = nil, maxPromptTokens: Int = GenerationStageSettings().maxPromptTokens) {
            self.file = file; self.files = files; self.maxPromptTokens = maxPromptTokens
        }
        enum CodingKeys: String, CodingKey { case file, files, maxPromptTokens = "max_prompt_tokens" }
    }

    /// Defaults: `GenerationStageSettings`'.
    public struct GenerationSection: Codable, Equatable, Sendable {
        /// Samples per prompt.
        public var k = GenerationStageSettings().samplesPerPrompt
        public var temperature = GenerationStageSettings().sampling.temperature
        public var topP = GenerationStageSettings().sampling.topP
        public var topK = GenerationStageSettings().sampling.topK
        public var maxNewTokens = GenerationStageSettings().maxNewTokens
        /// A serving engine to sample through instead of idpo's own (nil: idpo's engine).
        public var engine: RemoteEngineSettings? = nil
        public init() {}
        enum CodingKeys: String, CodingKey {
            case k, temperature, topP = "top_p", topK = "top_k", maxNewTokens = "max_new_tokens", engine
        }
    }

    public struct PairSection: Codable, Equatable, Sendable {
        public var selection = JudgeSettings().selection
        /// λ of `max_min_length_penalty` (score − λ·length).
        public var lengthPenalty = JudgeSettings().lengthPenalty
        public init() {}
        enum CodingKeys: String, CodingKey { case selection, lengthPenalty = "length_penalty" }
    }

    /// Defaults: `TrainerSettings`' (and `TrainStageOptions`' save interval), read off `defaults`.
    public struct TrainingSection: Codable, Equatable, Sendable {
        private static let defaults = TrainerSettings()
        public var loss = defaults.loss.kind
        public var beta = defaults.loss.beta
        public var labelSmoothing = defaults.loss.labelSmoothing
        public var nllWeight = defaults.loss.nllWeight
        public var learningRate = defaults.optimizer.learningRate
        public var optimizer = defaults.optimizer.kind
        public var weightDecay = defaults.optimizer.weightDecay
        public var scheduler = defaults.optimizer.schedule
        public var warmupRatio = defaults.optimizer.warmupRatio
        public var epochs = defaults.epochs
        /// Pairs per optimizer step.
        public var batchSize = defaults.batchSize
        /// Pairs per forward/backward pass.
        public var microBatchSize = defaults.microBatchSize
        public var maxLength = defaults.limits.maxLength
        public var maxPromptLength = defaults.limits.maxPromptLength
        public var maxGradNorm = defaults.optimizer.maxGradNorm
        /// Seconds of training between saves of the resumable state (0: before every update). A save
        /// writes weights and AdamW moments (3× the model), so saving every step of a real model
        /// costs more than the step; the outputs do not depend on it.
        public var saveIntervalSeconds = TrainStageOptions().checkpointSeconds
        /// Train a LoRA adapter instead of every weight (nil: full fine-tuning).
        public var lora: LoRAConfig? = nil
        /// Recompute each layer in backward from its saved input.
        public var activationCheckpointing = defaults.activationCheckpointing
        public init() {}
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = TrainingSection()
            loss = try c.decodeIfPresent(PreferenceLossKind.self, forKey: .loss) ?? d.loss
            beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
            labelSmoothing = try c.decodeIfPresent(Double.self, forKey: .labelSmoothing) ?? d.labelSmoothing
            nllWeight = try c.decodeIfPresent(Double.self, forKey: .nllWeight) ?? d.nllWeight
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
            optimizer = try c.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? d.optimizer
            weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
            scheduler = try c.decodeIfPresent(ScheduleKind.self, forKey: .scheduler) ?? d.scheduler
            warmupRatio = try c.decodeIfPresent(Double.self, forKey: .warmupRatio) ?? d.warmupRatio
            epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
            batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
            microBatchSize = try c.decodeIfPresent(Int.self, forKey: .microBatchSize) ?? d.microBatchSize
            maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? d.maxLength
            maxPromptLength = try c.decodeIfPresent(Int.self, forKey: .maxPromptLength) ?? d.maxPromptLength
            maxGradNorm = try c.decodeIfPresent(Double.self, forKey: .maxGradNorm) ?? d.maxGradNorm
            saveIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .saveIntervalSeconds) ?? d.saveIntervalSeconds
            lora = try c.decodeIfPresent(LoRAConfig.self, forKey: .lora)
            activationCheckpointing = try c.decodeIfPresent(Bool.self, forKey: .activationCheckpointing) ?? d.activationCheckpointing
        }
        enum CodingKeys: String, CodingKey {
            case loss, beta, labelSmoothing = "label_smoothing", nllWeight = "nll_weight"
            case learningRate = "learning_rate", optimizer, weightDecay = "weight_decay", scheduler
            case warmupRatio = "warmup_ratio", epochs, batchSize = "batch_size", microBatchSize = "micro_batch_size"
            case maxLength = "max_length", maxPromptLength = "max_prompt_length", maxGradNorm = "max_grad_norm"
            case saveIntervalSeconds = "save_interval_seconds", lora, activationCheckpointing = "activation_checkpointing"
        }
    }

    public struct EvaluationSection: Codable, Equatable, Sendable {
        /// Held-out prompt file.
        public var prompts: String
        public var maxNewTokens: Int
        /// Name of a programmatic oracle that scores evaluation responses (optional).
        public var oracle: String? = nil
        public init(prompts: String, maxNewTokens: Int, oracle: String? = nil) {
            self.prompts = prompts; self.maxNewTokens = maxNewTokens; self.oracle = oracle
        }
        enum CodingKeys: String, CodingKey { case prompts, maxNewTokens = "max_new_tokens", oracle }
    }

    /// Values to sweep; the grid is their Cartesian product (beta × learning_rate × loss).
    public struct SweepSection: Codable, Equatable, Sendable {
        public var beta: [Double]? = nil
        public var learningRate: [Double]? = nil
        public var loss: [PreferenceLossKind]? = nil
        public init(beta: [Double]? = nil, learningRate: [Double]? = nil, loss: [PreferenceLossKind]? = nil) {
            self.beta = beta; self.learningRate = learningRate; self.loss = loss
        }
        enum CodingKeys: String, CodingKey { case beta, learningRate = "learning_rate", loss }
    }
}

// MARK: - Settings for the modules

extension Recipe {
    /// The trainer's settings: loss, optimizer, schedule, sequence limits, batch sizes, epochs and
    /// the run seed.
    public var trainerSettings: TrainerSettings {
        var s = TrainerSettings()
        s.loss = LossSettings(kind: training.loss, beta: training.beta,
                              labelSmoothing: training.labelSmoothing, nllWeight: training.nllWeight)
        s.optimizer = OptimizerSettings(kind: training.optimizer)
        s.optimizer.learningRate = training.learningRate
        s.optimizer.weightDecay = training.weightDecay
        s.optimizer.schedule = training.scheduler
        s.optimizer.warmupRatio = training.warmupRatio
        s.optimizer.maxGradNorm = training.maxGradNorm
        s.limits = SequenceLimits(maxLength: training.maxLength, maxPromptLength: training.maxPromptLength)
        s.batchSize = training.batchSize
        s.microBatchSize = training.microBatchSize
        s.epochs = training.epochs
        s.activationCheckpointing = training.activationCheckpointing
        s.seed = run.seed
        return s
    }

    /// Temperature, top-p and top-k of the policy's sampling.
    public var samplingParameters: SamplingParameters {
        SamplingParameters(temperature: generation.temperature, topP: generation.topP, topK: generation.topK)
    }

    /// The generation stage's settings: k, sampling, the new-token and prompt limits.
    public var generationSettings: GenerationStageSettings {
        var s = GenerationStageSettings()
        s.samplesPerPrompt = generation.k
        s.sampling = samplingParameters
        s.maxNewTokens = generation.maxNewTokens
        s.maxPromptTokens = prompts.maxPromptTokens
        return s
    }

    /// The judge's settings: kind, temperatures, BOS stripping, pair selection.
    public var judgeSettings: JudgeSettings {
        var s = JudgeSettings()
        s.kind = judge.kind; s.temperature = judge.temperature; s.tau = judge.tau
        s.stripBOS = judge.stripBOS ?? s.stripBOS
        s.gpmInput = judge.gpmInput ?? s.gpmInput
        s.selection = pairs.selection; s.lengthPenalty = pairs.lengthPenalty
        return s
    }

    public var policyURL: URL { URL(fileURLWithPath: policy, isDirectory: true) }
    /// The judge's model directory, or a command judge's working directory.
    public var judgeURL: URL { URL(fileURLWithPath: judge.kind == .command ? (judge.workingDirectory ?? ".") : judge.model, isDirectory: true) }
    /// The judge's model, for memory planning (none for a command judge).
    public var judgeModelURLs: [URL] { judge.kind == .command ? [] : [judgeURL] }

    /// The prompt files as given: `[file]` for a file to split, or one per iteration.
    public var promptFileURLs: [URL] {
        (prompts.files ?? prompts.file.map { [$0] } ?? []).map { URL(fileURLWithPath: $0) }
    }
}

// MARK: - Loading

extension Recipe {
    /// Reads, validates and resolves a YAML recipe. Throws the first `RecipeError` in file order.
    public static func load(url: URL) throws -> Recipe {
        let (recipe, errors) = diagnose(url: url)
        if let first = errors.first { throw first }
        guard let recipe else { throw RecipeError(file: url.relativePath, message: "the recipe could not be read") }
        return recipe
    }

    /// Like `load(url:)` but returns every problem found (sorted by line), for `idpo validate`.
    /// Cross-field checks run only when every field on its own is valid.
    public static func diagnose(url: URL) -> (recipe: Recipe?, errors: [RecipeError]) {
        let display = url.relativePath
        let text: String
        let missing = !FileManager.default.fileExists(atPath: url.path)
        if missing {
            return (nil, [RecipeError(file: display, message: "recipe file not found", hint: "looked for \(url.standardizedFileURL.path)")])
        }
        do {
            // A recipe is a few kB; a megabyte is a wrong file (or a device), refused before reading it.
            let data = try FileRead.data(at: url, what: "the recipe", maxBytes: 1 << 20)
            guard let decoded = String(data: data, encoding: .utf8) else {
                return (nil, [RecipeError(file: display, message: "the recipe is not UTF-8 text")])
            }
            text = decoded
        } catch let error as FileError {
            return (nil, [RecipeError(file: display, message: error.reason)])
        } catch {
            return (nil, [RecipeError(file: display, message: "cannot read the recipe: \(error)")])
        }
        return parse(yaml: text, file: display, folder: url.standardizedFileURL.deletingLastPathComponent())
    }

    /// Validates YAML text as if it were a file named `file` in `folder` (relative paths resolve there).
    public static func parse(yaml: String, file: String, folder: URL) -> (recipe: Recipe?, errors: [RecipeError]) {
        var reader = RecipeReader(file: file, folder: folder)
        let recipe = reader.read(yaml: yaml)
        let errors = reader.sortedErrors
        return (errors.isEmpty ? recipe : nil, errors)
    }
}

// MARK: - Comparing, sweeping, writing

extension Recipe {
    /// Canonical JSON of the resolved recipe: sorted keys, pretty-printed, stable across runs.
    /// Written into a run directory so a later invocation can compare recipes.
    public func canonicalJSON() throws -> Data {
        try JSONFormat.pretty(self)
    }

    /// Reads a recipe written by `canonicalJSON()`.
    public static func fromCanonicalJSON(_ data: Data) throws -> Recipe {
        try JSONFormat.decoder.decode(Recipe.self, from: data)
    }

    /// Every leaf setting as (dotted key path, compact JSON value), sorted by key path.
    /// Lists are leaves (`prompts.files`, `sweep.beta`); absent optionals are absent.
    public func flattened() -> [(key: String, value: String)] {
        guard let tree = try? JSONFormat.tree(self) else { return [] }
        var out: [(String, String)] = []
        tree.flatten(prefix: "", into: &out)
        return out.sorted { $0.0 < $1.0 }
    }

    /// Key paths whose resolved values differ between `other` and this recipe (a key present in
    /// only one of them counts), sorted. Empty when the two recipes are equal.
    public func changedKeys(from other: Recipe) -> [String] {
        let mine = Dictionary(flattened(), uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(other.flattened(), uniquingKeysWith: { a, _ in a })
        return Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }.sorted()
    }

    /// The sweep grid as child recipes (beta × learning_rate × loss, in the order listed), each
    /// without a sweep section and named `name/beta=0.1,lr=5e-07,loss=ipo` (only swept keys
    /// appear). A recipe without a sweep yields itself.
    public func sweepPoints() -> [Recipe] {
        guard let sweep else { return [self] }
        var points: [(recipe: Recipe, labels: [String])] = [(self, [])]
        if let betas = sweep.beta {
            points = points.flatMap { p in betas.map { v in
                var r = p.recipe; r.training.beta = v; return (r, p.labels + ["beta=\(v)"]) } }
        }
        if let rates = sweep.learningRate {
            points = points.flatMap { p in rates.map { v in
                var r = p.recipe; r.training.learningRate = v; return (r, p.labels + ["lr=\(v)"]) } }
        }
        if let losses = sweep.loss {
            points = points.flatMap { p in losses.map { v in
                var r = p.recipe; r.training.loss = v; return (r, p.labels + ["loss=\(v.rawValue)"]) } }
        }
        return points.map { p in
            var r = p.recipe
            r.sweep = nil
            if !p.labels.isEmpty { r.run.name = run.name + "/" + p.labels.joined(separator: ",") }
            return r
        }
    }

    /// A readable listing of the resolved recipe, one `key.path: value` per line, in recipe order.
    public var summary: String {
        let order = ["run", "policy", "reference", "judge", "prompts", "iterations", "generation", "pairs",
                     "training", "evaluation", "sweep"]
        func rank(_ key: String) -> Int {
            let head = String(key.prefix { $0 != "." })
            return order.firstIndex(of: head) ?? order.count
        }
        let entries = flattened().enumerated().sorted {
            (rank($0.element.key), $0.offset) < (rank($1.element.key), $1.offset)
        }
        return entries.map { "\($0.element.key): \($0.element.value)" }.joined(separator: "\n")
    }
}

extension JSONValue {
    /// A leaf as recipe listings show it (strings unquoted).
    var recipeText: String {
        switch self {
        case .object(let o): return "{" + o.keys.sorted().map { "\($0): \(o[$0]!.recipeText)" }.joined(separator: ", ") + "}"
        case .array(let a): return "[" + a.map(\.recipeText).joined(separator: ", ") + "]"
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return "\(d)"
        case .bool(let b): return String(b)
        case .null: return "null"
        }
    }

    func flatten(prefix: String, into out: inout [(String, String)]) {
        if case .object(let o) = self {
            for (k, v) in o { v.flatten(prefix: prefix.isEmpty ? k : prefix + "." + k, into: &out) }
        } else {
            out.append((prefix, recipeText))
        }
    }
}
