// A frozen model loaded from a bf16 or f16 checkpoint stays 16-bit in memory (half the bytes) and
// computes exactly what the same checkpoint loaded as float32 computes: training-path log-probs and
// logits, KV-cache prefill and decode, bit for bit.

import XCTest
import Kernels
import Llama
import Checkpoints
import TestSupport

final class SixteenBitModelTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    /// The fixture model re-saved in `dtype`; returns the directory.
    func sixteenBitCopy(of fixture: URL, dtype: SafetensorsWriter.DType) throws -> URL {
        let dir = try TinyModels.temporaryDirectory("16bit")
        try ModelDirectory.saveHuggingFace(try ModelDirectory.load(fixture), to: dir, dtype: dtype)
        return dir
    }

    func testFrozenSixteenBitModelsComputeTheBitsOfTheirFloat32Copies() throws {
        let tiny = try TinyModels.temporaryDirectory("tiny")   // 512 positions: prefills past the decode tiles
        defer { try? FileManager.default.removeItem(at: tiny) }
        try TinyModels.make(at: tiny, seed: 3)
        for (fixture, source) in [("llama-mha", Fixtures.url("llama-mha")), ("llama-gqa-tied", Fixtures.url("llama-gqa-tied")), ("qwen2-tied", Fixtures.url("qwen2-tied")), ("qwen3-headdim", Fixtures.url("qwen3-headdim")), ("mistral-window", Fixtures.url("mistral-window")), ("gemma-mqa", Fixtures.url("gemma-mqa")), ("gemma2-softcap", Fixtures.url("gemma2-softcap")), ("tiny", tiny)] {
            for dtype in [SafetensorsWriter.DType.bf16, .f16] {
                let dir = try sixteenBitCopy(of: source, dtype: dtype)
                defer { try? FileManager.default.removeItem(at: dir) }
                let wide = try ModelDirectory.load(dir)                 // converted to float32 up front
                let frozen = try ModelDirectory.load(dir, frozen: true) // kept in 16 bits
                XCTAssertTrue(wide.isFloat32)
                XCTAssertFalse(frozen.isFloat32, "\(fixture) \(dtype)")
                let matrices = wide.layout.entries.filter { $0.shape.count == 2 }.reduce(0) { $0 + $1.count }
                XCTAssertEqual(wide.weightBytes - frozen.weightBytes, 2 * matrices, "\(fixture): 2 bytes saved per matrix weight")

                // training path (scoring): two sequences, padded
                let V = wide.config.vocabSize
                var r = TestRandom(seed: 5)
                let lengths = [19, 11], T = 19
                var tokens = r.tokens(2 * T, below: V)
                for i in lengths[1]..<T { tokens[T + i] = 0 }
                let batch = TokenBatch(tokens: tokens, targets: tokens, lengths: lengths, maxLength: T)
                func score(_ m: LlamaModel) throws -> ([Float], [Float]) {
                    var logp = [Float](repeating: 0, count: 2 * T), logits = [Float](repeating: 0, count: 30 * V)
                    let ws = TrainingWorkspace(config: m.config, capacity: Matmul.paddedRows(T) * 2, maxSequenceLength: T, training: false)
                    try m.forward(batch, workspace: ws, logProbs: &logp, training: false, logits: &logits)
                    return (logp, logits)
                }
                let (lpWide, logitsWide) = try score(wide), (lpFrozen, logitsFrozen) = try score(frozen)
                XCTAssertEqual(lpWide.map(\.bitPattern), lpFrozen.map(\.bitPattern), "\(fixture) \(dtype): log-probs")
                XCTAssertEqual(logitsWide.map(\.bitPattern), logitsFrozen.map(\.bitPattern), "\(fixture) \(dtype): logits")

                // KV-cache path: prefill of 150 tokens (sgemm products) and decode (register tiles)
                let P = min(150, wide.config.maxPositionEmbeddings - 6)
                let prompt = r.tokens(P, below: V)
                func decode(_ m: LlamaModel) throws -> [Float] {
                    let session = InferenceSession(model: m, cache: KVCache(config: m.config, slots: 1, maxLength: P + 5), maxRows: P)
                    try session.extend(slots: [0], tokens: [prompt], allLogits: true)
                    var out = Array(session.logits.buffer[0..<P * V])
                    for t in prompt.prefix(5) {
                        try session.extend(slots: [0], tokens: [[t]])
                        out += session.logits.buffer[0..<V]
                    }
                    return out
                }
                XCTAssertEqual(try decode(wide).map(\.bitPattern), try decode(frozen).map(\.bitPattern), "\(fixture) \(dtype): KV-cache logits")
                // rounding the widened weights back to 16 bits (the benchmarks' frozen copies) is exact
                let copy = wide.frozenSixteenBitCopy(dtype == .bf16 ? .bfloat16 : .float16)
                XCTAssertEqual(try score(copy).0.map(\.bitPattern), lpWide.map(\.bitPattern), "\(fixture) \(dtype): frozen copy")
            }
        }
    }

    /// A NaN in a 16-bit checkpoint is refused when it is loaded frozen too, naming the tensor.
    func testNonFiniteSixteenBitWeightsAreRefused() throws {
        let dir = try sixteenBitCopy(of: Fixtures.url("llama-mha"), dtype: .bf16)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(url: url)
        let info = file.tensors["model.layers.0.mlp.up_proj.weight"]!
        var data = try Data(contentsOf: url)
        let headerLength = Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let at = 8 + headerLength + info.dataRange.lowerBound + 2 * 3
        data[at] = 0xC0; data[at + 1] = 0x7F   // bfloat16 NaN
        try data.write(to: url)
        XCTAssertThrowsError(try ModelDirectory.load(dir, frozen: true)) { error in
            XCTAssertTrue("\(error)".contains("model.layers.0.mlp.up_proj.weight") && "\(error)".contains("element 3"), "\(error)")
        }
    }
}
