// Engine benchmarks behind `idpo bench`: training forward+backward, forward-only scoring and
// batched decode on random weights of a named shape, with the sgemm peak measured on the spot.
// FLOP convention (same as Scripts/bench_pytorch.py): N = matmul parameters (blocks + lm_head),
// attention 4·L·T·D per token; forward = tokens·(2N + attn), training = tokens·(6N + 3·attn).

import Foundation
import Kernels
import Support
import Llama

public struct BenchmarkShape: Sendable {
    public let name: String
    public let config: LlamaConfig

    public static let names = ["stories15M", "stories110M", "smollm2-135M", "llama-1b", "qwen2.5-0.5b", "gemma-2b"]

    /// Named shapes: stories15M (288, 6 layers, 6 heads, ffn 768, vocab 32000) and stories110M
    /// (768, 12, 12, 2048, 32000), tied embeddings like the llama2.c checkpoints; smollm2-135M and
    /// llama-1b, the shapes of the real models users train; qwen2.5-0.5b, a Qwen2 (q/k/v biases);
    /// gemma-2b, the GPM seed's backbone.
    public static func named(_ name: String) throws -> BenchmarkShape {
        switch name.lowercased() {
        case "stories15m":
            return BenchmarkShape(name: "stories15M", config: try LlamaConfig(
                hiddenSize: 288, intermediateSize: 768, numHiddenLayers: 6, numAttentionHeads: 6,
                maxPositionEmbeddings: 1024, vocabSize: 32000, tieWordEmbeddings: true))
        case "stories110m":
            return BenchmarkShape(name: "stories110M", config: try LlamaConfig(
                hiddenSize: 768, intermediateSize: 2048, numHiddenLayers: 12, numAttentionHeads: 12,
                maxPositionEmbeddings: 1024, vocabSize: 32000, tieWordEmbeddings: true))
        case "smollm2-135m":
            // SmolLM2-135M: narrow and deep, GQA, tied, a 49k vocabulary.
            return BenchmarkShape(name: "smollm2-135M", config: try LlamaConfig(
                hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30, numAttentionHeads: 9, numKeyValueHeads: 3,
                ropeTheta: 100000, maxPositionEmbeddings: 2048, vocabSize: 49152, tieWordEmbeddings: true))
        case "llama-1b":
            // Llama-3.2-1B: 16 layers, 32 heads / 8 KV heads, FFN 8192, 128k vocabulary, tied.
            return BenchmarkShape(name: "llama-1b", config: try LlamaConfig(
                hiddenSize: 2048, intermediateSize: 8192, numHiddenLayers: 16, numAttentionHeads: 32, numKeyValueHeads: 8,
                ropeTheta: 500000, maxPositionEmbeddings: 2048, vocabSize: 128256, tieWordEmbeddings: true))
        case "qwen2.5-0.5b":
            // Qwen2.5-0.5B: 24 layers, 14 heads / 2 KV heads, FFN 4864, 152k vocabulary, tied, q/k/v biases.
            return BenchmarkShape(name: "qwen2.5-0.5b", config: try LlamaConfig(
                hiddenSize: 896, intermediateSize: 4864, numHiddenLayers: 24, numAttentionHeads: 14, numKeyValueHeads: 2,
                rmsNormEps: 1e-6, ropeTheta: 1000000, maxPositionEmbeddings: 2048, vocabSize: 151936, tieWordEmbeddings: true,
                architecture: .qwen2))
        case "gemma-2b":
            // Gemma-2B: 18 layers, 8 heads of 256, one KV head, FFN 16384 (GeGLU), 256k vocabulary, tied.
            return BenchmarkShape(name: "gemma-2b", config: try LlamaConfig(
                hiddenSize: 2048, intermediateSize: 16384, numHiddenLayers: 18, numAttentionHeads: 8, numKeyValueHeads: 1,
                headDim: 256, rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, vocabSize: 256000, tieWordEmbeddings: true,
                architecture: .gemma))
        default:
            throw ConfigError(field: "shape", reason: "unknown benchmark shape '\(name)' (\(names.joined(separator: ", ")))")
        }
    }
}

/// One measured workload (the JSON object `idpo bench --json` writes).
public struct BenchmarkResult: Codable, Sendable {
    public var name: String
    public var shape: String
    public var threads: Int
    public var tokens_per_s: Double
    public var seconds: Double
    public var gflops: Double?
    public var peak_fraction: Double?
    public var peak_rss_bytes: Int
    /// Fraction of the machine's FMA peak (FLOP-bound workloads) or of the memory-bandwidth limit
    /// (batch-1 decode: weight bytes per token ÷ streaming bandwidth), when measured.
    public var fma_peak_fraction: Double?
    public var bandwidth_fraction: Double?
    /// Process CPU seconds per wall second over the timed runs (≈ threads when every core is busy;
    /// workers spin for ≤ 0.2 ms between parallel regions, which counts as busy).
    public var cpu_utilization: Double

    public init(name: String, shape: String, threads: Int, tokens_per_s: Double, seconds: Double, gflops: Double?,
                peak_fraction: Double?, peak_rss_bytes: Int, cpu_utilization: Double) {
        self.name = name; self.shape = shape; self.threads = threads; self.tokens_per_s = tokens_per_s
        self.seconds = seconds; self.gflops = gflops; self.peak_fraction = peak_fraction
        self.peak_rss_bytes = peak_rss_bytes; self.cpu_utilization = cpu_utilization
    }
}

public enum EngineBenchmark {
    public static let workloadNames = ["train", "forward", "decode1", "decode8", "decode1-bf16", "decode8-bf16"]

    /// Best-of sgemm GFLOP/s over the product shapes training uses (NN, NT, TN at 2048×768×288-ish
    /// sizes) plus a square 1024³ product; each timed for ≥ 0.25 s.
    public static func measureSgemmPeak() -> Double {
        let shapes: [(Bool, Bool, Int, Int, Int)] = [
            (false, true, 2048, 768, 288), (false, false, 2048, 288, 768), (true, false, 768, 288, 2048),
            (false, true, 1024, 1024, 1024), (false, true, 2048, 2048, 768),
        ]
        var best = 0.0
        for (ta, tb, m, n, k) in shapes {
            let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * n), c = FloatBuffer(count: m * n)
            for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
            for i in 0..<b.count { b[i] = Float(i % 5) * 0.01 }
            let run = {
                Matmul.gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.pointer, lda: ta ? m : k,
                            b: b.pointer, ldb: tb ? k : n, beta: 0, c: c.pointer, ldc: n)
            }
            run()
            var reps = 0
            let start = now()
            while now() - start < 0.25 { run(); reps += 1 }
            let secs = now() - start
            best = max(best, 2.0 * Double(m * n * k) * Double(reps) / secs / 1e9)
        }
        return best
    }

    /// Runs the named workloads on random weights of `shape`.
    /// The machine's ceilings the figures are reported against.
    public struct Limits: Sendable {
        public var sgemmGFLOPS: Double
        public var fmaGFLOPS: Double
        public var bandwidthGBps: Double
        public init(sgemmGFLOPS: Double, fmaGFLOPS: Double, bandwidthGBps: Double) {
            self.sgemmGFLOPS = sgemmGFLOPS; self.fmaGFLOPS = fmaGFLOPS; self.bandwidthGBps = bandwidthGBps
        }
        /// Measures all three with the current thread count.
        public static func measure() -> Limits {
            Limits(sgemmGFLOPS: measureSgemmPeak(), fmaGFLOPS: KernelBenchmark.fmaPeakGFLOPS(),
                   bandwidthGBps: KernelBenchmark.streamingBandwidthGBps())
        }
    }

    public static func run(shape: BenchmarkShape, workloads: [String], repeats: Int, limits: Limits,
                           log: (String) -> Void) throws -> [BenchmarkResult] {
        let sgemmPeak = limits.sgemmGFLOPS
        let c = shape.config
        let model = LlamaModel(config: c)
        model.randomize(seed: 1234)
        let matmulParams = Double(model.layout.matmulParameterCount(config: c))
        var results: [BenchmarkResult] = []
        var rng = SplitMix64(seed: 99)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) } }

        for w in workloads {
            resetPeakRSS()
            switch w {
            case "train", "forward":
                let B = 8, T = 256
                let toks = tokens(B * T)
                let targets = Array(toks.dropFirst()) + [0]
                let batch = TokenBatch(tokens: toks, targets: targets, lengths: Array(repeating: T, count: B), maxLength: T)
                let training = w == "train"
                let ws = TrainingWorkspace(config: c, capacity: B * Matmul.paddedRows(T), maxSequenceLength: T, training: training)
                let grads = FloatBuffer(count: training ? model.layout.count : 0)
                var logp = [Float](repeating: 0, count: B * T)
                let dLogp = [Float](repeating: -1 / Float(B * T), count: B * T)
                let step = {
                    try model.forward(batch, workspace: ws, logProbs: &logp, training: training)
                    if training {
                        grads.zero()
                        model.backward(dLogProbs: dLogp, batchMaxLength: T, workspace: ws, gradients: grads)
                    }
                }
                let secs = try median(repeats: repeats, step)
                let attn = 4.0 * Double(c.numHiddenLayers * T * c.hiddenSize)
                let flops = Double(B * T) * (training ? 6 * matmulParams + 3 * attn : 2 * matmulParams + attn)
                let gflops = flops / secs / 1e9
                results.append(BenchmarkResult(name: w, shape: shape.name, threads: Parallel.threads,
                                               tokens_per_s: Double(B * T) / secs, seconds: secs, gflops: gflops,
                                               peak_fraction: gflops / sgemmPeak, peak_rss_bytes: peakRSS(),
                                               cpu_utilization: lastUtilization))
                results[results.count - 1].fma_peak_fraction = gflops / limits.fmaGFLOPS
            case "decode1", "decode8", "decode1-bf16", "decode8-bf16":
                let B = w.hasPrefix("decode1") ? 1 : 8, prompt = 32, newTokens = 128
                // -bf16: the same weights rounded to bfloat16, kept 16-bit as a frozen model is
                let model = w.hasSuffix("-bf16") ? model.frozenSixteenBitCopy(.bfloat16) : model
                let cache = KVCache(config: c, slots: B, maxLength: prompt + newTokens)
                let session = InferenceSession(model: model, cache: cache, maxRows: B * prompt, logitRows: B)
                let prompts = (0..<B).map { _ in tokens(prompt) }
                let V = c.vocabSize
                let generate = {
                    for s in 0..<B { cache.reset(slot: s) }
                    try session.extend(slots: Array(0..<B), tokens: prompts)
                    for _ in 0..<newTokens {
                        // greedy: argmax of each slot's logits
                        let next: [[Int32]] = (0..<B).map { s in
                            let row = session.logits.pointer + s * V
                            var best = 0
                            for v in 1..<V where row[v] > row[best] { best = v }
                            return [Int32(best)]
                        }
                        try session.extend(slots: Array(0..<B), tokens: next)
                    }
                }
                let secs = try median(repeats: repeats, generate)
                results.append(BenchmarkResult(name: w, shape: shape.name, threads: Parallel.threads,
                                               tokens_per_s: Double(B * newTokens) / secs, seconds: secs, gflops: nil,
                                               peak_fraction: nil, peak_rss_bytes: peakRSS(),
                                               cpu_utilization: lastUtilization))
                // Each decode step streams every weight once: the bandwidth limit in steps per second.
                let stepsPerSecondLimit = limits.bandwidthGBps * 1e9 / Double(model.weightBytes)
                results[results.count - 1].bandwidth_fraction = Double(newTokens) / secs / stepsPerSecondLimit
            default:
                throw ConfigError(field: "workloads", reason: "unknown workload '\(w)' (\(workloadNames.joined(separator: ", ")))")
            }
            log(format(results.last!))
        }
        return results
    }

    public static func format(_ r: BenchmarkResult) -> String {
        var s = String(format: "%@ %-8@ threads %d: %9.1f tok/s  %7.3f s", r.shape, r.name, r.threads, r.tokens_per_s, r.seconds)
        if let g = r.gflops, let p = r.peak_fraction { s += String(format: "  %6.1f GFLOP/s  %4.0f%% of sgemm peak", g, p * 100) }
        if let f = r.fma_peak_fraction { s += String(format: " (%2.0f%% of FMA peak)", f * 100) }
        if let b = r.bandwidth_fraction { s += String(format: "  %3.0f%% of the memory-bandwidth limit", b * 100) }
        s += String(format: "  peak RSS %.0f MiB  CPU %.2f cores", Double(r.peak_rss_bytes) / 1048576, r.cpu_utilization)
        return s
    }

    nonisolated(unsafe) public static var lastUtilization = 0.0

    /// Median wall seconds of `repeats` timed runs after one warm-up; sets `lastUtilization`.
    public static func median(repeats: Int, _ body: () throws -> Void) throws -> Double {
        try body()   // warm-up
        var times: [Double] = []
        let cpu0 = cpuSeconds(), wall0 = now()
        for _ in 0..<max(1, repeats) {
            let t0 = now()
            try body()
            times.append(now() - t0)
        }
        lastUtilization = (cpuSeconds() - cpu0) / (now() - wall0)
        times.sort()
        return times[times.count / 2]
    }

    /// User + system CPU seconds of this process.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6
            + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Resets the kernel's peak-RSS mark (Linux: "5" to /proc/self/clear_refs).
    public static func resetPeakRSS() {
        if let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") { h.write(Data("5".utf8)); try? h.close() }
    }

    /// Peak resident set size since the last reset (VmHWM), in bytes.
    public static func peakRSS() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            // "VmHWM:\t  657000 kB", but "VmHWM:\t16033508 kB" from 10 GB on: split on tabs and spaces.
            let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
}
