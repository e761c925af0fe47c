// `idpo bench` workloads for k-sampling: 4 prompts of 64 tokens, k = 8 samples of exactly 128 new
// tokens each (temperature 1, top-p 1), with the prompt prefill shared by the k samples or repeated.

import Foundation
import Kernels
import Llama
import Support
import Generation

public enum GenerationBenchmark {
    public static let workloadNames = ["sample8", "sample8-noshare"]

    public static func run(shape: BenchmarkShape, workload: String, repeats: Int, batchSlots: Int = SmallMatmul.maxRows,
                           log: (String) -> Void) throws -> BenchmarkResult {
        let model = LlamaModel(config: shape.config)
        model.randomize(seed: 1234)
        var rng = SplitMix64(seed: 5)
        let prompts = (0..<4).map { i in
            GenerationRequest(id: i, tokens: (0..<64).map { _ in Int32(rng.next() % UInt64(shape.config.vocabSize)) })
        }
        let settings = GenerationSettings(samplesPerPrompt: 8, maxNewTokens: 128, sampling: SamplingParameters(temperature: 1, topP: 1),
                                          stopTokens: [], seed: 42, sharePrefill: workload == "sample8",
                                          maxBatchSlots: batchSlots)
        let generator = Generator(model: model)
        EngineBenchmark.resetPeakRSS()
        let secs = try EngineBenchmark.median(repeats: repeats) { _ = try generator.generate(prompts, settings: settings) }
        let tokens = 4 * 8 * 128
        let result = BenchmarkResult(name: workload, shape: shape.name, threads: Parallel.threads,
                                     tokens_per_s: Double(tokens) / secs, seconds: secs, gflops: nil, peak_fraction: nil,
                                     peak_rss_bytes: EngineBenchmark.peakRSS(), cpu_utilization: EngineBenchmark.lastUtilization)
        log(EngineBenchmark.format(result) + "  (prefill tokens \(generator.prefillTokens), batch slots \(settings.maxBatchSlots))")
        return result
    }
}
