// `idpo bench` workloads `judge` and `judge-naive`: knockout ranking of k = 8 responses (64 tokens
// each) to a 128-token context with the pairwise A/B model on random weights of the named shape —
// with the context prefilled once per prompt and reused through the KV cache, or (naive) every
// comparison computed from scratch. Reports comparisons/s and the tokens actually computed.

import Foundation
import Kernels
import Llama
import Support
import Preference

public enum PreferenceBenchmark {
    public static let workloadNames = ["judge", "judge-naive"]

    public static func run(shape: BenchmarkShape, workload: String, repeats: Int, log: (String) -> Void) throws -> BenchmarkResult {
        let c = shape.config
        let model = LlamaModel(config: c)
        model.randomize(seed: 77)
        var rng = SplitMix64(seed: 3)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) } }
        let prompts = 2, k = 8
        let header = (0..<prompts).map { _ in tokens(16 + 128) }     // template header + context
        let responses = (0..<prompts).map { _ in (0..<k).map { _ in tokens(64) } }
        let sep = tokens(4), tail = tokens(8)
        let scorer = PairwiseScorer(model: model, tokenA: 32, tokenB: 33, maxLength: 512)
        let shared = workload == "judge"
        var comparisons = 0
        EngineBenchmark.resetPeakRSS()
        let secs = try EngineBenchmark.median(repeats: repeats) {
            comparisons = 0
            for p in 0..<prompts {
                try scorer.setSharedPrefix(shared ? header[p] : [])
                struct Source: ComparisonSource {
                    let scorer: PairwiseScorer, header: [Int32], responses: [[Int32]], sep: [Int32], tail: [Int32]
                    var count = 0
                    mutating func compare(_ i: Int, _ j: Int) throws -> RecordedComparison {
                        count += 1
                        let pa = try scorer.probabilityA([header + responses[i] + sep + responses[j] + tail,
                                                          header + responses[j] + sep + responses[i] + tail])
                        return RecordedComparison(first: i, second: j, probability: (pa[0] + 1 - pa[1]) / 2)
                    }
                }
                let r = try Ranking.knockout(count: k, judge: Source(scorer: scorer, header: header[p], responses: responses[p], sep: sep, tail: tail))
                comparisons += r.comparisons.count
            }
        }
        let perComparison = Double(scorer.computedTokens) / Double(max(1, scorer.naiveTokens))
        let result = BenchmarkResult(name: workload, shape: shape.name, threads: Parallel.threads,
                                     tokens_per_s: Double(comparisons) / secs, seconds: secs, gflops: nil, peak_fraction: nil,
                                     peak_rss_bytes: EngineBenchmark.peakRSS(), cpu_utilization: EngineBenchmark.lastUtilization)
        log(String(format: "%@ %-11@ threads %d: %7.2f comparisons/s  %.3f s for %d prompts × knockout(k=8) = %d comparisons; tokens computed %.0f%% of naive  peak RSS %.0f MiB",
                   shape.name, workload, Parallel.threads, Double(comparisons) / secs, secs, prompts, comparisons, 100 * perComparison,
                   Double(result.peak_rss_bytes) / 1048576))
        return result
    }
}
