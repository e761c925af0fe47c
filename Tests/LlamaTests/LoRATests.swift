// LoRA adapters and activation checkpointing in the engine: a fresh adapter (B = 0) changes no bit,
// checkpointed backward gives the same gradient bits, the KV-cache path with an adapter equals the
// training path, a 16-bit frozen base trains its adapter like a float32 one, and the whole model
// with a PEFT adapter equals transformers + PEFT (Scripts/make_lora_fixtures.py): logits,
// log-probs, the loss and every LoRA gradient, MHA and GQA; merged weights equal PEFT's merge.

import XCTest
import Kernels
import Llama
import Checkpoints
import TestSupport

final class LoRATests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    /// A batch of three right-padded random sequences of lengths [11, 7, 4].
    func batch(_ model: LlamaModel, seed: UInt64 = 5) -> TokenBatch {
        var r = TestRandom(seed: seed)
        let lengths = [11, 7, 4], T = 11, V = model.config.vocabSize
        return TokenBatch(tokens: r.tokens(3 * T, below: V), targets: r.tokens(3 * T, below: V), lengths: lengths, maxLength: T,
                          sequencesPerSegment: 1)
    }

    /// (log-probs, gradients) of loss = −Σ w · logp, w fixed per position.
    func pass(_ model: LlamaModel, _ b: TokenBatch, checkpointing: Bool = false) throws -> (logp: [Float], grads: [Float]) {
        let ws = TrainingWorkspace(model: model, capacity: b.packedRows, maxSequenceLength: b.maxLength,
                                   activationCheckpointing: checkpointing)
        var logp = [Float](repeating: 0, count: b.batchSize * b.maxLength)
        try model.forward(b, workspace: ws, logProbs: &logp)
        let grads = FloatBuffer(count: model.trainableParameters.count)
        let dLogp = (0..<logp.count).map { -Float(1 + $0 % 3) / 20 }
        model.backward(dLogProbs: dLogp, batchMaxLength: b.maxLength, workspace: ws, gradients: grads)
        return (logp, Array(grads.buffer))
    }

    func randomAdapter(_ model: LlamaModel, _ config: LoRAConfig, seed: UInt64) -> LoRAAdapter {
        let adapter = LoRAAdapter(model: model.config, config: config)
        var r = TestRandom(seed: seed)
        let values = r.gaussian(adapter.layout.count, std: 0.2)
        adapter.parameters.pointer.update(from: values, count: values.count)
        return adapter
    }

    func testFreshAdapterChangesNoBitAndTrainsOnlyItself() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-gqa-tied"))
        let b = batch(model)
        let (base, _) = try pass(model, b)
        let adapter = LoRAAdapter(model: model.config, config: LoRAConfig(r: 4, alpha: 8))
        adapter.initializeAsPEFT(seed: 1)
        let before = Array(model.parameters.buffer)
        model.adapter = adapter
        let (withAdapter, grads) = try pass(model, b)
        XCTAssertEqual(withAdapter, base, "B = 0: base + adapter is the base, bit for bit")
        XCTAssertEqual(grads.count, adapter.layout.count)
        // With B = 0 only B gets a gradient (dA = s · Bᵀ dy x = 0); every B gets one.
        for e in adapter.layout.entries {
            let g = grads[e.offset..<(e.offset + e.count)]
            if e.name.hasSuffix("lora_A.weight") { XCTAssert(g.allSatisfy { $0 == 0 }, e.name) }
            else { XCTAssert(g.contains { $0 != 0 }, e.name) }
        }
        XCTAssertEqual(Array(model.parameters.buffer), before, "the base is untouched")
    }

    func testActivationCheckpointingGivesBitIdenticalGradients() throws {
        for name in ["llama-mha", "llama-gqa-tied", "qwen2-tied", "qwen3-headdim", "mistral-window", "gemma-mqa", "gemma2-softcap"] {
            let model = try ModelDirectory.load(Fixtures.url(name))
            let b = batch(model)
            let plain = try pass(model, b), checkpointed = try pass(model, b, checkpointing: true)
            XCTAssertEqual(plain.logp, checkpointed.logp, "\(name) full fine-tune log-probs")
            XCTAssertEqual(plain.grads, checkpointed.grads, "\(name) full fine-tune gradients")
            model.adapter = randomAdapter(model, LoRAConfig(r: 3, alpha: 5, targetModules: [.q, .v, .o, .up, .down]), seed: 3)
            let loraPlain = try pass(model, b), loraCheckpointed = try pass(model, b, checkpointing: true)
            XCTAssertEqual(loraPlain.grads, loraCheckpointed.grads, "\(name) LoRA gradients")
            let c = model.config
            let full = TrainingWorkspace(model: model, capacity: 256, maxSequenceLength: 64)
            let ac = TrainingWorkspace(model: model, capacity: 256, maxSequenceLength: 64, activationCheckpointing: true)
            XCTAssertLessThan(ac.layerActivationBytes, full.layerActivationBytes, "\(name) (\(c.numHiddenLayers) layers)")
        }
    }

    func testDecodeWithAdapterEqualsTrainingForward() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-mha"))
        model.adapter = randomAdapter(model, LoRAConfig(r: 4, alpha: 8, useRSLoRA: true), seed: 9)
        let V = model.config.vocabSize, T = 12
        var r = TestRandom(seed: 2)
        let tokens = r.tokens(T, below: V)
        let b = TokenBatch(tokens: tokens, targets: tokens, lengths: [T], maxLength: T)
        var logp = [Float](repeating: 0, count: T), full = [Float](repeating: 0, count: T * V)
        try model.forward(b, workspace: TrainingWorkspace(model: model, capacity: Matmul.paddedRows(T), maxSequenceLength: T, training: false),
                          logProbs: &logp, training: false, logits: &full)
        let session = InferenceSession(model: model, cache: KVCache(config: model.config, slots: 1, maxLength: 16), maxRows: 16)
        try session.extend(slots: [0], tokens: [Array(tokens[0..<5])], allLogits: true)
        XCTAssertLessThanOrEqual(compare(Array(session.logits.buffer[0..<5 * V]), Array(full[0..<5 * V])).relativeError, 1e-5)
        for t in 5..<T {
            try session.extend(slots: [0], tokens: [[tokens[t]]])
            let c = compare(Array(session.logits.buffer[0..<V]), Array(full[t * V..<(t + 1) * V]))
            XCTAssertLessThanOrEqual(c.relativeError, 1e-5, "position \(t): \(c)")
        }
        // The adapter matters: the base alone gives other logits.
        model.adapter = nil
        let base = InferenceSession(model: model, cache: KVCache(config: model.config, slots: 1, maxLength: 16), maxRows: 16)
        try base.extend(slots: [0], tokens: [tokens])
        XCTAssertGreaterThan(compare(Array(base.logits.buffer[0..<V]), Array(full[(T - 1) * V..<T * V])).relativeError, 1e-2)
    }

    /// A bf16 frozen base (read in place) trains its adapter as the same base in float32 does.
    func testSixteenBitFrozenBaseTrainsItsAdapter() throws {
        let f32 = try ModelDirectory.load(Fixtures.url("llama-gqa-tied"))
        let bf16 = f32.frozenSixteenBitCopy(.bfloat16)
        // The float32 model with the same (rounded) weights.
        for e in f32.layout.entries where e.shape.count == 2 {
            let p = f32.parameters.pointer + e.offset
            for i in 0..<e.count { p[i] = Float(bitPattern: UInt32(WeightMatrix.bfloat16Bits(p[i])) << 16) }
        }
        let adapter = randomAdapter(f32, LoRAConfig(r: 2, alpha: 4), seed: 4)
        f32.adapter = adapter; bf16.adapter = adapter.copy()
        let b = batch(f32)
        let a = try pass(f32, b), c = try pass(bf16, b)
        XCTAssertLessThanOrEqual(compare(c.logp, a.logp).relativeError, 1e-5)
        XCTAssertLessThanOrEqual(compare(c.grads, a.grads).relativeError, 1e-5)
    }

    // MARK: - Against transformers + PEFT

    func checkFixture(_ name: String, base: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = Fixtures.url("lora/\(name)")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir.path), "no fixture \(dir.path)")
        let model = try ModelDirectory.load(Fixtures.url(base))
        model.adapter = try AdapterDirectory.read(dir.appendingPathComponent("adapter"), for: model.config)
        let ref = try SafetensorsFile(url: dir.appendingPathComponent("reference.safetensors"))
        let ids = try ref.integers("input_ids"), targets = try ref.integers("targets")
        let lengths = try ref.integers("lengths").map(Int.init)
        let B = lengths.count, T = ids.count / B, V = model.config.vocabSize
        let b = TokenBatch(tokens: ids.map { Int32($0) }, targets: targets.map { Int32($0) }, lengths: lengths, maxLength: T)
        let ws = TrainingWorkspace(model: model, capacity: b.packedRows, maxSequenceLength: T)
        var logp = [Float](repeating: 0, count: B * T), logits = [Float](repeating: 0, count: b.totalTokens * V)
        try model.forward(b, workspace: ws, logProbs: &logp, logits: &logits)
        func valid(_ full: [Float], width: Int) -> [Float] {
            var out: [Float] = []
            for s in 0..<B {
                for t in 0..<lengths[s] { out += full[((s * T + t) * width)..<((s * T + t + 1) * width)] }
            }
            return out
        }
        let cl = compare(logits, valid(try ref.floats("logits"), width: V))
        XCTAssertLessThanOrEqual(cl.relativeError, 1e-4, "\(name) logits: \(cl)", file: file, line: line)
        let cb = compare(logits, valid(try ref.floats("base_logits"), width: V))
        XCTAssertGreaterThan(cb.relativeError, 1e-2, "\(name): the adapter must change the logits", file: file, line: line)
        let cp = compare(valid(logp, width: 1), valid(try ref.floats("logprobs"), width: 1))
        XCTAssertLessThanOrEqual(cp.relativeError, 1e-4, "\(name) log-probs: \(cp)", file: file, line: line)
        let w = try ref.floats("loss_weights")
        let loss = -zip(w, logp).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }, refLoss = Double(try ref.floats("loss")[0])
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * abs(refLoss), "\(name) loss", file: file, line: line)
        let grads = FloatBuffer(count: model.trainableParameters.count)
        model.backward(dLogProbs: w.map { -$0 }, batchMaxLength: T, workspace: ws, gradients: grads)
        var worst = (0.0, "")
        for e in model.adapter!.layout.entries {
            let c = compare(Array(UnsafeBufferPointer(start: grads.pointer + e.offset, count: e.count)), try ref.floats("grad." + e.name))
            XCTAssertLessThanOrEqual(c.relativeError, 1e-3, "\(name) gradient \(e.name): \(c)", file: file, line: line)
            if c.relativeError > worst.0 { worst = (c.relativeError, e.name) }
        }
        print("[\(name)] logits \(cl), log-probs \(cp), worst LoRA gradient \(worst.1) rel err \(String(format: "%.2e", worst.0))")
    }

    func testMHAAdapterAgainstPEFT() throws { try checkFixture("lora-mha", base: "llama-mha") }
    func testGQARSLoRAAdapterAgainstPEFT() throws { try checkFixture("lora-gqa", base: "llama-gqa-tied") }

    /// W + s · B A equals PEFT's merge_and_unload, and idpo's written adapter reads back the same.
    func testMergeAndRoundTrip() throws {
        let dir = Fixtures.url("lora/lora-mha")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir.path), "no fixture \(dir.path)")
        let model = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let adapter = try AdapterDirectory.read(dir.appendingPathComponent("adapter"), for: model.config)
        AdapterDirectory.merge(adapter, into: model)
        let merged = try ModelDirectory.load(dir.appendingPathComponent("merged"))
        let c = compare(Array(model.parameters.buffer), Array(merged.parameters.buffer))
        XCTAssertLessThanOrEqual(c.relativeError, 1e-6, "merged weights: \(c)")
        let out = try TinyModels.temporaryDirectory("adapter")
        defer { try? FileManager.default.removeItem(at: out) }
        try AdapterDirectory.write(adapter, base: Fixtures.url("llama-mha"), to: out)
        let back = try AdapterDirectory.read(out, for: model.config)
        XCTAssertEqual(Array(back.parameters.buffer), Array(adapter.parameters.buffer))
        XCTAssertEqual(back.config, adapter.config)
        XCTAssertEqual(back.contentHash, adapter.contentHash)
        XCTAssertEqual(try AdapterDirectory.baseDirectory(of: out).path, Fixtures.url("llama-mha").standardizedFileURL.path)
    }
}
