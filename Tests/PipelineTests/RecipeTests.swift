// Recipe loading: good recipes resolve to the expected values (defaults applied, paths absolute),
// every malformed recipe under Fixtures/recipes/bad fails with its expected message at its line,
// and changedKeys / sweepPoints / canonical JSON behave.

import XCTest
import Generation
import Optimization
import Preference
import Llama
@testable import Pipeline
import TestSupport

/// An oracle under the demo world's name (the fixtures name it; Pipeline itself knows no oracle).
struct LastDigitOracle: ResponseOracle {
    func score(prompt: PromptInput, response: String) -> Double { response.last?.isNumber == true ? 1 : 0 }
}

final class RecipeTests: XCTestCase {
    override func setUp() { Oracles.register("sort-digits", LastDigitOracle()) }
    let folder = Fixtures.url("recipes")
    func path(_ relative: String) -> String { folder.appendingPathComponent(relative).standardizedFileURL.path }

    func testMinimalRecipeTakesDefaults() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-minimal.yaml"))
        XCTAssertEqual(r.run.name, "minimal")
        XCTAssertEqual(r.run.outputRoot, path("runs"))
        XCTAssertEqual(r.run.seed, 42)
        XCTAssertEqual(r.run.directory.path, path("runs/minimal"))
        XCTAssertEqual(r.policy, path("models/sft"))
        XCTAssertEqual(r.reference, .initial)
        XCTAssertEqual(r.judge, Recipe.JudgeSection(model: path("models/pm"), kind: .pairwise, ranking: .knockout))
        XCTAssertEqual(r.judge.temperature, 1.0)
        XCTAssertEqual(r.judge.tau, 0.1)
        XCTAssertEqual(r.prompts, Recipe.PromptSection(file: path("data/prompts.jsonl"), files: nil, maxPromptTokens: 1024))
        XCTAssertEqual(r.iterations, 3)
        XCTAssertEqual(r.generation, Recipe.GenerationSection())
        XCTAssertEqual(r.generation.k, 8)
        XCTAssertEqual(r.generation.maxNewTokens, 256)
        XCTAssertEqual(r.pairs.selection, .maxMin)
        XCTAssertEqual(r.pairs.lengthPenalty, 0)
        XCTAssertEqual(r.training, Recipe.TrainingSection())
        XCTAssertEqual(r.training.loss, .sigmoid)
        XCTAssertEqual(r.training.beta, 0.1)
        XCTAssertEqual(r.training.learningRate, 5e-7)
        XCTAssertEqual(r.training.epochs, 2)
        XCTAssertEqual(r.training.batchSize, 128)
        XCTAssertEqual(r.training.microBatchSize, 2)
        XCTAssertEqual(r.training.maxLength, 2048)
        XCTAssertEqual(r.training.maxPromptLength, 1024)
        XCTAssertNil(r.evaluation)
        XCTAssertNil(r.sweep)

        let s = r.trainerSettings
        XCTAssertEqual(s.loss, LossSettings(kind: .sigmoid, beta: 0.1, labelSmoothing: 0, nllWeight: 0))
        XCTAssertEqual(s.optimizer.kind, .adamw)
        XCTAssertEqual(s.optimizer.schedule, .cosine)
        XCTAssertEqual(s.optimizer.learningRate, 5e-7)
        XCTAssertEqual(s.optimizer.maxGradNorm, 1.0)
        XCTAssertEqual(s.limits, SequenceLimits(maxLength: 2048, maxPromptLength: 1024))
        XCTAssertEqual(s.batchSize, 128)
        XCTAssertEqual(s.microBatchSize, 2)
        XCTAssertEqual(s.epochs, 2)
        XCTAssertEqual(s.seed, 42)
        XCTAssertNoThrow(try s.validate())
        XCTAssertEqual(r.samplingParameters, SamplingParameters(temperature: 1.0, topP: 1.0, topK: 0))
    }

    func testFullRecipeResolvesEveryKey() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-full.yaml"))
        XCTAssertEqual(r.run, Recipe.RunSection(name: "full-run_1.0", outputRoot: path("out/runs"), seed: 7))
        XCTAssertEqual(r.policy, path("models/sft"))
        XCTAssertEqual(r.reference, .previous)
        var judge = Recipe.JudgeSection(model: path("models/pm"), kind: .pairwise, ranking: .roundRobin)
        judge.temperature = 0.5
        judge.tau = 0.2
        judge.stripBOS = .leading
        XCTAssertEqual(r.judge, judge)
        XCTAssertEqual(r.prompts, Recipe.PromptSection(files: [path("data/iter1.jsonl"), path("data/iter2.jsonl")],
                                                       maxPromptTokens: 512))
        XCTAssertEqual(r.promptFileURLs.map(\.path), [path("data/iter1.jsonl"), path("data/iter2.jsonl")])
        XCTAssertEqual(r.iterations, 2)
        var generation = Recipe.GenerationSection()
        generation.k = 4; generation.temperature = 0.7; generation.topP = 0.9; generation.topK = 50; generation.maxNewTokens = 128
        XCTAssertEqual(r.generation, generation)
        XCTAssertEqual(r.pairs.selection, .maxMinLengthPenalty)
        XCTAssertEqual(r.pairs.lengthPenalty, 0.01)
        var t = Recipe.TrainingSection()
        t.loss = .robust; t.beta = 0.05; t.labelSmoothing = 0.1; t.nllWeight = 0.2; t.learningRate = 1e-6
        t.optimizer = .rmsprop; t.weightDecay = 0.01; t.scheduler = .linear; t.warmupRatio = 0.1; t.epochs = 1
        t.batchSize = 16; t.microBatchSize = 4; t.maxLength = 1024; t.maxPromptLength = 512; t.maxGradNorm = 0
        t.activationCheckpointing = true
        t.lora = LoRAConfig(r: 8, alpha: 16, dropout: 0, targetModules: [.q, .v], useRSLoRA: true)
        XCTAssertEqual(r.training, t)
        XCTAssertTrue(r.trainerSettings.activationCheckpointing)
        XCTAssertEqual(r.evaluation, Recipe.EvaluationSection(prompts: path("data/eval.jsonl"), maxNewTokens: 64, oracle: "sort-digits"))
        XCTAssertEqual(r.sweep, Recipe.SweepSection(beta: [0.05, 0.1], learningRate: [1e-6, 5e-7], loss: [.robust, .sigmoid]))

        let s = r.trainerSettings
        XCTAssertEqual(s.loss, LossSettings(kind: .robust, beta: 0.05, labelSmoothing: 0.1, nllWeight: 0.2))
        XCTAssertEqual(s.optimizer.kind, .rmsprop)
        XCTAssertEqual(s.optimizer.beta2, 0.99, "RMSProp's α is PyTorch's default")
        XCTAssertEqual(s.optimizer.schedule, .linear)
        XCTAssertEqual(s.optimizer.warmupRatio, 0.1)
        XCTAssertEqual(s.optimizer.weightDecay, 0.01)
        XCTAssertEqual(s.optimizer.maxGradNorm, 0)
        XCTAssertEqual(s.limits, SequenceLimits(maxLength: 1024, maxPromptLength: 512))
        XCTAssertEqual(s.seed, 7)
        XCTAssertNoThrow(try s.validate())
        XCTAssertEqual(r.samplingParameters, SamplingParameters(temperature: 0.7, topP: 0.9, topK: 50))
    }

    func testRewardJudgeDefaultsToScores() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-reward.yaml"))
        XCTAssertEqual(r.judge.kind, .reward)
        XCTAssertEqual(r.judge.ranking, .scores)
        XCTAssertEqual(r.pairs.selection, .maxRandom)
        XCTAssertEqual(r.training.loss, .ipo)
    }

    /// Every file in bad/ fails with the message in its `# expect:` line, at its `# line:` and key path.
    func testMalformedRecipesFailWithLocatedMessages() throws {
        let bad = folder.appendingPathComponent("bad")
        let files = try FileManager.default.contentsOfDirectory(atPath: bad.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 24)
        for name in files {
            let url = bad.appendingPathComponent(name)
            let header = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").prefix { $0.hasPrefix("#") }
            func field(_ key: String) -> String? {
                header.first { $0.hasPrefix("# \(key): ") }.map { String($0.dropFirst(key.count + 4)) }
            }
            guard let expect = field("expect") else { XCTFail("\(name): no '# expect:' line"); continue }
            do {
                let recipe = try Recipe.load(url: url)
                XCTFail("\(name): loaded without error: \(recipe.run.name)")
            } catch let error as RecipeError {
                XCTAssertTrue(error.message.contains(expect), "\(name): expected '\(expect)' in:\n\(error)")
                XCTAssertEqual(error.file, url.relativePath, name)
                XCTAssertTrue(error.description.hasPrefix(url.relativePath + ":"), name)
                if let line = field("line") {
                    XCTAssertEqual(error.line, Int(line), "\(name): \(error)")
                    XCTAssertNotNil(error.column, name)
                    XCTAssertTrue(error.description.contains(":\(line):\(error.column ?? 0): "), "\(name): \(error)")
                }
                if let key = field("key") { XCTAssertEqual(error.keyPath, key, "\(name): \(error)") }
            }
        }
    }

    func testErrorDescriptionFormat() {
        let e = RecipeError(file: "recipes/x.yaml", line: 12, column: 9, keyPath: "training.beta",
                            message: "training.beta must be > 0 (got -0.1)", hint: "RLHFlow uses 0.1")
        XCTAssertEqual(e.description, "recipes/x.yaml:12:9: training.beta must be > 0 (got -0.1)\n  hint: RLHFlow uses 0.1")
        XCTAssertEqual(RecipeError(file: "r.yaml", message: "the recipe is empty").description, "r.yaml: the recipe is empty")
    }

    func testRelativeRecipePathIsKeptInErrors() throws {
        // A URL relative to the working directory keeps its relative spelling in messages.
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        let url = URL(fileURLWithPath: "bad/06-beta-not-positive.yaml")
        XCTAssertThrowsError(try Recipe.load(url: url)) { error in
            XCTAssertTrue("\(error)".hasPrefix("bad/06-beta-not-positive.yaml:13:9: training.beta must be > 0 (got -0.1)"), "\(error)")
        }
    }

    func testMissingRecipeFile() {
        XCTAssertThrowsError(try Recipe.load(url: folder.appendingPathComponent("nope.yaml"))) { error in
            XCTAssertTrue("\(error)".contains("recipe file not found"), "\(error)")
        }
    }

    func testDiagnoseReportsEveryFieldError() {
        let yaml = """
        run:
          name: x
        policy: models/sft
        judge:
          model: models/pm
        prompts:
          file: data/prompts.jsonl
        generation:
          k: 1
          top_p: 2
        training:
          beta: 0
        """
        let (recipe, errors) = Recipe.parse(yaml: yaml, file: "inline.yaml", folder: folder)
        XCTAssertNil(recipe)
        XCTAssertEqual(errors.map(\.keyPath), ["generation.k", "generation.top_p", "training.beta"])
        XCTAssertEqual(errors.map(\.line), [9, 10, 12])
    }

    func testInlineCornerCases() {
        let head = "run: {name: x}\npolicy: models/sft\njudge: {model: models/pm}\nprompts: {file: data/prompts.jsonl}\n"
        func firstError(_ yaml: String) -> RecipeError? { Recipe.parse(yaml: yaml, file: "t.yaml", folder: folder).errors.first }

        // evaluation.max_new_tokens defaults to generation.max_new_tokens
        let (r, errors) = Recipe.parse(yaml: head + "generation: {max_new_tokens: 99}\nevaluation: {prompts: data/eval.jsonl}\n",
                                       file: "t.yaml", folder: folder)
        XCTAssertEqual(errors, [])
        XCTAssertEqual(r?.evaluation, Recipe.EvaluationSection(prompts: path("data/eval.jsonl"), maxNewTokens: 99))

        // judge.gpm_input: a GPM's option, read and recorded; refused for another judge, and strip_bos beside `example`
        let gpmHead = "run: {name: x}\npolicy: models/sft\nprompts: {file: data/prompts.jsonl}\n"
        let (gpm, gpmErrors) = Recipe.parse(yaml: gpmHead + "judge: {model: models/pm, kind: gpm, gpm_input: example}\n", file: "t.yaml", folder: folder)
        XCTAssertEqual(gpmErrors, [])
        XCTAssertEqual(gpm?.judgeSettings.gpmInput, .example)
        XCTAssertEqual(firstError(gpmHead + "judge: {model: models/pm, gpm_input: ranker}\n")?.keyPath, "judge.gpm_input")
        XCTAssertEqual(firstError(gpmHead + "judge: {model: models/pm, kind: gpm, gpm_input: example, strip_bos: all}\n")?.keyPath, "judge.strip_bos")
        XCTAssertEqual(firstError(gpmHead + "judge: {model: models/pm, kind: gpm, gpm_input: examples}\n")?.keyPath, "judge.gpm_input")

        // a command judge: a program instead of a model, run in the recipe's folder unless told
        let (cmd, cmdErrors) = Recipe.parse(yaml: gpmHead + "judge: {kind: command, command: [python3, score.py, --strict]}\n", file: "t.yaml", folder: folder)
        XCTAssertEqual(cmdErrors, [])
        XCTAssertEqual(cmd?.judge.command, ["python3", "score.py", "--strict"])
        XCTAssertEqual(cmd?.judge.ranking, .scores)
        XCTAssertEqual(cmd?.judgeURL.standardizedFileURL.path, folder.standardizedFileURL.path)
        XCTAssertEqual(cmd?.judgeModelURLs, [])
        XCTAssertEqual(firstError(gpmHead + "judge: {kind: command}\n")?.keyPath, "judge.command")
        XCTAssertEqual(firstError(gpmHead + "judge: {kind: command, command: []}\n")?.keyPath, "judge.command")
        XCTAssertEqual(firstError(gpmHead + "judge: {kind: command, command: [sh], model: models/pm}\n")?.keyPath, "judge.model")
        XCTAssertEqual(firstError(gpmHead + "judge: {model: models/pm, command: [sh]}\n")?.keyPath, "judge.command")
        XCTAssertEqual(firstError(gpmHead + "judge: {kind: command, command: [sh], ranking: knockout}\n")?.keyPath, "judge.ranking")

        // a serving engine for sampling (and one for a pairwise judge)
        let one = "run: {name: x}\npolicy: models/sft\njudge: {model: models/pm}\nprompts: {file: data/prompts.jsonl}\niterations: 1\n"
        let (served, servedErrors) = Recipe.parse(yaml: one + "generation: {engine: {base_url: 'http://127.0.0.1:8080', server: llamacpp, max_concurrency: 2, reload_command: [sh, restart.sh]}}\n",
                                                  file: "t.yaml", folder: folder)
        XCTAssertEqual(servedErrors, [])
        XCTAssertEqual(served?.generation.engine?.server, .llamacpp)
        XCTAssertEqual(served?.generation.engine?.maxConcurrency, 2)
        XCTAssertEqual(served?.generation.engine?.reloadCommand, ["sh", "restart.sh"])
        XCTAssertEqual(served?.generation.engine?.workingDirectory, folder.standardizedFileURL.path)
        XCTAssertEqual(served?.generation.engine?.completionsURL?.absoluteString, "http://127.0.0.1:8080/completion")
        XCTAssertEqual(firstError(one + "generation: {engine: {server: vllm}}\n")?.keyPath, "generation.engine.base_url")
        XCTAssertEqual(firstError(one + "generation: {engine: {base_url: 'ftp://x'}}\n")?.keyPath, "generation.engine.base_url")
        XCTAssertEqual(firstError(one + "generation: {engine: {base_url: 'http://h:1', server: tgi}}\n")?.keyPath, "generation.engine.server")
        XCTAssertEqual(firstError(one + "generation: {engine: {base_url: 'http://h:1', staleness_tolerance: 0}}\n")?.keyPath, "generation.engine.staleness_tolerance")
        let three = one.replacingOccurrences(of: "iterations: 1", with: "iterations: 3")
        XCTAssertEqual(firstError(three + "generation: {engine: {base_url: 'http://h:1', server: vllm}}\n")?.keyPath, "generation.engine.reload_command",
                       "a vLLM server would keep serving π0")
        XCTAssertNil(firstError(three + "generation: {engine: {base_url: 'http://h:1', server: sglang}}\n"), "SGLang is told through /update_weights_from_disk")
        let (remoteJudge, remoteJudgeErrors) = Recipe.parse(yaml: gpmHead + "judge: {model: models/pm, engine: {base_url: 'http://h:2', server: llamacpp}}\n", file: "t.yaml", folder: folder)
        XCTAssertEqual(remoteJudgeErrors, [])
        XCTAssertEqual(remoteJudge?.judge.engine?.baseURL, "http://h:2")
        XCTAssertNil(firstError(gpmHead + "judge: {model: models/pm, kind: reward, engine: {base_url: 'http://h:2'}}\n"), "a reward model through a pooling endpoint")
        XCTAssertEqual(firstError(gpmHead + "judge: {model: models/pm, kind: gpm, engine: {base_url: 'http://h:2'}}\n")?.keyPath, "judge.engine")
        let lora = three + "training: {lora: {r: 4, alpha: 8}}\n"
        XCTAssertNil(firstError(lora + "generation: {engine: {base_url: 'http://h:1', server: vllm}}\n"), "vLLM loads a LoRA π(t) at run time")
        XCTAssertEqual(firstError(lora + "generation: {engine: {base_url: 'http://h:1', server: llamacpp}}\n")?.keyPath, "generation.engine.reload_command",
                       "llama-server loads adapters only when it starts")
        XCTAssertEqual(firstError(gpmHead + "judge: {model: models/pm, engine: {base_url: 'http://h:2', reload_command: [sh]}}\n")?.keyPath,
                       "judge.engine.reload_command", "a judge's server is never reloaded: the key would be ignored")

        XCTAssertEqual(firstError("- a\n- b\n")?.message, "the recipe must be a mapping of keys (got a list)")
        let misplaced = firstError(head + "training:\n  k: 4\n")
        XCTAssertEqual(misplaced?.message, "unknown key 'k' in training — did you mean 'generation.k'?")
        XCTAssertEqual(misplaced?.line, 6)
        XCTAssertEqual(firstError(head + "generation:\n  iterations: 2\n")?.message,
                       "unknown key 'iterations' in generation — 'iterations' is a top-level key")
        XCTAssertEqual(firstError(head + "evaluation: {max_new_tokens: 5}\n")?.message, "evaluation.prompts is required")
        XCTAssertEqual(firstError(head + "sweep: {}\n")?.message, "sweep lists no keys")
        XCTAssertEqual(firstError(head + "iterations: 1e400\n")?.message, "iterations must be a whole number (got 1e400)")
        XCTAssertEqual(firstError(head + "training: {beta: .inf}\n")?.message, "training.beta must be a finite number (got .inf)")
        XCTAssertTrue(firstError(head + "training: {save_interval_seconds: -1}\n")?.message.hasPrefix("training.save_interval_seconds must be ≥ 0") ?? false)
        XCTAssertEqual(Recipe.parse(yaml: head + "training: {save_interval_seconds: 0}\n", file: "t.yaml", folder: folder)
                        .recipe?.training.saveIntervalSeconds, 0)
        XCTAssertEqual(Recipe.parse(yaml: head, file: "t.yaml", folder: folder).recipe?.training.saveIntervalSeconds, 300)
        XCTAssertEqual(firstError(head + "policy: data/prompts.jsonl\n")?.keyPath, "policy")   // duplicate beats type
        let tab = firstError(head + "generation:\n\tk: 4\n")
        XCTAssertTrue(tab?.message.hasPrefix("invalid YAML:") ?? false, "\(String(describing: tab))")
        XCTAssertEqual(tab?.line, 6)
        // integers are welcome where numbers are expected; numbers where names are expected become names
        XCTAssertEqual(Recipe.parse(yaml: head.replacingOccurrences(of: "name: x", with: "name: 2024") + "training: {beta: 1}\n",
                                    file: "t.yaml", folder: folder).recipe?.run.name, "2024")
    }

    /// The shipped RLHFlow recipe validates once its placeholder files exist, with REFERENCE §1's settings.
    func testRLHFlowRecipe() throws {
        let recipeURL = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("recipes/rlhflow-llama3-8b.yaml")
        let yaml = try String(contentsOf: recipeURL, encoding: .utf8)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-recipe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let fm = FileManager.default
        let missing = Recipe.parse(yaml: yaml, file: "recipes/rlhflow-llama3-8b.yaml", folder: tmp.appendingPathComponent("recipes"))
        XCTAssertEqual(missing.errors.map(\.keyPath), ["policy", "judge.model", "prompts.files[0]", "prompts.files[1]", "prompts.files[2]"])
        for dir in ["recipes", "models/llama3-8b-sft", "models/pair-preference-model-llama3-8b", "data"] {
            try fm.createDirectory(at: tmp.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try Data("{}".utf8).write(to: tmp.appendingPathComponent("models/llama3-8b-sft/config.json"))
        for i in 1...3 { try Data().write(to: tmp.appendingPathComponent("data/iterative-prompt-v1-iter\(i)-20K.jsonl")) }
        let (recipe, errors) = Recipe.parse(yaml: yaml, file: "recipes/rlhflow-llama3-8b.yaml", folder: tmp.appendingPathComponent("recipes"))
        XCTAssertEqual(errors, [])
        let r = try XCTUnwrap(recipe)
        XCTAssertEqual(r.iterations, 3)
        XCTAssertEqual(r.prompts.files?.count, 3)
        XCTAssertEqual(r.reference, .initial)
        XCTAssertEqual(r.judge.kind, .pairwise)
        XCTAssertEqual(r.generation.k, 8)
        XCTAssertEqual(r.samplingParameters, SamplingParameters(temperature: 1, topP: 1, topK: 0))
        XCTAssertEqual(r.pairs.selection, .maxMin)
        let s = r.trainerSettings
        XCTAssertEqual(s.loss, LossSettings(kind: .sigmoid, beta: 0.1, labelSmoothing: 0.1, nllWeight: 0))
        XCTAssertEqual(s.optimizer.kind, .adamw)
        XCTAssertEqual(s.optimizer.learningRate, 5e-7)
        XCTAssertEqual(s.optimizer.schedule, .cosine)
        XCTAssertEqual(s.optimizer.warmupRatio, 0)
        XCTAssertEqual(s.optimizer.weightDecay, 0)
        XCTAssertEqual(s.epochs, 2)
        XCTAssertEqual(s.batchSize, 128)
        XCTAssertEqual(s.limits, SequenceLimits(maxLength: 2048, maxPromptLength: 1024))
        XCTAssertEqual(r.run.directory.path, tmp.appendingPathComponent("runs/rlhflow-llama3-8b").standardizedFileURL.path)
    }

    /// The shipped serving-engine recipes validate once their placeholder files exist: llama-server
    /// sampling with a reload_command; vLLM sampling from a LoRA policy (adapters loaded at run
    /// time, so no reload_command) with an SGLang reward model.
    func testServedRecipes() throws {
        let recipes = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("recipes")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-recipe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for dir in ["recipes/engines", "models/sft", "models/pm", "models/rm", "data"] {
            try FileManager.default.createDirectory(at: tmp.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try Data("{}".utf8).write(to: tmp.appendingPathComponent("models/sft/config.json"))
        try Data().write(to: tmp.appendingPathComponent("data/prompts.jsonl"))
        let (served, servedErrors) = Recipe.parse(yaml: try String(contentsOf: recipes.appendingPathComponent("served-sampling.yaml"), encoding: .utf8),
                                                  file: "recipes/served-sampling.yaml", folder: tmp.appendingPathComponent("recipes"))
        XCTAssertEqual(servedErrors, [])
        XCTAssertEqual(served?.generation.engine?.server, .llamacpp)
        XCTAssertNotNil(served?.generation.engine?.reloadCommand)
        let (gpu, gpuErrors) = Recipe.parse(yaml: try String(contentsOf: recipes.appendingPathComponent("served-gpu-lora.yaml"), encoding: .utf8),
                                            file: "recipes/served-gpu-lora.yaml", folder: tmp.appendingPathComponent("recipes"))
        XCTAssertEqual(gpuErrors, [])
        XCTAssertEqual(gpu?.generation.engine?.server, .vllm)
        XCTAssertNil(gpu?.generation.engine?.reloadCommand)
        XCTAssertNotNil(gpu?.training.lora)
        XCTAssertEqual(gpu?.judge.kind, .reward)
        XCTAssertEqual(gpu?.judge.engine?.server, .sglang)
    }

    // MARK: changedKeys, sweeps, JSON

    func testChangedKeys() throws {
        let base = try Recipe.load(url: folder.appendingPathComponent("good-minimal.yaml"))
        XCTAssertEqual(base.changedKeys(from: base), [])
        var other = base
        other.training.beta = 0.2
        other.generation.k = 4
        other.run.seed = 1
        XCTAssertEqual(other.changedKeys(from: base), ["generation.k", "run.seed", "training.beta"])
        other = base
        other.evaluation = Recipe.EvaluationSection(prompts: path("data/eval.jsonl"), maxNewTokens: 256)
        XCTAssertEqual(other.changedKeys(from: base),
                       ["evaluation.max_new_tokens", "evaluation.prompts"])
        XCTAssertEqual(base.changedKeys(from: other), ["evaluation.max_new_tokens", "evaluation.prompts"])
        other = base
        other.prompts = Recipe.PromptSection(files: [path("data/iter1.jsonl")])
        XCTAssertEqual(other.changedKeys(from: base), ["prompts.file", "prompts.files"])
    }

    func testSweepPoints() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-full.yaml"))
        let points = r.sweepPoints()
        XCTAssertEqual(points.count, 2 * 2 * 2)
        XCTAssertEqual(points.map(\.run.name), [
            "full-run_1.0/beta=0.05,lr=1e-06,loss=robust", "full-run_1.0/beta=0.05,lr=1e-06,loss=sigmoid",
            "full-run_1.0/beta=0.05,lr=5e-07,loss=robust", "full-run_1.0/beta=0.05,lr=5e-07,loss=sigmoid",
            "full-run_1.0/beta=0.1,lr=1e-06,loss=robust", "full-run_1.0/beta=0.1,lr=1e-06,loss=sigmoid",
            "full-run_1.0/beta=0.1,lr=5e-07,loss=robust", "full-run_1.0/beta=0.1,lr=5e-07,loss=sigmoid",
        ])
        let last = points[7]
        XCTAssertEqual(last.training.beta, 0.1)
        XCTAssertEqual(last.training.learningRate, 5e-7)
        XCTAssertEqual(last.training.loss, .sigmoid)
        XCTAssertNil(last.sweep)
        XCTAssertEqual(last.changedKeys(from: r).sorted(),
                       ["run.name", "sweep.beta", "sweep.learning_rate", "sweep.loss",
                        "training.beta", "training.learning_rate", "training.loss"])
        for p in points { XCTAssertTrue(RecipeReader.crossFieldIssues(p).isEmpty, p.run.name) }

        var one = r
        one.sweep = Recipe.SweepSection(beta: [0.2])
        XCTAssertEqual(one.sweepPoints().map(\.run.name), ["full-run_1.0/beta=0.2"])
        let plain = try Recipe.load(url: folder.appendingPathComponent("good-minimal.yaml"))
        XCTAssertEqual(plain.sweepPoints(), [plain])
    }

    func testCanonicalJSONRoundTripsWithSortedSnakeCaseKeys() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-full.yaml"))
        let data = try r.canonicalJSON()
        XCTAssertEqual(try Recipe.fromCanonicalJSON(data), r)
        XCTAssertEqual(try r.canonicalJSON(), data, "stable encoding")
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"micro_batch_size\": 4"), text)
        XCTAssertTrue(text.contains("\"max_new_tokens\": 128"), text)
        XCTAssertTrue(text.contains("\"ranking\": \"round-robin\""), text)
        XCTAssertTrue(text.contains(path("models/sft")), "absolute paths, slashes unescaped")
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        XCTAssertEqual(keys, keys.sorted())
    }

    func testSummaryListsResolvedValuesInRecipeOrder() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-minimal.yaml"))
        let lines = r.summary.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "run.name: minimal")
        XCTAssertTrue(lines.contains("training.learning_rate: 5e-07"), r.summary)
        XCTAssertTrue(lines.contains("generation.top_p: 1.0"), r.summary)
        XCTAssertTrue(lines.contains("judge.ranking: knockout"), r.summary)
        XCTAssertEqual(lines.last?.hasPrefix("training."), true)
    }

    func testDidYouMean() {
        XCTAssertEqual(RecipeReader.closest(to: "temprature", in: ["k", "temperature", "top_p"]), "temperature")
        XCTAssertEqual(RecipeReader.closest(to: "lerning_rate", in: RecipeReader.sectionKeys["training"]!), "learning_rate")
        XCTAssertNil(RecipeReader.closest(to: "tau", in: ["run", "policy"]))
        XCTAssertEqual(RecipeReader.editDistance("ab", "ba"), 1)
    }

    /// The schema's keys are exactly the canonical JSON's key paths, so the JSON mirrors the YAML.
    func testSchemaMatchesCodingKeys() throws {
        let r = try Recipe.load(url: folder.appendingPathComponent("good-full.yaml"))
        var schema = Set(RecipeReader.topKeys.filter { RecipeReader.sectionKeys[$0] == nil })
        for (section, keys) in RecipeReader.sectionKeys where section != "lora" && section != "engine" { schema.formUnion(keys.map { section + "." + $0 }) }
        schema.subtract(["generation.engine", "judge.engine"])   // remote engines' maps; the full recipe runs idpo's engine
        schema.remove("training.lora")   // a map: its keys are training.lora.*
        schema.formUnion(RecipeReader.sectionKeys["lora"]!.map { "training.lora." + $0 })
        schema.remove("prompts.file")   // the full recipe uses prompts.files
        schema.remove("judge.gpm_input")   // a GPM judge's option; the full recipe's judge is pairwise
        schema.subtract(["judge.command", "judge.working_directory"])   // a command judge's
        XCTAssertEqual(Set(r.flattened().map(\.key)), schema)
    }
}
