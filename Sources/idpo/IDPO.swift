// The idpo command-line tool: a thin layer that parses arguments and calls the modules.

import ArgumentParser
import Foundation
import Kernels
import Llama
import Checkpoints
import Generation
import Optimization
import Preference
import Pipeline
import Demo
import Benchmarks

@main
struct IDPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idpo",
        abstract: "Iterative (online) DPO for Llama-family models, on the CPU.",
        discussion: """
        Each iteration samples k responses per prompt from the policy, ranks them with a preference model (pairwise A/B, reward or general preference model), keeps best-vs-worst pairs and trains the policy with DPO-style losses through hand-written backward passes. Start with `idpo iterate RECIPE` (see recipes/ and README.md); every stage also runs alone.
        """,
        version: "0.1.0",
        subcommands: [Iterate.self, Sweep.self, Pairs.self, Generate.self, Judge.self, Train.self, Validate.self, Convert.self, Tokenize.self, SFT.self, TrainJudge.self,
                      DemoWorldCommand.self, DemoEval.self, Bench.self, Doctor.self, Inspect.self])

    /// Picks OpenBLAS's kernels for this CPU before anything computes, then runs the command.
    static func main() {
        chooseOpenBLASCore()
        DemoEvaluation.registerOracle()
        if CommandLine.arguments.dropFirst().first == "--version" {
            print("idpo 0.1.0\n\(BLASCore.describe(threads: Parallel.maxThreads))")
            return
        }
        main(nil)
    }

    /// When OpenBLAS fell back to generic kernels on a CPU it does not know (Debian 12's 0.3.21 on
    /// newer Xeons picks Prescott, 5× slower), sets OPENBLAS_CORETYPE to the best core for the
    /// CPU's features and re-executes this program once, so that OpenBLAS starts with it. A value the
    /// user set is respected; the choice is reported by `idpo doctor`, `--version` and `idpo bench`.
    static func chooseOpenBLASCore() {
        let env = ProcessInfo.processInfo.environment
        guard env[BLASCore.reexecMarker] == nil else { return }
        let current = env["IDPO_PRETEND_OPENBLAS_CORE"] ?? BLASCore.name   // tests pretend a fallback
        guard case .switchTo(let core) = BLASCore.choice(current: current, cpu: CPUInfo.current, environment: env) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(BLASCore.reexecMarker, current, 1)
        let argv = CommandLine.unsafeArgv
        execv("/proc/self/exe", argv)
        // exec failed (no /proc): carry on with the kernels we have, and say so.
        unsetenv(BLASCore.reexecMarker)
        FileHandle.standardError.write(Data("idpo: OpenBLAS uses its \(current) kernels; could not restart with \(core) (set OPENBLAS_CORETYPE=\(core) to speed up)\n".utf8))
    }
}

/// What idpo found about this machine: CPU, SIMD, OpenBLAS core, threads, libraries.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the CPU, its SIMD features, the OpenBLAS kernels in use and the thread count.")

    func run() throws {
        print(BLASCore.describe(threads: Parallel.maxThreads))
        print("OpenBLAS build: \(BLASCore.configuration)")
        print("batch-invariant row tile: \(Matmul.rowTile)")
        print("HDF5 \(HDF5Library.version); memory \(MemoryPlan.gigabytes(MemoryBudget.physicalBytes))")
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure engine speed on random weights of a named shape.",
        discussion: """
        Workloads: train (forward+backward, batch 8 × 256 tokens), forward (scoring, same batch), decode1 / decode8 (batch 1 / 8, 32-token prompt, 128 new tokens, greedy, KV cache), decode1-bf16 / decode8-bf16 (the same with the weights rounded to bfloat16 and kept 16-bit, as a frozen bf16 checkpoint is: half the bytes per token), sample8 / sample8-noshare (4 prompts of 64 tokens, k = 8 samples of 128 tokens each, temperature 1; the prompt prefill shared by the 8 samples, or repeated for each), dpo (one DPO optimizer step on 4 pairs × 256 tokens with AdamW, reference log-probs cached), judge / judge-naive (knockout of k = 8 responses with the pairwise A/B model, context shared through the KV cache or recomputed per comparison).

        iteration: one whole `idpo iterate` iteration on a real model (--model; it is also its own pairwise judge unless --judge): 32 chat prompts, k = 4 samples of 96 new tokens, knockout, 4 DPO steps, evaluation on 5 prompts; per-stage seconds. The command printed at the end runs the same iteration with transformers + TRL (Scripts/bench_iteration_pytorch.py).

        Prints tokens/s, GFLOP/s and the fraction of the sgemm peak measured on this machine, and the peak resident memory of each workload. Compare with Scripts/bench_pytorch.py.
        """)

    @OptionGroup var compute: ComputeOptions

    @Option(help: "Model shape: stories15M, stories110M, smollm2-135M, llama-1b, qwen2.5-0.5b, gemma-2b, or all (the first two).")
    var shape: String = "stories15M"

    @Option(help: "Comma-separated workloads: train, forward, decode1, decode8, decode1-bf16, decode8-bf16, sample8, sample8-noshare, dpo, judge, judge-naive, iteration.")
    var workloads: String = "train,forward,decode1,decode8"

    @Option(help: "Timed repetitions per workload (after one warm-up); the median is reported.")
    var repeats: Int = 3

    @Option(help: "Also write the results as a JSON list to this file.")
    var json: String?

    @Option(help: "iteration workload: the policy model directory (also the pairwise judge unless --judge).")
    var model: String?

    @Option(help: "iteration workload: the pairwise judge's model directory.")
    var judge: String?

    @Option(name: .customLong("iteration-prompts"), help: "iteration workload: training prompts.")
    var iterationPrompts = 32

    @Option(name: .customLong("iteration-k"), help: "iteration workload: samples per prompt.")
    var iterationK = 4

    @Option(name: .customLong("iteration-new-tokens"), help: "iteration workload: max new tokens per sample.")
    var iterationNewTokens = 96

    @Option(name: .customLong("iteration-steps"), help: "iteration workload: DPO optimizer steps.")
    var iterationSteps = 4

    @Option(name: .customLong("work-dir"), help: "iteration workload: folder for its prompts, recipe and run.")
    var workDir = "runs/bench-iteration"

    func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        let known = EngineBenchmark.workloadNames + GenerationBenchmark.workloadNames + OptimizationBenchmark.workloadNames
            + PreferenceBenchmark.workloadNames + ["iteration"]
        if workloadList.contains("iteration") && model == nil {
            throw ValidationError("the iteration workload needs --model DIR (a real chat model, e.g. SmolLM2-135M-Instruct)")
        }
        if iterationPrompts < 1 || iterationK < 2 || iterationNewTokens < 1 || iterationSteps < 1 {
            throw ValidationError("--iteration-prompts, --iteration-new-tokens and --iteration-steps must be ≥ 1 and --iteration-k ≥ 2")
        }
        for w in workloadList where !known.contains(w) {
            throw ValidationError("unknown workload '\(w)'; choose from \(known.joined(separator: ", "))")
        }
        for s in shapeList { _ = try BenchmarkShape.named(s) }
    }

    /// One `idpo iterate` iteration on a real model, timed per stage.
    func runIteration(model: String) throws {
        var s = IterationBenchmark.Settings(policy: URL(fileURLWithPath: model).standardizedFileURL)
        s.judge = judge.map { URL(fileURLWithPath: $0).standardizedFileURL }
        s.prompts = iterationPrompts; s.k = iterationK; s.maxNewTokens = iterationNewTokens; s.steps = iterationSteps
        let work = URL(fileURLWithPath: workDir).standardizedFileURL
        let r = try IterationBenchmark.run(s, work: work)
        print("iteration (\(s.prompts) prompts, k = \(s.k), \(s.maxNewTokens) new tokens, \(s.steps) DPO steps, \(Parallel.threads) thread(s)):")
        for name in ["generate", "judge", "train", "evaluate"] {
            if let v = r.stages[name] { print(String(format: "  %-9@ %8.1f s", name, v)) }
        }
        print(String(format: "  %-9@ %8.1f s   peak RSS %.0f MB   %d pairs", "total", r.total, Double(r.peak_rss_bytes) / 1e6, r.pairs ?? 0))
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print("iteration-json: " + String(decoding: try e.encode(r), as: UTF8.self))
        print("""
        same iteration with transformers + TRL:
          python3 Scripts/bench_iteration_pytorch.py --policy \(s.policy.path) --judge \((s.judge ?? s.policy).path) \\
            --prompts \(work.path)/prompts.jsonl --eval-prompts \(work.path)/eval-prompts.jsonl --k \(s.k) \\
            --max-new-tokens \(s.maxNewTokens) --steps \(s.steps) --batch-size \(s.prompts / s.steps) \\
            --micro-batch-size \(s.prompts / s.steps) --lr 1e-6 --scheduler constant --warmup-ratio 0 --strip-bos leading \\
            --max-prompt-tokens 256 --max-length \(256 + s.maxNewTokens) --max-prompt-length 256 \\
            --threads \(Parallel.threads) --out \(work.path)/pytorch
        """)
    }

    var workloadList: [String] { workloads.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    var shapeList: [String] { shape.lowercased() == "all" ? ["stories15M", "stories110M"] : [shape] }

    func run() throws {
        compute.apply()
        print(BLASCore.describe(threads: Parallel.threads))
        let limits = EngineBenchmark.Limits.measure()
        let peak = limits.sgemmGFLOPS
        print(String(format: "machine limits with %d thread(s): FMA peak %.1f GFLOP/s (%@), sgemm %.1f GFLOP/s, streaming read %.1f GB/s",
                     Parallel.threads, limits.fmaGFLOPS, MachineLimits.simdPath, peak, limits.bandwidthGBps))
        var all: [BenchmarkResult] = []
        for s in shapeList where workloadList.contains(where: { $0 != "iteration" }) {
            let shape = try BenchmarkShape.named(s)
            let engine = workloadList.filter { EngineBenchmark.workloadNames.contains($0) }
            all += try EngineBenchmark.run(shape: shape, workloads: engine, repeats: repeats, limits: limits) { print($0) }
            for w in workloadList where GenerationBenchmark.workloadNames.contains(w) {
                all.append(try GenerationBenchmark.run(shape: shape, workload: w, repeats: repeats) { print($0) })
            }
            for w in workloadList where PreferenceBenchmark.workloadNames.contains(w) {
                all.append(try PreferenceBenchmark.run(shape: shape, workload: w, repeats: repeats) { print($0) })
            }
            if workloadList.contains("dpo") {
                all += try OptimizationBenchmark.run(shape: shape, repeats: repeats) { print($0) }
            }
        }
        if workloadList.contains("iteration"), let model { try runIteration(model: model) }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(all).write(to: URL(fileURLWithPath: json), options: .atomic)
        }
    }
}
