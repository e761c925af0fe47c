// Strict validation of a YAML recipe, walking Yams' Node tree so that every error carries the
// line, column and key path of what is wrong: unknown keys (with "did you mean"), duplicate keys,
// wrong types, out-of-range values, unknown enum values, missing files, and cross-field rules.
// Nothing is decoded with Codable: that would lose the positions and accept surprises.

import Foundation
import Yams
import Checkpoints
import Generation
import Llama
import Optimization
import Preference

/// Walks one recipe document, collecting errors; `read(yaml:)` returns the resolved recipe.
struct RecipeReader {
    /// The recipe file as the user named it (used in messages).
    let file: String
    /// Folder of the recipe: relative paths resolve against it.
    let folder: URL
    private(set) var errors: [RecipeError] = []
    /// Position of every key path's value that the file gives (mappings included), for cross-field errors.
    private var marks: [String: Mark] = [:]

    init(file: String, folder: URL) { self.file = file; self.folder = folder }

    /// Errors in file order (file-level ones first).
    var sortedErrors: [RecipeError] {
        errors.enumerated().sorted {
            ($0.element.line ?? 0, $0.element.column ?? 0, $0.offset) < ($1.element.line ?? 0, $1.element.column ?? 0, $1.offset)
        }.map(\.element)
    }

    // MARK: Schema

    static let topKeys = ["run", "policy", "reference", "judge", "prompts", "iterations", "generation", "pairs",
                          "training", "evaluation", "sweep"]
    static let sectionKeys: [String: [String]] = [
        "run": ["name", "output_root", "seed"],
        "judge": ["model", "kind", "ranking", "temperature", "tau", "strip_bos", "gpm_input", "command", "working_directory", "engine"],
        "prompts": ["file", "files", "max_prompt_tokens"],
        "generation": ["k", "temperature", "top_p", "top_k", "max_new_tokens", "engine"],
        "engine": ["type", "base_url", "model", "api_key_env", "max_concurrency", "timeout_s", "attempts", "server", "reload_command",
                   "staleness_tolerance", "export_type", "working_directory"],
        "pairs": ["selection", "length_penalty"],
        "training": ["loss", "beta", "label_smoothing", "nll_weight", "learning_rate", "optimizer", "weight_decay",
                     "scheduler", "warmup_ratio", "epochs", "batch_size", "micro_batch_size", "max_length",
                     "max_prompt_length", "max_grad_norm", "save_interval_seconds", "lora", "activation_checkpointing"],
        "lora": ["r", "alpha", "dropout", "target_modules", "use_rslora"],
        "evaluation": ["prompts", "max_new_tokens", "oracle"],
        "sweep": ["beta", "learning_rate", "loss"],
    ]

    // MARK: The document

    /// Deepest nesting a recipe may have (a real one nests 3 levels; the YAML parser recurses per level).
    static let maxNesting = 64

    /// The first line nesting deeper than `maxNesting` — by flow brackets ([ {) outside quotes and
    /// comments, or by indentation — checked before the YAML parser sees (and recurses into) it.
    static func tooDeep(_ yaml: String) -> (line: Int, column: Int)? {
        var line = 1, column = 0, depth = 0
        var indents: [Int] = []
        var quote: Character? = nil, comment = false, atLineStart = true, indent = 0
        for ch in yaml {
            column += 1
            if ch == "\n" {
                // (a quote left open by an apostrophe in a plain scalar ends with its line)
                line += 1; column = 0; comment = false; atLineStart = true; indent = 0; quote = nil
                continue
            }
            if atLineStart {
                if ch == " " || ch == "-" { indent += 1; continue }
                atLineStart = false
                if ch != "#" {
                    while let last = indents.last, last >= indent { indents.removeLast() }
                    indents.append(indent)
                    if indents.count > maxNesting { return (line, column) }
                }
            }
            if comment { continue }
            if let q = quote { if ch == q { quote = nil }; continue }
            switch ch {
            case "#": comment = true
            case "'", "\"": quote = ch
            case "[", "{":
                depth += 1
                if depth > maxNesting { return (line, column) }
            case "]", "}": depth = max(0, depth - 1)
            default: break
            }
        }
        return nil
    }

    mutating func read(yaml: String) -> Recipe? {
        if let at = Self.tooDeep(yaml) {
            fail(nil, at: at, "the recipe nests deeper than \(Self.maxNesting) levels", hint: "a recipe has a handful of sections, each a map of plain values")
            return nil
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            reportSyntax(error)
            return nil
        } catch {
            fail(nil, at: Mark?.none, "the recipe is not valid YAML (\(error))")
            return nil
        }
        guard let root, !(root.scalar.map { $0.string.isEmpty } ?? false) else {
            fail(nil, at: Mark?.none, "the recipe is empty", hint: "a recipe needs at least run.name, policy, judge.model and prompts")
            return nil
        }
        guard let top = section(root, path: "", keys: Self.topKeys) else { return nil }

        // run
        var run = Recipe.RunSection(name: "", outputRoot: resolve("runs"))
        if let s = requiredSection(top, "run", hint: "start the recipe with a run section holding the run's name (run: {name: my-run})") {
            if let name = string(s, "name", required: true,
                                 hint: "name the run; its outputs go to run.output_root/name") {
                if name.range(of: "^[A-Za-z0-9._-]+$", options: .regularExpression) == nil || name == "." || name == ".." {
                    fail("run.name", at: s.entries["name"]?.value.mark,
                         "run.name '\(name)' may contain only letters, digits, '.', '_' and '-'",
                         hint: "the name becomes a folder under run.output_root; e.g. \(suggestedName(name))")
                } else { run.name = name }
            }
            if let root = string(s, "output_root") { run.outputRoot = resolve(root) }
            if let seed = integer(s, "seed", at: "≥ 0", { $0 >= 0 }) { run.seed = UInt64(seed) }
        }

        // policy, reference
        let policy = modelDirectory(top, "policy", needsConfig: true)
        let reference = enumValue(top, "reference", Recipe.ReferenceChoice.self) ?? .initial

        // judge
        var judge = Recipe.JudgeSection(model: "")
        if let s = requiredSection(top, "judge", hint: "add a judge section naming the preference model (judge: {model: path/to/model})") {
            judge.kind = enumValue(s, "kind", JudgeKind.self) ?? .pairwise
            if judge.kind == .command {
                // a program judge: no model; its command runs in working_directory (default: this folder)
                if let node = s.entries["model"] {
                    fail("judge.model", at: node.key.mark, "judge.model does not apply to a command judge (kind: command)",
                         hint: "remove model; the program named by judge.command scores the responses")
                }
                if s.entries["command"] == nil {
                    failMissing(s, "command", hint: "name the program and its arguments, e.g. command: [python3, score.py]")
                } else if let node = s.entries["command"]?.value {
                    let path = s.child("command")
                    let items: [String]? = node.scalar != nil ? stringValue(node, path: path).map { [$0] }
                        : list(s, "command") { reader, item, itemPath in reader.stringValue(item, path: itemPath) }
                    if let items {
                        if items.isEmpty || items[0].isEmpty {
                            fail(path, at: node.mark, "judge.command must start with the program to run", hint: "e.g. command: [python3, score.py]")
                        } else { judge.command = items }
                    }
                }
                judge.workingDirectory = string(s, "working_directory").map(resolve) ?? folder.standardizedFileURL.path
            } else {
                judge.model = modelDirectory(s, "model", needsConfig: false) ?? ""
                for key in ["command", "working_directory"] {
                    if let node = s.entries[key] {
                        fail("judge." + key, at: node.key.mark, "judge.\(key) applies to a command judge, but judge.kind is \(judge.kind.rawValue)",
                             hint: "remove \(key), or set judge.kind: command")
                    }
                }
            }
            judge.ranking = enumValue(s, "ranking", RankingMethod.self) ?? JudgeSettings.defaultRanking(for: judge.kind)
            judge.temperature = number(s, "temperature") ?? judge.temperature
            judge.tau = number(s, "tau") ?? judge.tau
            judge.stripBOS = enumValue(s, "strip_bos", BOSStripping.self)
            judge.gpmInput = enumValue(s, "gpm_input", GPMInput.self)
            if let e = optionalSection(s, "engine") { judge.engine = engineSettings(e, path: "judge.engine") }
        }

        // prompts
        var prompts = Recipe.PromptSection()
        if let s = requiredSection(top, "prompts", hint: "add a prompts section naming the prompt file (prompts: {file: data/prompts.jsonl})") {
            let hasFile = s.entries["file"] != nil, hasFiles = s.entries["files"] != nil
            if hasFile && hasFiles {
                fail("prompts.files", at: s.entries["files"]?.key.mark,
                     "prompts gives both file and files; give exactly one of them",
                     hint: "file is split into `iterations` parts; files gives one file per iteration")
            } else if !hasFile && !hasFiles {
                fail("prompts", at: s.mark, "prompts needs file or files",
                     hint: "file: one prompt file split across iterations; files: one prompt file per iteration")
            }
            if hasFile { prompts.file = existingFile(s, "file") }
            if hasFiles { prompts.files = fileList(s, "files") }
            prompts.maxPromptTokens = integer(s, "max_prompt_tokens") ?? prompts.maxPromptTokens
        }
        let iterations = integer(top, "iterations", at: "≥ 1", { $0 >= 1 }) ?? 3

        // generation
        var generation = Recipe.GenerationSection()
        if let s = optionalSection(top, "generation") {
            generation.k = integer(s, "k", at: "≥ 2", { $0 >= 2 },
                                   hint: "pairs need at least two responses per prompt; RLHFlow samples 8") ?? generation.k
            generation.temperature = number(s, "temperature") ?? generation.temperature
            generation.topP = number(s, "top_p") ?? generation.topP
            generation.topK = integer(s, "top_k") ?? generation.topK
            generation.maxNewTokens = integer(s, "max_new_tokens") ?? generation.maxNewTokens
            if let e = optionalSection(s, "engine") { generation.engine = engineSettings(e, path: "generation.engine") }
        }

        // pairs
        var pairs = Recipe.PairSection()
        if let s = optionalSection(top, "pairs") {
            pairs.selection = enumValue(s, "selection", PairSelection.self) ?? pairs.selection
            pairs.lengthPenalty = number(s, "length_penalty") ?? pairs.lengthPenalty
        }

        // training
        var training = Recipe.TrainingSection()
        if let s = optionalSection(top, "training") {
            training.loss = enumValue(s, "loss", PreferenceLossKind.self) ?? training.loss
            training.beta = number(s, "beta") ?? training.beta
            training.labelSmoothing = number(s, "label_smoothing") ?? training.labelSmoothing
            training.nllWeight = number(s, "nll_weight") ?? training.nllWeight
            training.learningRate = number(s, "learning_rate") ?? training.learningRate
            training.optimizer = enumValue(s, "optimizer", OptimizerKind.self) ?? training.optimizer
            training.weightDecay = number(s, "weight_decay") ?? training.weightDecay
            training.scheduler = enumValue(s, "scheduler", ScheduleKind.self) ?? training.scheduler
            training.warmupRatio = number(s, "warmup_ratio") ?? training.warmupRatio
            training.epochs = integer(s, "epochs") ?? training.epochs
            training.batchSize = integer(s, "batch_size") ?? training.batchSize
            training.microBatchSize = integer(s, "micro_batch_size") ?? training.microBatchSize
            training.maxLength = integer(s, "max_length") ?? training.maxLength
            training.maxPromptLength = integer(s, "max_prompt_length") ?? training.maxPromptLength
            training.maxGradNorm = number(s, "max_grad_norm") ?? training.maxGradNorm
            training.saveIntervalSeconds = number(s, "save_interval_seconds", at: "≥ 0", { $0 >= 0 },
                                                  hint: "0 saves the resumable state before every update") ?? training.saveIntervalSeconds
            training.activationCheckpointing = boolean(s, "activation_checkpointing") ?? training.activationCheckpointing
            if let l = optionalSection(s, "lora") {
                var lora = LoRAConfig()
                lora.r = integer(l, "r", at: "≥ 1", { $0 >= 1 }) ?? lora.r
                lora.alpha = number(l, "alpha", at: "> 0", { $0 > 0 }) ?? lora.alpha
                lora.dropout = number(l, "dropout", at: "0 (idpo trains adapters without dropout)", { $0 == 0 },
                                      hint: "leave dropout out or set it to 0") ?? lora.dropout
                lora.useRSLoRA = boolean(l, "use_rslora") ?? lora.useRSLoRA
                if let node = l.entries["target_modules"]?.value {
                    let path = l.child("target_modules")
                    let names: [String]? = node.scalar != nil ? stringValue(node, path: path).map { [$0] }
                        : list(l, "target_modules") { reader, item, itemPath in reader.stringValue(item, path: itemPath) }
                    if let names {
                        do { lora.targetModules = try LoRAConfig.modules(names) } catch {
                            fail(path, at: node.mark, "\(path): \(error)")
                        }
                    }
                }
                training.lora = lora
            }
        }

        // evaluation
        var evaluation: Recipe.EvaluationSection? = nil
        if let s = optionalSection(top, "evaluation") {
            if s.entries["prompts"] == nil {
                failMissing(s, "prompts", hint: "name a held-out prompt file, e.g. prompts: data/eval.jsonl")
            }
            let file = existingFile(s, "prompts")
            let maxNew = integer(s, "max_new_tokens", at: "≥ 1", { $0 >= 1 }) ?? generation.maxNewTokens
            let oracle = string(s, "oracle")
            if let name = oracle, Oracles.named(name) == nil {
                fail(s.child("oracle"), at: s.entries["oracle"]?.value.mark,
                     "unknown oracle '\(name)'", hint: "known oracles: \(Oracles.names.joined(separator: ", ")); or leave the key out")
            }
            evaluation = Recipe.EvaluationSection(prompts: file ?? "", maxNewTokens: maxNew, oracle: oracle)
        }

        // sweep
        var sweep: Recipe.SweepSection? = nil
        if let s = optionalSection(top, "sweep") {
            var grid = Recipe.SweepSection()
            if s.keyCount == 0 {
                fail("sweep", at: s.mark, "sweep lists no keys",
                     hint: "list values for beta, learning_rate or loss, e.g. beta: [0.05, 0.1]; or remove sweep")
            }
            grid.beta = list(s, "beta") { me, node, path in me.numberValue(node, path: path, at: "> 0", { $0 > 0 }) }
            grid.learningRate = list(s, "learning_rate") { me, node, path in
                me.numberValue(node, path: path, at: "> 0", { $0 > 0 })
            }
            grid.loss = list(s, "loss") { me, node, path in me.enumScalar(node, path: path, PreferenceLossKind.self) }
            sweep = grid
        }

        var recipe = Recipe(run: run, policy: policy ?? "", judge: judge, prompts: prompts)
        recipe.reference = reference
        recipe.iterations = iterations
        recipe.generation = generation
        recipe.pairs = pairs
        recipe.training = training
        recipe.evaluation = evaluation
        recipe.sweep = sweep
        // Each setting against its settings type's rules (SettingIssues.swift, StageSettings.swift).
        report(Self.rangeIssues(recipe))
        guard errors.isEmpty else { return nil }
        report(Self.crossFieldIssues(recipe))
        if let sweep { checkSweepValues(recipe, sweep) }
        return errors.isEmpty ? recipe : nil
    }

    // MARK: Cross-field rules

    /// A rule broken by a setting or a combination of settings, reported at its key path.
    typealias Issue = SettingIssue

    /// The settings types' rules for each setting on its own, named by recipe key path.
    static func rangeIssues(_ r: Recipe) -> [Issue] {
        r.trainerSettings.rangeIssues(naming: { "training." + $0 })
            + r.generationSettings.rangeIssues(naming: { ($0 == "max_prompt_tokens" ? "prompts." : "generation.") + $0 })
            + r.judgeSettings.rangeIssues(naming: { ($0 == "length_penalty" ? "pairs." : "judge.") + $0 })
    }

    /// A `…engine` map (`RemoteEngineSettings`): generation's sampling server, or a judge's.
    private mutating func engineSettings(_ e: Section, path: String) -> RemoteEngineSettings {
        if path == "judge.engine" {
            // a judge's server is read, never reloaded or checked for staleness: refuse what would be ignored
            for key in ["reload_command", "staleness_tolerance", "export_type", "working_directory", "max_concurrency"] where e.entries[key] != nil {
                fail("\(path).\(key)", at: e.entries[key]?.key.mark, "\(path).\(key) applies to generation.engine only (a judge's server is read one comparison at a time, never reloaded)",
                     hint: "remove \(key) from judge.engine")
            }
        }
        let type = string(e, "type") ?? "openai"
        if type != "openai" {
            fail(path + ".type", at: e.entries["type"]?.value.mark, "\(path).type '\(type)' is not implemented",
                 hint: "type: openai (vLLM, SGLang and llama-server all speak it)")
        }
        if e.entries["base_url"] == nil { failMissing(e, "base_url", hint: "the server's root URL, e.g. base_url: http://127.0.0.1:8000") }
        var engine = RemoteEngineSettings(baseURL: string(e, "base_url") ?? "")
        if let url = URL(string: engine.baseURL), e.entries["base_url"] != nil, !(["http", "https"].contains(url.scheme ?? "") && url.host != nil) {
            fail(path + ".base_url", at: e.entries["base_url"]?.value.mark, "\(path).base_url '\(engine.baseURL)' is not an http(s) URL",
                 hint: "e.g. http://127.0.0.1:8000")
        }
        engine.server = enumValue(e, "server", ServerKind.self) ?? engine.server
        engine.model = string(e, "model")
        engine.apiKeyEnv = string(e, "api_key_env")
        engine.maxConcurrency = integer(e, "max_concurrency", at: "≥ 1", { $0 >= 1 }) ?? engine.maxConcurrency
        engine.timeoutSeconds = number(e, "timeout_s", at: "> 0", { $0 > 0 }) ?? engine.timeoutSeconds
        engine.attempts = integer(e, "attempts", at: "≥ 1", { $0 >= 1 }) ?? engine.attempts
        engine.stalenessTolerance = number(e, "staleness_tolerance", at: "> 0", { $0 > 0 }) ?? engine.stalenessTolerance
        engine.exportType = enumValue(e, "export_type", GGUFExportType.self) ?? engine.exportType
        engine.workingDirectory = string(e, "working_directory").map(resolve) ?? folder.standardizedFileURL.path
        if let node = e.entries["reload_command"]?.value {
            let path = e.child("reload_command")
            let items: [String]? = node.scalar != nil ? stringValue(node, path: path).map { [$0] }
                : list(e, "reload_command") { reader, item, itemPath in reader.stringValue(item, path: itemPath) }
            if let items {
                if items.first?.isEmpty != false {
                    fail(path, at: node.mark, "\(path) must start with the program to run", hint: "e.g. reload_command: [sh, restart-server.sh]")
                } else {
                    // a relative program path resolves against the recipe's folder
                    var argv = items
                    if argv[0].contains("/") { argv[0] = resolve(argv[0]) }
                    engine.reloadCommand = argv
                }
            }
        }
        return engine
    }

    /// Reports each issue where the file gives its setting, at most one error per key path.
    private mutating func report(_ issues: [Issue]) {
        for issue in issues where !errors.contains(where: { $0.keyPath == issue.setting }) {
            fail(issue.setting, at: locate(issue.setting), issue.message, hint: issue.hint ?? Self.defaultHint(issue.setting))
        }
    }

    /// Rules that involve more than one setting. Run on a recipe whose fields are each valid.
    static func crossFieldIssues(_ r: Recipe) -> [Issue] {
        var issues: [Issue] = []
        let ranking = r.judge.ranking, kind = r.judge.kind
        if kind == .pairwise && ranking == .scores {
            issues.append(Issue(setting: "judge.ranking",
                message: "judge.ranking 'scores' needs a judge that scores each response, but judge.kind is pairwise",
                hint: "with a pairwise judge use knockout, king-of-the-hill or round-robin; or set judge.kind to reward or gpm"))
        }
        if kind != .pairwise && ranking != .scores {
            issues.append(Issue(setting: "judge.ranking",
                message: "judge.ranking '\(ranking.rawValue)' is a pairwise tournament, but a \(kind.rawValue) judge gives one score per response",
                hint: "use ranking: scores (the default for reward and gpm judges)"))
        }
        if r.judge.engine != nil && kind != .pairwise && kind != .reward {
            issues.append(Issue(setting: "judge.engine",
                message: "judge.engine reads a pairwise A/B judge or a scalar reward model through a server; a \(kind.rawValue) judge through one is not implemented",
                hint: "remove judge.engine (idpo runs the judge), or use a pairwise or reward judge"))
        }
        if let input = r.judge.gpmInput, kind != .gpm {
            issues.append(Issue(setting: "judge.gpm_input",
                message: "judge.gpm_input '\(input.rawValue)' applies to a general preference model, but judge.kind is \(kind.rawValue)",
                hint: "remove gpm_input, or set judge.kind: gpm"))
        }
        if r.judge.gpmInput == .example, let strip = r.judge.stripBOS {
            issues.append(Issue(setting: "judge.strip_bos",
                message: "judge.strip_bos '\(strip.rawValue)' has no effect with judge.gpm_input 'example', which keeps the BOS",
                hint: "remove strip_bos, or use gpm_input: ranker (which removes the BOS string)"))
        }
        // (SGLang is told through /update_weights_from_disk; a LoRA π(t) is loaded at run time by vLLM and SGLang)
        if let engine = r.generation.engine, r.iterations > 1, engine.reloadCommand == nil, engine.server != .sglang,
           !(engine.server == .vllm && r.training.lora != nil) {
            issues.append(Issue(setting: "generation.engine.reload_command",
                message: "generation.engine has no reload_command, so the \(engine.server.rawValue) server would keep serving π0 after iteration 1 (\(r.iterations) iterations)",
                hint: "give a command that makes the server serve $IDPO_POLICY (llama-server: restart it on $IDPO_POLICY_GGUF), or run one iteration\(engine.server == .vllm ? "; or train a LoRA adapter (training.lora), which vLLM loads at run time" : "")"))
        }
        if let files = r.prompts.files, files.count != r.iterations {
            issues.append(Issue(setting: "prompts.files",
                message: "prompts.files lists \(files.count) file\(files.count == 1 ? "" : "s") but iterations is \(r.iterations)",
                hint: "give one prompt file per iteration, or use prompts.file to split one file into \(r.iterations) parts"))
        }
        let scoredRanking = ranking == .roundRobin || ranking == .scores
        if r.pairs.selection != .maxMin && !scoredRanking {
            issues.append(Issue(setting: "pairs.selection",
                message: "pairs.selection '\(r.pairs.selection.rawValue)' needs a score for every response, which judge.ranking '\(ranking.rawValue)' does not give",
                hint: "use judge.ranking round-robin (pairwise judge) or a reward/gpm judge, or selection max_min"))
        }
        if r.pairs.lengthPenalty > 0 && r.pairs.selection != .maxMinLengthPenalty {
            issues.append(Issue(setting: "pairs.length_penalty",
                message: "pairs.length_penalty applies only to selection max_min_length_penalty, not '\(r.pairs.selection.rawValue)'",
                hint: "set pairs.selection: max_min_length_penalty, or remove length_penalty"))
        }
        issues += lossIssues(r)
        let t = r.training
        let needed = t.maxPromptLength + r.generation.maxNewTokens
        if t.maxLength < needed {
            issues.append(Issue(setting: "training.max_length",
                message: "training.max_length (\(t.maxLength)) must be ≥ training.max_prompt_length + generation.max_new_tokens (\(t.maxPromptLength) + \(r.generation.maxNewTokens) = \(needed)), else responses would be cut silently",
                hint: "raise training.max_length to \(needed), or lower training.max_prompt_length or generation.max_new_tokens"))
        }
        return issues + r.trainerSettings.combinationIssues(naming: { "training." + $0 })
    }

    /// Rules tying training.loss to the judge and to label smoothing (also checked per swept loss).
    static func lossIssues(_ r: Recipe) -> [Issue] {
        var issues: [Issue] = []
        let loss = r.training.loss
        if loss == .sppo && r.judge.ranking != .roundRobin {
            issues.append(Issue(setting: "training.loss",
                message: "training.loss 'sppo' needs round-robin preference probabilities, but judge.ranking is \(r.judge.ranking.rawValue)",
                hint: "set judge.kind: pairwise and judge.ranking: round-robin, or use sppo_hard"))
        }
        if loss == .gpo && r.judge.kind != .gpm {
            issues.append(Issue(setting: "training.loss",
                message: "training.loss 'gpo' needs general-preference scores, but judge.kind is \(r.judge.kind.rawValue)",
                hint: "set judge.kind: gpm with a general preference model"))
        }
        return issues + r.trainerSettings.loss.combinationIssues(naming: { "training." + $0 })
    }

    /// Each swept value must also pass the rules it takes part in; reported at the list element.
    private mutating func checkSweepValues(_ base: Recipe, _ sweep: Recipe.SweepSection) {
        for (i, loss) in (sweep.loss ?? []).enumerated() {
            var r = base
            r.training.loss = loss
            for issue in Self.lossIssues(r) {
                let path = "sweep.loss[\(i)]"
                fail(path, at: locate(path), "\(path) '\(loss.rawValue)' is invalid here: \(issue.message)", hint: issue.hint)
            }
        }
    }

    // MARK: Sections

    /// A YAML mapping whose keys have been checked against the schema.
    struct Section {
        let path: String
        let mark: Mark?
        var entries: [String: (key: Node, value: Node)] = [:]
        /// Keys the mapping has, valid or not.
        var keyCount = 0
        func child(_ key: String) -> String { path.isEmpty ? key : path + "." + key }
        /// "in training", or "at the top level".
        var place: String { path.isEmpty ? "at the top level" : "in \(path)" }
    }

    /// Checks that `node` is a mapping with string keys from `keys`, no unknown and no duplicate keys.
    private mutating func section(_ node: Node, path: String, keys: [String]) -> Section? {
        guard case .mapping(let mapping) = node else {
            typeError(path.isEmpty ? nil : path, node, expected: "a mapping of keys",
                      label: path.isEmpty ? "the recipe" : path,
                      hint: path.isEmpty ? "a recipe is a mapping of keys such as run, policy, judge and prompts" : "write the keys of \(path) on indented lines below it")
            return nil
        }
        var section = Section(path: path, mark: node.mark)
        section.keyCount = mapping.count
        if !path.isEmpty { marks[path] = node.mark }
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode, keyNode.tag.description != Tag.Name.null.rawValue else {
                fail(path.isEmpty ? nil : path, at: keyNode.mark, "keys \(section.place) must be plain names",
                     hint: "known keys: \(keys.joined(separator: ", "))")
                continue
            }
            let key = scalar.string
            let child = section.child(key)
            if let first = section.entries[key] {
                fail(child, at: keyNode.mark, "duplicate key '\(key)' \(section.place)",
                     hint: "'\(key)' is already given at line \(first.key.mark?.line ?? 0); keep one of them")
                continue
            }
            guard keys.contains(key) else {
                reportUnknownKey(key, in: section, known: keys, at: keyNode.mark)
                continue
            }
            section.entries[key] = (keyNode, value)
            marks[child] = value.mark
        }
        return section
    }

    private mutating func reportUnknownKey(_ key: String, in section: Section, known: [String], at mark: Mark?) {
        var message = "unknown key '\(key)' \(section.place)"
        var hint = "known keys \(section.place): \(known.joined(separator: ", "))"
        if section.path == "sweep" {
            if let guess = Self.closest(to: key, in: known) { message += " — did you mean '\(guess)'?" }
            else { message += ": only \(known.joined(separator: ", ")) can be swept" }
        } else if let home = Self.sectionHolding(key), home != section.path {
            if home.isEmpty {
                message += " — '\(key)' is a top-level key"
                hint = "un-indent '\(key)' so it is not inside \(section.path)"
            } else {
                message += " — did you mean '\(home).\(key)'?"
                hint = "'\(key)' belongs in the \(home) section"
            }
        } else if let guess = Self.closest(to: key, in: known) {
            message += " — did you mean '\(guess)'?"
        }
        fail(section.child(key), at: mark, message, hint: hint)
    }

    /// The section (or "" for the top level) that defines `key`, when it is not ambiguous.
    static func sectionHolding(_ key: String) -> String? {
        let homes = sectionKeys.filter { $0.key != "sweep" && $0.value.contains(key) }.map(\.key)
        if Self.topKeys.contains(key) { return homes.isEmpty ? "" : nil }
        return homes.count == 1 ? homes[0] : nil
    }

    private mutating func requiredSection(_ parent: Section, _ key: String, hint: String) -> Section? {
        guard let entry = parent.entries[key] else { failMissing(parent, key, hint: hint); return nil }
        return section(entry.value, path: parent.child(key), keys: Self.sectionKeys[key] ?? [])
    }

    private mutating func optionalSection(_ parent: Section, _ key: String) -> Section? {
        guard let entry = parent.entries[key] else { return nil }
        return section(entry.value, path: parent.child(key), keys: Self.sectionKeys[key] ?? [])
    }

    private mutating func failMissing(_ parent: Section, _ key: String, hint: String?) {
        let path = parent.child(key)
        fail(path, at: parent.mark.map { ($0.line, $0.column) } ?? (1, 1), "\(path) is required", hint: hint)
    }

    // MARK: Values

    /// Any non-null scalar as text (YAML's `123` or `yes` is fine where a name is expected).
    private mutating func string(_ s: Section, _ key: String, required: Bool = false, hint: String? = nil) -> String? {
        guard let node = s.entries[key]?.value else {
            if required { failMissing(s, key, hint: hint) }
            return nil
        }
        return stringValue(node, path: s.child(key))
    }

    private mutating func stringValue(_ node: Node, path: String) -> String? {
        guard case .scalar(let scalar) = node, node.tag.description != Tag.Name.null.rawValue else {
            typeError(path, node, expected: "a string"); return nil
        }
        return scalar.string
    }

    /// true or false.
    private mutating func boolean(_ s: Section, _ key: String) -> Bool? {
        guard let node = s.entries[key]?.value else { return nil }
        guard case .scalar(let scalar) = node, node.tag.description == Tag.Name.bool.rawValue, let value = Bool.construct(from: scalar) else {
            typeError(s.child(key), node, expected: "true or false"); return nil
        }
        return value
    }

    /// A number whose range the settings types check (`rangeIssues`).
    private mutating func number(_ s: Section, _ key: String) -> Double? { number(s, key, at: "", { _ in true }) }

    private mutating func number(_ s: Section, _ key: String, at rule: String, _ ok: (Double) -> Bool,
                                 hint: String? = nil) -> Double? {
        guard let node = s.entries[key]?.value else { return nil }
        return numberValue(node, path: s.child(key), at: rule, ok, hint: hint)
    }

    /// A finite number (integers welcome) satisfying `ok`; `rule` says what `ok` demands.
    fileprivate mutating func numberValue(_ node: Node, path: String, at rule: String, _ ok: (Double) -> Bool,
                                          hint: String? = nil) -> Double? {
        let tag = node.tag.description
        var value: Double? = nil
        if case .scalar(let scalar) = node {
            if tag == Tag.Name.int.rawValue { value = Int.construct(from: scalar).map(Double.init) ?? Double.construct(from: scalar) }
            if tag == Tag.Name.float.rawValue { value = Double.construct(from: scalar) }
        }
        guard let value else { typeError(path, node, expected: "a number"); return nil }
        let raw = node.scalar?.string ?? ""
        guard value.isFinite else {
            fail(path, at: node.mark, "\(path) must be a finite number (got \(raw))", hint: hint); return nil
        }
        guard ok(value) else {
            fail(path, at: node.mark, "\(path) must be \(rule) (got \(raw))", hint: hint ?? Self.defaultHint(path)); return nil
        }
        return value
    }

    /// A whole number whose range the settings types check (`rangeIssues`).
    private mutating func integer(_ s: Section, _ key: String) -> Int? { integer(s, key, at: "", { _ in true }) }

    private mutating func integer(_ s: Section, _ key: String, at rule: String, _ ok: (Int) -> Bool,
                                  hint: String? = nil) -> Int? {
        guard let node = s.entries[key]?.value else { return nil }
        let path = s.child(key)
        let tag = node.tag.description
        guard case .scalar(let scalar) = node, tag == Tag.Name.int.rawValue || tag == Tag.Name.float.rawValue else {
            typeError(path, node, expected: "a whole number"); return nil
        }
        guard tag == Tag.Name.int.rawValue, let value = Int.construct(from: scalar) else {
            let whole = Double.construct(from: scalar).map { $0.isFinite && $0 == $0.rounded() } ?? false
            fail(path, at: node.mark, "\(path) must be a whole number (got \(scalar.string))",
                 hint: whole ? "write it without a decimal point or exponent" : hint ?? Self.defaultHint(path))
            return nil
        }
        guard ok(value) else {
            fail(path, at: node.mark, "\(path) must be \(rule) (got \(scalar.string))", hint: hint ?? Self.defaultHint(path))
            return nil
        }
        return value
    }

    private mutating func enumValue<E: RawRepresentable & CaseIterable>(_ s: Section, _ key: String, _ type: E.Type) -> E?
        where E.RawValue == String {
        guard let node = s.entries[key]?.value else { return nil }
        return enumScalar(node, path: s.child(key), type)
    }

    fileprivate mutating func enumScalar<E: RawRepresentable & CaseIterable>(_ node: Node, path: String, _ type: E.Type) -> E?
        where E.RawValue == String {
        let choices = E.allCases.map(\.rawValue)
        guard let text = stringValue(node, path: path) else { return nil }
        if let value = E(rawValue: text) { return value }
        var message = "unknown \(path) '\(text)'"
        if let guess = Self.closest(to: text, in: choices) { message += " — did you mean '\(guess)'?" }
        fail(path, at: node.mark, message, hint: "choose one of: \(choices.joined(separator: ", "))")
        return nil
    }

    /// A non-empty YAML list whose elements `element` validates (reported as `path[i]`), no repeats.
    private mutating func list<T: Equatable>(_ s: Section, _ key: String,
                                             _ element: (inout RecipeReader, Node, String) -> T?) -> [T]? {
        guard let node = s.entries[key]?.value else { return nil }
        let path = s.child(key)
        guard case .sequence(let sequence) = node else { typeError(path, node, expected: "a list"); return nil }
        guard !sequence.isEmpty else {
            fail(path, at: node.mark, "\(path) is an empty list", hint: "list at least one value, e.g. [a, b], or remove \(path)")
            return nil
        }
        var values: [T] = []
        var ok = true
        for (i, item) in sequence.enumerated() {
            let itemPath = "\(path)[\(i)]"
            marks[itemPath] = item.mark
            guard let value = element(&self, item, itemPath) else { ok = false; continue }
            if let j = values.firstIndex(of: value) {
                fail(itemPath, at: item.mark, "\(itemPath) repeats \(path)[\(j)] (\(item.scalar?.string ?? ""))",
                     hint: "list each value once")
                ok = false
                continue
            }
            values.append(value)
        }
        return ok ? values : nil
    }

    // MARK: Paths

    /// Absolute, standardized path: `~` expanded, relative paths taken from the recipe's folder.
    func resolve(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let url = expanded.hasPrefix("/") ? URL(fileURLWithPath: expanded)
                                          : URL(fileURLWithPath: expanded, relativeTo: folder)
        return url.standardizedFileURL.path
    }

    private var relativeHint: String { "relative paths are taken from the recipe's folder (\(folder.standardizedFileURL.path))" }

    private mutating func modelDirectory(_ s: Section, _ key: String, needsConfig: Bool) -> String? {
        let path = s.child(key)
        guard let node = s.entries[key]?.value else {
            failMissing(s, key, hint: "name a model directory (Hugging Face layout: config.json and weights)")
            return nil
        }
        guard let (given, resolved, isDirectory) = existingPath(node, path: path) else { return nil }
        guard isDirectory.boolValue else {
            // A GGUF file holds the config, the weights and the tokenizer in one.
            if ModelDirectory.isGGUF(URL(fileURLWithPath: resolved)) { return resolved }
            fail(path, at: node.mark, "\(path) names '\(given)', which is a file, not a model directory or GGUF file (resolved to \(resolved))",
                 hint: "name the folder that holds config.json and the weights, or a .gguf file")
            return nil
        }
        // A PEFT adapter directory is its base + the adapter: the base must be there.
        if AdapterDirectory.isAdapter(URL(fileURLWithPath: resolved)) {
            do { _ = try ModelDirectory.describe(URL(fileURLWithPath: resolved)) } catch {
                fail(path, at: node.mark, "\(path) names the LoRA adapter '\(given)': \(error)",
                     hint: "an adapter directory holds adapter_config.json (whose base_model_name_or_path names the base model directory) and adapter_model.safetensors")
                return nil
            }
            return resolved
        }
        if needsConfig && !FileManager.default.fileExists(atPath: resolved + "/config.json") {
            fail(path, at: node.mark, "\(path) names '\(given)', which has no config.json (resolved to \(resolved))",
                 hint: "a model directory holds config.json, tokenizer files and model.safetensors (or model.h5)")
            return nil
        }
        return resolved
    }

    /// The path a string value names, resolved, when it exists (else the error is recorded).
    private mutating func existingPath(_ node: Node, path: String) -> (given: String, resolved: String, isDirectory: ObjCBool)? {
        guard let given = stringValue(node, path: path) else { return nil }
        let resolved = resolve(given)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            fail(path, at: node.mark, "\(path) names '\(given)', which does not exist (resolved to \(resolved))", hint: relativeHint)
            return nil
        }
        return (given, resolved, isDirectory)
    }

    private mutating func existingFile(_ s: Section, _ key: String) -> String? {
        guard let node = s.entries[key]?.value else { return nil }
        return existingFileValue(node, path: s.child(key))
    }

    private mutating func existingFileValue(_ node: Node, path: String) -> String? {
        guard let (given, resolved, isDirectory) = existingPath(node, path: path) else { return nil }
        guard !isDirectory.boolValue else {
            fail(path, at: node.mark, "\(path) names '\(given)', which is a directory, not a file (resolved to \(resolved))",
                 hint: "name a JSON-lines prompt file")
            return nil
        }
        return resolved
    }

    private mutating func fileList(_ s: Section, _ key: String) -> [String]? {
        list(s, key) { me, node, path in me.existingFileValue(node, path: path) }
    }

    // MARK: Reporting

    private mutating func fail(_ path: String?, at mark: Mark?, _ message: String, hint: String? = nil) {
        fail(path, at: mark.map { ($0.line, $0.column) }, message, hint: hint)
    }

    private mutating func fail(_ path: String?, at position: (line: Int, column: Int)?, _ message: String,
                               hint: String? = nil) {
        errors.append(RecipeError(file: file, line: position?.line, column: position?.column, keyPath: path,
                                  message: message, hint: hint))
    }

    /// `path must be <expected> (got <what the file has>)`, with a hint for quoted numbers.
    private mutating func typeError(_ path: String?, _ node: Node, expected: String, label: String? = nil,
                                    hint: String? = nil) {
        let label = label ?? path ?? "the recipe"
        var hint = hint
        if case .scalar(let scalar) = node, node.tag.description == Tag.Name.str.rawValue,
           expected.contains("number"), Double(scalar.string.trimmingCharacters(in: .whitespaces)) != nil {
            hint = "remove the quotes: '\(scalar.string)' in quotes is a string"
        }
        if case .scalar = node, node.tag.description == Tag.Name.null.rawValue, hint == nil {
            hint = "give a value after the colon, or remove the key to use the default"
        }
        if hint == nil {
            let example: String
            switch expected {
            case "a number": example = "write a plain number such as 0.1, 2 or 5.0e-7"
            case "a whole number": example = "write a plain whole number such as 4"
            case "a list": example = "write a list such as [a, b] or one '- item' per line"
            default: example = "write a single plain value after the colon"
            }
            hint = [example, path.flatMap(Self.defaultHint)].compactMap { $0 }.joined(separator: "; ")
        }
        fail(path, at: node.mark, "\(label) must be \(expected) (got \(describe(node)))", hint: hint)
    }

    /// What a node is, for "got …" in messages.
    private func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return "no value"
            case Tag.Name.bool.rawValue: return "the boolean \(scalar.string)"
            case Tag.Name.int.rawValue, Tag.Name.float.rawValue: return "the number \(scalar.string)"
            default: return "the string '\(scalar.string)'"
            }
        }
    }

    /// Where to report a rule about `path`: its value if the file gives it, else the nearest enclosing mapping.
    private func locate(_ path: String) -> (line: Int, column: Int)? {
        var p = path
        while true {
            if let m = marks[p] { return (m.line, m.column) }
            guard let dot = p.lastIndex(of: ".") else { return (1, 1) }
            p = String(p[..<dot])
        }
    }

    private mutating func reportSyntax(_ error: YamlError) {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            var what = problem
            if let context, !context.text.isEmpty { what += " (\(context.text) at line \(context.mark.line))" }
            fail(nil, at: mark, "invalid YAML: \(what)",
                 hint: "check the indentation, colons and quotes on this line and the ones just above")
        case let .reader(problem, _, _, _):
            fail(nil, at: Mark?.none, "the recipe is not readable YAML: \(problem)", hint: "save the recipe as UTF-8 text")
        default:
            fail(nil, at: Mark?.none, "invalid YAML: \(error)")
        }
    }

    /// A valid run name close to `name`.
    private func suggestedName(_ name: String) -> String {
        let cleaned = name.replacingOccurrences(of: "[^A-Za-z0-9._-]+", with: "-", options: .regularExpression)
            .trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return cleaned.isEmpty || cleaned == "." || cleaned == ".." ? "my-run" : cleaned
    }

    /// Default values of the optional settings, by key path (from the Recipe types' own defaults).
    static let defaultValues: [String: String] = {
        let blank = Recipe(run: .init(name: "", outputRoot: ""), policy: "", judge: .init(model: ""), prompts: .init())
        return Dictionary(blank.flattened().filter { !["run.name", "run.output_root", "policy", "judge.model"].contains($0.key) }
                              .map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }()

    /// "the default is X; remove the key to use it", for settings that have a default.
    static func defaultHint(_ path: String) -> String? {
        guard let value = defaultValues[path] else { return nil }
        return "the default is \(value); remove the key to use it"
    }

    // MARK: "Did you mean"

    /// The closest candidate by edit distance, if it is close enough to be a plausible typo.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let lower = word.lowercased()
        let scored = candidates.map { ($0, Self.editDistance(lower, $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let limit = max(1, min(lower.count, best.0.count) / 3)
        return best.1 <= limit && best.1 < max(lower.count, best.0.count) ? best.0 : nil
    }

    /// Levenshtein distance with adjacent transpositions counted as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
