// `idpo bench` workload `dpo`: one DPO optimizer step (4 pairs × 256 tokens: a 64-token prompt and
// 192-token chosen/rejected responses, sigmoid loss, AdamW) with the reference log-probs cached, as
// idpo trains; the one-off reference scoring of the same pairs is reported beside it.

import Foundation
import Kernels
import Llama
import Support
import Optimization

public enum OptimizationBenchmark {
    public static let workloadNames = ["dpo"]

    public static func run(shape: BenchmarkShape, repeats: Int, log: (String) -> Void) throws -> [BenchmarkResult] {
        let c = shape.config
        let policy = LlamaModel(config: c)
        policy.randomize(seed: 1234)
        var rng = SplitMix64(seed: 17)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) } }
        let pairs = (0..<4).map { i -> TokenizedPair in
            let prompt = tokens(64)
            return TokenizedPair(id: "\(i)", prompt: prompt, chosen: tokens(192), rejected: tokens(192))
        }
        var settings = TrainerSettings()
        settings.batchSize = 4; settings.microBatchSize = 4
        settings.optimizer.kind = .adamw; settings.optimizer.learningRate = 1e-6; settings.optimizer.schedule = .constant
        settings.limits = SequenceLimits(maxLength: 512, maxPromptLength: 128)
        settings.epochs = 1000
        EngineBenchmark.resetPeakRSS()
        var reference: [(chosen: Double, rejected: Double)] = []
        let refSeconds = try EngineBenchmark.median(repeats: 1) {
            reference = try SequenceScoring.logProbs(model: policy, pairs: pairs, microBatch: 4)
        }
        let refUtil = EngineBenchmark.lastUtilization
        let trainer = try PreferenceTrainer(policy: policy, settings: settings)
        let secs = try EngineBenchmark.median(repeats: repeats) {
            _ = try trainer.step(pairs: pairs, reference: reference, indices: [0, 1, 2, 3])
        }
        let tokens = 2 * 4 * 256
        let step = BenchmarkResult(name: "dpo", shape: shape.name, threads: Parallel.threads, tokens_per_s: Double(tokens) / secs,
                                   seconds: secs, gflops: nil, peak_fraction: nil, peak_rss_bytes: EngineBenchmark.peakRSS(),
                                   cpu_utilization: EngineBenchmark.lastUtilization)
        let ref = BenchmarkResult(name: "dpo-reference-scoring", shape: shape.name, threads: Parallel.threads,
                                  tokens_per_s: Double(tokens) / refSeconds, seconds: refSeconds, gflops: nil, peak_fraction: nil,
                                  peak_rss_bytes: EngineBenchmark.peakRSS(), cpu_utilization: refUtil)
        log(EngineBenchmark.format(step) + "  (one optimizer step, reference cached)")
        log(EngineBenchmark.format(ref) + "  (once per iteration, not per step)")
        return [step, ref]
    }
}
