// The whole model against PyTorch (transformers LlamaForCausalLM / Qwen2ForCausalLM, float32): logits, per-token
// log-probs, the loss and every parameter gradient, on padded batches of unequal lengths.
// Fixtures come from Scripts/make_fixtures.py.

import XCTest
import Kernels
import Llama
import Checkpoints
import TestSupport

final class ReferenceFixtureTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = Fixtures.url(name)
        let model = try ModelDirectory.load(dir)
        let ref = try SafetensorsFile(url: dir.appendingPathComponent("reference.safetensors"))
        let ids = try ref.integers("input_ids"), targets = try ref.integers("targets")
        let lengths = try ref.integers("lengths").map(Int.init)
        let B = lengths.count, T = ids.count / B, V = model.config.vocabSize
        let batch = TokenBatch(tokens: ids.map { Int32($0) }, targets: targets.map { Int32($0) }, lengths: lengths, maxLength: T)
        let ws = TrainingWorkspace(config: model.config, capacity: batch.packedRows, maxSequenceLength: T)
        var logp = [Float](repeating: 0, count: B * T)
        var logits = [Float](repeating: 0, count: batch.totalTokens * V)
        try model.forward(batch, workspace: ws, logProbs: &logp, logits: &logits)

        // Logits at valid positions (packed order) vs the reference (B, T, V).
        let refLogits = try ref.floats("logits")
        var expectedLogits: [Float] = []
        for b in 0..<B { for t in 0..<lengths[b] { expectedLogits += refLogits[(b * T + t) * V..<(b * T + t + 1) * V] } }
        let cl = compare(logits, expectedLogits)
        XCTAssertLessThanOrEqual(cl.relativeError, 1e-4, "\(name) logits: \(cl)", file: file, line: line)

        let refLogp = try ref.floats("logprobs")
        var mask = [Float](repeating: 0, count: B * T)
        for b in 0..<B { for t in 0..<lengths[b] { mask[b * T + t] = 1 } }
        let cp = compare(zip(logp, mask).map { $0 * $1 }, zip(refLogp, mask).map { $0 * $1 })
        XCTAssertLessThanOrEqual(cp.relativeError, 1e-4, "\(name) log-probs: \(cp)", file: file, line: line)
        for i in 0..<B * T where mask[i] == 0 { XCTAssertEqual(logp[i], 0, "padding log-prob must be 0") }

        // loss = −Σ w · logp
        let w = try ref.floats("loss_weights")
        let loss = -zip(w, logp).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let refLoss = Double(try ref.floats("loss")[0])
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * abs(refLoss), "\(name) loss", file: file, line: line)

        // Gradients: dLoss/dlogp = −w.
        let grads = FloatBuffer(count: model.layout.count)
        let dLogp = w.map { -$0 }
        model.backward(dLogProbs: dLogp, batchMaxLength: T, workspace: ws, gradients: grads)
        var worst = (0.0, "")
        for e in model.layout.entries {
            let expected = try ref.floats("grad." + e.name)
            let actual = Array(UnsafeBufferPointer(start: grads.pointer + e.offset, count: e.count))
            let c = compare(actual, expected)
            XCTAssertLessThanOrEqual(c.relativeError, 1e-3, "\(name) gradient \(e.name): \(c)", file: file, line: line)
            if c.relativeError > worst.0 { worst = (c.relativeError, e.name) }
        }
        print("[\(name)] logits \(cl), log-probs \(cp), worst gradient \(worst.1) rel err \(String(format: "%.2e", worst.0))")
    }

    func testMultiHeadUntiedMatchesPyTorch() throws { try check("llama-mha") }
    func testGroupedQueryTiedLlama3RopeMatchesPyTorch() throws { try check("llama-gqa-tied") }
    /// Qwen2ForCausalLM: q/k/v biases (and their gradients), rope_theta 1e6, tied embeddings, a
    /// sliding_window present but off.
    func testQwen2WithProjectionBiasesMatchesPyTorch() throws {
        let config = try LlamaConfig.load(url: Fixtures.url("qwen2-tied/config.json"))
        XCTAssertEqual(config.architecture, .qwen2)
        XCTAssertTrue(config.qkvBias)
        try check("qwen2-tied")
    }
    /// Qwen3ForCausalLM: per-head q/k RMSNorm before RoPE (and their weights' gradients), head_dim
    /// 24 × 4 heads ≠ hidden 64, untied.
    func testQwen3WithHeadNormsAndWideHeadsMatchesPyTorch() throws {
        let config = try LlamaConfig.load(url: Fixtures.url("qwen3-headdim/config.json"))
        XCTAssertEqual(config.architecture, .qwen3)
        XCTAssertTrue(config.qkNorm && !config.qkvBias)
        XCTAssertEqual(config.qDim, 96)
        try check("qwen3-headdim")
    }
    /// GemmaForCausalLM: (1 + w) norms, embeddings × √hidden, GeGLU, head_dim 32 × 4 ≠ 64, one KV head.
    func testGemmaMatchesPyTorch() throws {
        let config = try LlamaConfig.load(url: Fixtures.url("gemma-mqa/config.json"))
        XCTAssertEqual(config.architecture, .gemma)
        XCTAssertTrue(config.usesGeGLU && config.normWeightOffset == 1 && config.embeddingScale == 8)
        try check("gemma-mqa")
    }
    /// Gemma2ForCausalLM: four (1 + w) norms per layer, attention-logit soft-cap 2 and final-logit
    /// soft-cap 4 (small enough that tanh bends), scores scaled by 1/√20 (query_pre_attn_scalar ≠
    /// head_dim 32), a 4-position window on layers 0 and 2 only. Each ingredient matters: the same
    /// weights without the caps, with 1/√head_dim, or with every layer windowed give other log-probs.
    func testGemma2MatchesPyTorch() throws {
        let config = try LlamaConfig.load(url: Fixtures.url("gemma2-softcap/config.json"))
        XCTAssertEqual(config.architecture, .gemma2)
        XCTAssertTrue(config.sandwichNorms && config.usesGeGLU && config.normWeightOffset == 1)
        XCTAssertEqual(config.attentionLogitSoftcap, 2); XCTAssertEqual(config.finalLogitSoftcap, 4)
        XCTAssertEqual(config.queryPreAttentionScalar, 20)
        XCTAssertEqual((0..<3).map { config.window(layer: $0) }, [4, nil, 4])
        try check("gemma2-softcap")
        let model = try ModelDirectory.load(Fixtures.url("gemma2-softcap"))
        let seq: [Int32] = Array(3..<15)
        func logp(_ c: LlamaConfig) throws -> [Float] {
            let m = LlamaModel(config: c)
            m.parameters.pointer.update(from: model.parameters.pointer, count: model.layout.count)
            var out = [Float](repeating: 0, count: seq.count)
            try m.forward(TokenBatch(tokens: seq, targets: seq, lengths: [seq.count], maxLength: seq.count),
                          workspace: TrainingWorkspace(config: c, capacity: Matmul.paddedRows(seq.count), maxSequenceLength: seq.count),
                          logProbs: &out)
            return out
        }
        let base = try logp(config)
        var variants: [(String, LlamaConfig)] = []
        var v = config; v.attentionLogitSoftcap = nil; variants.append(("no attention soft-cap", v))
        v = config; v.finalLogitSoftcap = nil; variants.append(("no final soft-cap", v))
        v = config; v.queryPreAttentionScalar = nil; variants.append(("1/√head_dim", v))
        v = config; v.slidingLayers = [true, true, true]; variants.append(("every layer windowed", v))
        for (what, c) in variants {
            XCTAssertGreaterThan(zip(try logp(c), base).map { abs($0 - $1) }.max()!, 1e-3, "\(what) must change the log-probs")
        }
    }
    /// MistralForCausalLM with sliding_window 4: every query sees its last 4 positions only, in the
    /// forward and in every gradient. (With full attention the same weights give other logits.)
    func testMistralSlidingWindowMatchesPyTorch() throws {
        let config = try LlamaConfig.load(url: Fixtures.url("mistral-window/config.json"))
        XCTAssertEqual(config.architecture, .mistral)
        XCTAssertEqual(config.slidingWindow, 4)
        try check("mistral-window")
        // the window matters here: the same weights with full attention disagree with the reference
        let windowed = try ModelDirectory.load(Fixtures.url("mistral-window"))
        var full = windowed.config
        full.slidingWindow = nil
        let unwindowed = LlamaModel(config: full)
        unwindowed.parameters.pointer.update(from: windowed.parameters.pointer, count: windowed.layout.count)
        let seq: [Int32] = Array(3..<15)
        func logp(_ m: LlamaModel) throws -> [Float] {
            var out = [Float](repeating: 0, count: seq.count)
            try m.forward(TokenBatch(tokens: seq, targets: seq, lengths: [seq.count], maxLength: seq.count),
                          workspace: TrainingWorkspace(config: m.config, capacity: Matmul.paddedRows(seq.count), maxSequenceLength: seq.count),
                          logProbs: &out)
            return out
        }
        let a = try logp(windowed), b = try logp(unwindowed)
        XCTAssertEqual(Array(a[0..<4]), Array(b[0..<4]), "within the window nothing changes")
        XCTAssertGreaterThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-3, "past the window the keys it drops matter")
    }

    /// The same sequences give the same log-probs whatever else is in the batch and however much
    /// padding surrounds them: padding never attends and never contributes.
    func testPaddingIsInvisible() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-gqa-tied"))
        var r = TestRandom(seed: 11)
        let seq = r.tokens(6, below: 160), tgt = r.tokens(6, below: 160)
        // Alone, T = 6.
        let alone = TokenBatch(tokens: seq, targets: tgt, lengths: [6], maxLength: 6)
        var a = [Float](repeating: 0, count: 6)
        try model.forward(alone, workspace: TrainingWorkspace(config: model.config, capacity: Matmul.paddedRows(6), maxSequenceLength: 6), logProbs: &a)
        // Second in a batch of 2 with T = 10, junk tokens in the padding.
        let other = r.tokens(10, below: 160)
        let padded = seq + [Int32](repeating: 77, count: 4)
        let batch = TokenBatch(tokens: other + padded, targets: other + tgt + [Int32](repeating: 5, count: 4),
                               lengths: [10, 6], maxLength: 10, sequencesPerSegment: 1)
        var b = [Float](repeating: 0, count: 20)
        try model.forward(batch, workspace: TrainingWorkspace(config: model.config, capacity: batch.packedRows, maxSequenceLength: 10), logProbs: &b)
        // Batch invariance (each sequence its own segment): the same bits alone and beside another.
        XCTAssertEqual(Array(b[10..<16]), a)
    }
}
