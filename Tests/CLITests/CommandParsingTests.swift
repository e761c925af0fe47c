// Every idpo subcommand, parsed in process: its arguments land in the right fields, and its main
// mistakes (a zero thread count, a negative count, a missing argument, conflicting options) are
// refused with a message that names the option and the rule. (A negative value is written
// `--option=-1`: ArgumentParser reads a separate "-1" as an option.)

import XCTest
import ArgumentParser
import Generation
import Optimization
import Pipeline
@testable import idpo

final class CommandParsingTests: XCTestCase {
    /// Parses `arguments` as a full idpo command line and returns the subcommand as `T`.
    func parse<T: ParsableCommand>(_ arguments: [String], as type: T.Type = T.self,
                                   file: StaticString = #filePath, line: UInt = #line) throws -> T {
        let command = try IDPO.parseAsRoot(arguments)
        return try XCTUnwrap(command as? T, "\(arguments) parsed as \(Swift.type(of: command))", file: file, line: line)
    }

    /// Asserts that `arguments` are refused with a message containing every one of `expected`.
    func assertRefused(_ arguments: [String], _ expected: String..., file: StaticString = #filePath, line: UInt = #line) {
        do {
            let command = try IDPO.parseAsRoot(arguments)
            XCTFail("\(arguments) parsed as \(type(of: command))", file: file, line: line)
        } catch {
            let message = IDPO.message(for: error)
            for text in expected {
                XCTAssertTrue(message.contains(text), "\(arguments): '\(message)' lacks '\(text)'", file: file, line: line)
            }
        }
    }

    func testIterate() throws {
        let c = try parse(["iterate", "r.yaml", "--iterations", "2", "--output-root", "out", "--force", "--quiet", "--threads", "3"], as: Iterate.self)
        XCTAssertEqual(c.recipe, "r.yaml"); XCTAssertEqual(c.iterations, 2); XCTAssertEqual(c.outputRoot, "out")
        XCTAssertTrue(c.force); XCTAssertTrue(c.quiet); XCTAssertEqual(c.compute.threads, 3); XCTAssertNil(c.onlyIteration)
        assertRefused(["iterate", "r.yaml", "--threads", "0"], "--threads must be at least 1")
        assertRefused(["iterate", "r.yaml", "--iterations", "0"], "--iterations must be ≥ 1")
        assertRefused(["iterate", "r.yaml", "--iterations", "1", "--only-iteration", "2"], "give --iterations or --only-iteration, not both")
        assertRefused(["iterate"], "Missing expected argument '<recipe>'")
    }

    func testSweep() throws {
        let c = try parse(["sweep", "r.yaml", "--output-root", "o", "--force"], as: Sweep.self)
        XCTAssertEqual(c.recipe, "r.yaml"); XCTAssertEqual(c.outputRoot, "o"); XCTAssertTrue(c.force); XCTAssertFalse(c.quiet)
        assertRefused(["sweep"], "Missing expected argument '<recipe>'")
        assertRefused(["sweep", "r.yaml", "--threads=-2"], "--threads must be at least 1")
    }

    func testPairs() throws {
        let list = try parse(["pairs", "list", "runs/x", "--iteration", "2", "--min-margin", "0.5", "--contains", "cat",
                              "--sort", "margin", "--descending", "--limit", "5"], as: Pairs.List.self)
        XCTAssertEqual(list.source.path, "runs/x"); XCTAssertEqual(list.iteration, 2); XCTAssertEqual(list.minMargin, 0.5)
        XCTAssertEqual(list.contains, "cat"); XCTAssertEqual(list.sort, "margin"); XCTAssertTrue(list.descending); XCTAssertEqual(list.limit, 5)
        assertRefused(["pairs", "list", "runs/x", "--sort", "size"], "--sort must be one of id, iteration, margin, confidence, length")
        assertRefused(["pairs", "list"], "Missing expected argument '<path>'")

        let show = try parse(["pairs", "show", "p.jsonl", "7", "--iteration", "1"], as: Pairs.Show.self)
        XCTAssertEqual(show.source.path, "p.jsonl"); XCTAssertEqual(show.id, 7); XCTAssertEqual(show.iteration, 1)
        assertRefused(["pairs", "show", "p.jsonl"], "Missing expected argument '<id>'")
        assertRefused(["pairs", "show", "p.jsonl", "seven"], "The value 'seven' is invalid for '<id>'")

        let stats = try parse(["pairs", "stats", "runs/x", "--iteration", "3"], as: Pairs.Stats.self)
        XCTAssertEqual(stats.source.path, "runs/x"); XCTAssertEqual(stats.iteration, 3)
        XCTAssertEqual(try parse(["pairs", "runs/x"], as: Pairs.Stats.self).source.path, "runs/x", "stats is the default subcommand")
        assertRefused(["pairs", "stats"], "Missing expected argument '<path>'")

        let report = try parse(["pairs", "report", "runs/x", "--out", "r.html"], as: Pairs.Report.self)
        XCTAssertEqual(report.source.path, "runs/x"); XCTAssertEqual(report.out, "r.html")
        assertRefused(["pairs", "report"], "Missing expected argument '<path>'")
    }

    func testGenerate() throws {
        let c = try parse(["generate", "--model", "m", "--prompts", "p.jsonl", "--out", "s.jsonl", "--k", "4", "--temperature", "0.7",
                           "--top-p", "0.9", "--top-k", "50", "--max-new-tokens", "64", "--max-prompt-tokens", "128", "--seed", "7"],
                          as: Generate.self)
        XCTAssertEqual(c.model, "m"); XCTAssertEqual(c.prompts, "p.jsonl"); XCTAssertEqual(c.out, "s.jsonl")
        let s = c.settings
        XCTAssertEqual(s.samplesPerPrompt, 4); XCTAssertEqual(s.sampling, SamplingParameters(temperature: 0.7, topP: 0.9, topK: 50))
        XCTAssertEqual(s.maxNewTokens, 64); XCTAssertEqual(s.maxPromptTokens, 128); XCTAssertEqual(s.seed, 7)
        let base = ["generate", "--model", "m", "--prompts", "p.jsonl", "--out", "s.jsonl"]
        assertRefused(base + ["--k", "0"], "--k must be ≥ 1 (got 0)")
        assertRefused(base + ["--top-p", "1.5"], "--top-p must be in (0, 1] (got 1.5)")
        assertRefused(base + ["--temperature=-1"], "--temperature must be ≥ 0")
        assertRefused(base + ["--max-new-tokens", "0"], "--max-new-tokens must be ≥ 1")
        assertRefused(["generate", "--model", "m", "--out", "s.jsonl"], "Missing expected argument '--prompts <prompts>'")
    }

    func testJudge() throws {
        let c = try parse(["judge", "--judge", "pm", "--kind", "reward", "--selection", "max_min_length_penalty", "--length-penalty", "0.01",
                           "--tau", "0.5", "--strip-bos", "leading", "--samples", "s.jsonl", "--out", "j.jsonl", "--pairs", "p.jsonl"],
                          as: Judge.self)
        XCTAssertEqual(c.judgeDirectory, "pm"); XCTAssertEqual(c.kind, .reward); XCTAssertNil(c.ranking)
        XCTAssertEqual(c.settings.selection, .maxMinLengthPenalty); XCTAssertEqual(c.settings.lengthPenalty, 0.01)
        XCTAssertEqual(c.settings.tau, 0.5); XCTAssertEqual(c.settings.stripBOS, .leading); XCTAssertEqual(c.settings.temperature, 1)
        XCTAssertEqual(c.samples, "s.jsonl"); XCTAssertEqual(c.out, "j.jsonl"); XCTAssertEqual(c.pairs, "p.jsonl")
        let base = ["judge", "--judge", "pm", "--samples", "s.jsonl", "--out", "j.jsonl", "--pairs", "p.jsonl"]
        assertRefused(base + ["--temperature", "0"], "--temperature must be > 0 (got 0.0)")
        assertRefused(base + ["--length-penalty=-1"], "--length-penalty must be ≥ 0")
        assertRefused(base + ["--kind", "oracle"], "The value 'oracle' is invalid for '--kind <kind>'")
        assertRefused(["judge", "--judge", "pm", "--samples", "s.jsonl", "--out", "j.jsonl"], "Missing expected argument '--pairs <pairs>'")
    }

    func testTrain() throws {
        let c = try parse(["train", "--policy", "m", "--pairs", "p.jsonl", "--out", "o", "--loss", "ipo", "--beta", "0.5",
                           "--learning-rate", "1e-6", "--optimizer", "rmsprop", "--warmup-steps", "3", "--epochs", "1",
                           "--batch-size", "8", "--micro-batch-size", "4", "--max-length", "512", "--max-prompt-length", "256",
                           "--checkpoint-every", "2", "--export-hf"], as: Train.self)
        XCTAssertEqual(c.policy, "m"); XCTAssertNil(c.reference); XCTAssertEqual(c.pairs, "p.jsonl"); XCTAssertEqual(c.out, "o")
        let s = c.settings
        XCTAssertEqual(s.loss.kind, .ipo); XCTAssertEqual(s.loss.beta, 0.5); XCTAssertEqual(s.optimizer.learningRate, 1e-6)
        XCTAssertEqual(s.optimizer.kind, .rmsprop); XCTAssertEqual(s.optimizer.beta2, 0.99, "RMSProp's α is PyTorch's")
        XCTAssertEqual(s.optimizer.warmupSteps, 3); XCTAssertEqual(s.epochs, 1); XCTAssertEqual(s.batchSize, 8)
        XCTAssertEqual(s.microBatchSize, 4); XCTAssertEqual(s.limits, SequenceLimits(maxLength: 512, maxPromptLength: 256))
        XCTAssertEqual(c.checkpointEvery, 2); XCTAssertTrue(c.exportHF)
        let base = ["train", "--policy", "m", "--pairs", "p.jsonl", "--out", "o"]
        XCTAssertEqual(try parse(base, as: Train.self).settings, TrainerSettings(), "idpo train's defaults are TrainerSettings'")
        assertRefused(base + ["--beta", "0"], "--beta must be > 0 (got 0.0)")
        assertRefused(base + ["--epochs=-1"], "--epochs must be ≥ 1 (got -1)")
        assertRefused(base + ["--batch-size", "4", "--micro-batch-size", "8"], "--micro-batch-size (8) must not exceed --batch-size (4)")
        assertRefused(base + ["--loss", "ipo", "--label-smoothing", "0.1"], "--label-smoothing applies only to the sigmoid and robust losses")
        assertRefused(base + ["--checkpoint-every=-1"], "--checkpoint-every must be ≥ 0")
        assertRefused(base + ["--threads", "0"], "--threads must be at least 1")
        assertRefused(["train", "--pairs", "p.jsonl", "--out", "o"], "Missing expected argument '--policy <policy>'")
    }

    func testValidate() throws {
        let c = try parse(["validate", "r.yaml", "--json"], as: Validate.self)
        XCTAssertEqual(c.recipe, "r.yaml"); XCTAssertTrue(c.json)
        assertRefused(["validate"], "Missing expected argument '<recipe>'")
        assertRefused(["validate", "r.yaml", "--yaml"], "Unknown option '--yaml'")
    }

    func testConvert() throws {
        let c = try parse(["convert", "--from", "a", "--to", "b", "--format", "gguf", "--dtype", "q8_0"], as: Convert.self)
        XCTAssertEqual(c.source, "a"); XCTAssertEqual(c.destination, "b"); XCTAssertEqual(c.format, .gguf); XCTAssertEqual(c.dtype, .q8_0)
        assertRefused(["convert", "--from", "a", "--to", "b", "--format", "hf", "--dtype", "q8_0"], "--dtype q8_0 applies to --format gguf only")
        assertRefused(["convert", "--from", "a", "--to", "b", "--format", "idpo", "--dtype", "bf16"], "--dtype applies to --format hf and gguf only")
        assertRefused(["convert", "--from", "a", "--to", "./a"], "--to names the same directory as --from")
        assertRefused(["convert", "--from", "a"], "Missing expected argument '--to <to>'")
    }

    func testTokenize() throws {
        let c = try parse(["tokenize", "--model", "m", "--decode", "--skip-special"], as: Tokenize.self)
        XCTAssertEqual(c.model, "m"); XCTAssertTrue(c.decode); XCTAssertTrue(c.skipSpecial); XCTAssertFalse(c.lines)
        assertRefused(["tokenize", "--model", "m", "--decode", "--lines"], "--decode does not combine with")
        assertRefused(["tokenize", "--model", "m", "--skip-special"], "--skip-special applies to --decode")
        assertRefused(["tokenize"], "Missing expected argument '--model <model>'")
    }

    func testSFT() throws {
        let c = try parse(["sft", "--model", "m", "--data", "d.jsonl", "--out", "o", "--eval-data", "e.jsonl", "--epochs", "3",
                           "--batch-size", "32", "--learning-rate", "1e-3", "--no-token-accuracy"], as: SFT.self)
        XCTAssertEqual(c.model, "m"); XCTAssertEqual(c.data, "d.jsonl"); XCTAssertEqual(c.out, "o"); XCTAssertEqual(c.evalData, "e.jsonl")
        let s = c.training.settings
        XCTAssertEqual(s.epochs, 3); XCTAssertEqual(s.batchSize, 32); XCTAssertEqual(s.microBatchSize, 32, "the micro-batch defaults to the batch")
        XCTAssertEqual(s.optimizer.learningRate, 1e-3); XCTAssertFalse(s.measureTokenAccuracy)
        let base = ["sft", "--model", "m", "--data", "d.jsonl", "--out", "o"]
        XCTAssertEqual(try parse(base, as: SFT.self).training.settings, SupervisedSettings(), "idpo sft's defaults are SupervisedSettings'")
        assertRefused(base + ["--learning-rate", "0"], "--learning-rate must be > 0")
        assertRefused(base + ["--batch-size", "2", "--micro-batch-size", "4"], "--micro-batch-size (4) must not exceed --batch-size (2)")
        assertRefused(base + ["--warmup-ratio", "1"], "--warmup-ratio must be in [0, 1)")
        assertRefused(["sft", "--model", "m", "--out", "o"], "Missing expected argument '--data <data>'")
    }

    func testTrainJudge() throws {
        let c = try parse(["train-judge", "--model", "m", "--pairs", "p.jsonl", "--out", "o", "--both-orders", "--seed", "9"], as: TrainJudge.self)
        XCTAssertEqual(c.model, "m"); XCTAssertEqual(c.pairs, "p.jsonl"); XCTAssertEqual(c.out, "o"); XCTAssertTrue(c.bothOrders)
        XCTAssertNil(c.evalPairs); XCTAssertEqual(c.training.settings.seed, 9)
        let base = ["train-judge", "--model", "m", "--pairs", "p.jsonl", "--out", "o"]
        assertRefused(base + ["--epochs", "0"], "--epochs must be ≥ 1 (got 0)")
        assertRefused(base + ["--max-length", "1"], "--max-length must be ≥ 2")
        assertRefused(["train-judge", "--model", "m", "--out", "o"], "Missing expected argument '--pairs <pairs>'")
    }

    func testDemoWorld() throws {
        let c = try parse(["demo-world", "--out", "w", "--seed", "3", "--iterations", "2", "--policy-shape", "32,64,2,4,2"], as: DemoWorldCommand.self)
        XCTAssertEqual(c.out, "w"); XCTAssertEqual(c.seed, 3); XCTAssertEqual(c.iterations, 2)
        XCTAssertEqual(try c.settings.policy.hiddenSize, 32)
        assertRefused(["demo-world", "--out", "w", "--policy-shape", "32,64"], "a shape is five integers")
        assertRefused(["demo-world", "--out", "w", "--sft-mistakes", "typo"], "unknown mistake 'typo'")
        assertRefused(["demo-world"], "Missing expected argument '--out <out>'")
    }

    func testDemoEval() throws {
        let c = try parse(["demo-eval", "--policy", "p", "--prompts", "e.jsonl", "--k", "2", "--temperature", "0"], as: DemoEval.self)
        XCTAssertEqual(c.policy, "p"); XCTAssertEqual(c.prompts, "e.jsonl"); XCTAssertEqual(c.k, 2); XCTAssertEqual(c.temperature, 0)
        XCTAssertNil(c.judge)
        assertRefused(["demo-eval"], "give --policy, --judge, or both")
        assertRefused(["demo-eval", "--policy", "p"], "--policy needs --prompts")
        assertRefused(["demo-eval", "--judge", "j"], "--judge needs --pairs")
        assertRefused(["demo-eval", "--policy", "p", "--prompts", "e.jsonl", "--k", "0"], "--k must be at least 1")
    }

    func testBench() throws {
        let c = try parse(["bench", "--shape", "all", "--workloads", "train, dpo", "--repeats", "2", "--json", "b.json"], as: Bench.self)
        XCTAssertEqual(c.shapeList, ["stories15M", "stories110M"]); XCTAssertEqual(c.workloadList, ["train", "dpo"])
        XCTAssertEqual(c.repeats, 2); XCTAssertEqual(c.json, "b.json")
        assertRefused(["bench", "--repeats", "0"], "--repeats must be at least 1")
        assertRefused(["bench", "--workloads", "fly"], "unknown workload 'fly'")
        assertRefused(["bench", "--workloads", "iteration"], "the iteration workload needs --model DIR")
        assertRefused(["bench", "--workloads", "iteration", "--model", "m", "--iteration-k", "1"], "--iteration-k ≥ 2")
    }

    func testDoctor() throws {
        XCTAssertNotNil(try parse(["doctor"], as: Doctor.self))
        assertRefused(["doctor", "--threads", "2"], "Unknown option '--threads'")
    }

    func testInspect() throws {
        let c = try parse(["inspect", "m", "--k", "4", "--prompt-tokens", "100", "--new-tokens", "20", "--micro-batch-size", "1",
                           "--max-length", "256"], as: Inspect.self)
        XCTAssertEqual(c.model, "m"); XCTAssertEqual(c.k, 4); XCTAssertEqual(c.promptTokens, 100); XCTAssertEqual(c.newTokens, 20)
        XCTAssertEqual(c.microBatch, 1); XCTAssertEqual(c.maxLength, 256)
        assertRefused(["inspect", "m", "--new-tokens=-5"], "--new-tokens must be at least 1")
        assertRefused(["inspect"], "Missing expected argument '<model>'")
    }
}
