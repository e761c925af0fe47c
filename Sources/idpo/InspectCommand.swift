// `idpo inspect MODEL`: what a model directory is and what each stage would need to run it —
// architecture, parameter count, weight dtypes and file sizes, and per-stage memory estimates —
// read from the headers, without loading the weights.

import ArgumentParser
import Foundation
import Kernels
import Llama
import Checkpoints
import Pipeline
import Generation
import Optimization

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's architecture, size, dtypes and the memory each stage would need.",
        discussion: """
        Reads config.json and the weight headers only. The estimates are the plans the stages check before they allocate (weights in float32, KV cache, scratch, gradients, optimizer moments, activations); a stage refuses to start when its plan exceeds this machine's memory.
        """)

    @Argument(help: "Model directory (config.json + model.safetensors / shards / model.h5).")
    var model: String

    @Option(help: "Samples per prompt for the generation estimate.") var k: Int = 8
    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the generation estimate.") var promptTokens: Int = 1024
    @Option(name: .customLong("new-tokens"), help: "New tokens per sample for the generation estimate.") var newTokens: Int = 256
    @Option(name: .customLong("micro-batch-size"), help: "Pairs per micro-batch for the training estimate.") var microBatch: Int = 2
    @Option(name: .customLong("max-length"), help: "Tokens per sequence for the training estimate.") var maxLength: Int = 2048

    func validate() throws {
        for (name, v) in [("--k", k), ("--prompt-tokens", promptTokens), ("--new-tokens", newTokens),
                          ("--micro-batch-size", microBatch), ("--max-length", maxLength)] where v < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
    }

    func run() throws {
        let d = try ModelDirectory.describe(URL(fileURLWithPath: model))
        let c = d.config
        let params = c.parameterCount()
        print("model: \(model)")
        print("architecture: Llama — hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, \(c.numAttentionHeads) heads / \(c.numKeyValueHeads) KV heads (head_dim \(c.headDim)), FFN \(c.intermediateSize), vocabulary \(c.vocabSize), \(c.tieWordEmbeddings ? "tied" : "untied") embeddings, max positions \(c.maxPositionEmbeddings)")
        print(String(format: "parameters: %@ (%.1f M)", "\(params)", Double(params) / 1e6))
        print("weights: \(d.format.rawValue); dtypes " + d.dtypes.sorted { $0.key < $1.key }.map { "\($0.key) × \($0.value)" }.joined(separator: ", "))
        for f in d.files { print("  \(f.name): \(MemoryPlan.gigabytes(f.bytes))") }
        let weights = c.parameterBytes
        let positions = c.maxPositionEmbeddings
        let (promptTokens, newTokens) = (min(promptTokens, positions), min(newTokens, max(1, positions - min(promptTokens, positions))))
        let maxLength = min(maxLength, positions)
        func show(_ name: String, _ plan: MemoryPlan) {
            let fits = plan.total <= MemoryBudget.physicalBytes ? "fits" : "does NOT fit"
            print("  \(name): \(plan) — \(fits)")
        }
        print("memory estimates (this machine: \(MemoryPlan.gigabytes(MemoryBudget.physicalBytes))):")
        // Frozen stages (sampling, judging, the reference) keep a BF16/F16 safetensors checkpoint in
        // 16 bits (ModelDirectory.load(_:frozen:)); training holds float32 master weights.
        let sixteenBit = (d.format == .safetensors || d.format == .shardedSafetensors)
            && !d.dtypes.isEmpty && d.dtypes.keys.allSatisfy { $0 == "BF16" || $0 == "F16" }
        let frozenBytes = sixteenBit ? c.parameterBytes / 2 : weights
        var load = MemoryPlan(); load.add("weights (float32)", weights)
        show("load for training", load)
        if sixteenBit {
            var frozen = MemoryPlan(); frozen.add("weights (16-bit, read in place)", frozenBytes)
            show("load frozen (judge, reference, sampling)", frozen)
        }
        let sampling = GenerationSettings(samplesPerPrompt: k, maxNewTokens: newTokens, sampling: SamplingParameters(), stopTokens: [], seed: 0)
        show("generate (k = \(k), \(promptTokens) + \(newTokens) tokens)",
             Generator.memoryPlan(config: c, longestPrompt: promptTokens, requests: 1, settings: sampling, weightBytes: frozenBytes))
        show("judge (pairwise, inputs up to \(min(4096, positions)) tokens)",
             Judges.plan(config: c, kind: .pairwise, bytesPerWeight: sixteenBit ? 2 : 4))
        show("train (full fine-tune, AdamW, \(microBatch) pairs × \(maxLength) tokens per micro-batch)",
             TrainStage.trainingPlan(config: c, microBatchPairs: microBatch, longest: maxLength, optimizer: .adamw))
    }
}
