// GGUF files as Llama models: the config from llama.* metadata, llama.cpp's names and reversed
// dimensions mapped to Hugging Face's, q/k rows un-permuted — bit for bit what transformers loads
// (the expected weights in Tests/Fixtures/gguf were checked against transformers' GGUF loader when
// Scripts/make_gguf_fixtures.py wrote them) — ModelDirectory taking a .gguf path, conversion to a
// Hugging Face directory, GGUF export (f32/bf16 exact, Q8_0 within its rounding) and refusals that
// name the metadata key or tensor.

import XCTest
import Foundation
import Llama
@testable import Checkpoints
import TestSupport
import Support

final class GGUFLlamaTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-ggufl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static func fixture(_ name: String) -> URL { Fixtures.url("gguf/\(name).gguf") }

    /// Every tensor of `model` equals the expected Hugging Face weights, bit for bit.
    func assertWeights(_ model: LlamaModel, equal expectedFile: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try SafetensorsFile(url: Fixtures.url("gguf/\(expectedFile).expected.safetensors"))
        XCTAssertEqual(Set(expected.tensors.keys), Set(model.layout.entries.map(\.name)), file: file, line: line)
        for entry in model.layout.entries {
            let want = try expected.floats(entry.name)
            XCTAssertEqual(expected.tensors[entry.name]?.shape, entry.shape, entry.name, file: file, line: line)
            let got = Array(UnsafeBufferPointer(start: model.parameters.pointer + entry.offset, count: entry.count))
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), entry.name, file: file, line: line)
        }
    }

    func testTiedModelLoadsAsTheHuggingFaceWeights() throws {
        let file = try GGUFFile(url: Self.fixture("tiny-smollm"))
        let c = try file.llamaConfig()
        XCTAssertEqual([c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.intermediateSize,
                        c.vocabSize, c.maxPositionEmbeddings], [64, 2, 4, 2, 16, 256, 859, 256])
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertEqual(c.rmsNormEps, 1e-5, "the float32 1e-5 is read back as the decimal it was written from")
        XCTAssertEqual(c.bosTokenID, .one(1)); XCTAssertEqual(c.eosTokenID, .one(2)); XCTAssertEqual(c.padTokenID, 2)
        try assertWeights(try file.loadLlama(), equal: "tiny-smollm")
        // Through ModelDirectory, as any model path.
        XCTAssertEqual(try ModelDirectory.weightsFormat(Self.fixture("tiny-smollm")), .gguf)
        try assertWeights(try ModelDirectory.load(Self.fixture("tiny-smollm")), equal: "tiny-smollm")
        let d = try ModelDirectory.describe(Self.fixture("tiny-smollm"))
        XCTAssertEqual(d.format, .gguf)
        XCTAssertEqual(d.config, c)
        XCTAssertEqual(d.dtypes, ["F32": 6, "F16": 2, "BF16": 2, "Q8_0": 3, "Q4_0": 3, "Q4_1": 2, "Q4_K": 1, "Q5_K": 1])
        XCTAssertEqual(d.files.map(\.name), ["tiny-smollm.gguf"])
    }

    func testUntiedModelLoads() throws {
        let model = try ModelDirectory.load(Self.fixture("tiny-llama3"))
        XCTAssertFalse(model.config.tieWordEmbeddings)
        XCTAssertEqual(model.config.numKeyValueHeads, 1)
        try assertWeights(model, equal: "tiny-llama3")
        // A backbone without lm_head skips output.weight; heads are not in GGUF files.
        XCTAssertNil(try GGUFFile(url: Self.fixture("tiny-llama3")).loadLlama(languageModelHead: false).layout.entry(named: "lm_head.weight"))
        XCTAssertThrowsError(try ModelDirectory.loadWithHead(Self.fixture("tiny-llama3"), head: [["score.weight"]])) {
            XCTAssertTrue("\($0)".contains("a GGUF file holds no reward/preference head (expected one of score.weight)"), "\($0)")
        }
    }

    func testConvertsToAHuggingFaceDirectory() throws {
        let source = Self.fixture("tiny-smollm"), out = tmp.appendingPathComponent("hf")
        try ModelDirectory.saveHuggingFace(try ModelDirectory.load(source), to: out, tokenizerSource: source)
        for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
        }
        try assertWeights(try ModelDirectory.load(out), equal: "tiny-smollm")
        XCTAssertNil(try SafetensorsFile(url: out.appendingPathComponent("model.safetensors")).tensors["lm_head.weight"])
    }

    func testGGUFExportRoundTrips() throws {
        for name in ["tiny-smollm", "tiny-llama3"] {
            let model = try ModelDirectory.load(Self.fixture(name))
            let tokenizer = try XCTUnwrap(try GGUFTokenizerExport.from(Self.fixture(name)))
            for weights in GGUFWriter.WeightType.allCases {
                let url = tmp.appendingPathComponent("\(name)-\(weights.rawValue).gguf")
                try GGUFWriter.llama(model, weights: weights, name: name, tokenizer: tokenizer).write(to: url)
                let file = try GGUFFile(url: url)
                XCTAssertEqual(try file.llamaConfig(), model.config, "\(name) \(weights)")
                XCTAssertEqual(file.tensors["blk.0.attn_norm.weight"]?.type, .f32, "norms stay F32")
                XCTAssertEqual(file.tensors["blk.0.ffn_up.weight"]?.type.name.lowercased(), weights.rawValue)
                XCTAssertEqual(file.tensors["token_embd.weight"]?.dimensions, [model.config.hiddenSize, model.config.vocabSize])
                let back = try file.loadLlama()
                for entry in model.layout.entries {
                    let a = Array(UnsafeBufferPointer(start: model.parameters.pointer + entry.offset, count: entry.count))
                    let b = Array(UnsafeBufferPointer(start: back.parameters.pointer + entry.offset, count: entry.count))
                    switch weights {
                    case .f32:
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) f32 \(entry.name)")
                    case .bf16, .f16:
                        let rounded = entry.shape.count == 1 ? a : a.map { weights == .bf16 ? Float(bitPattern: UInt32(SafetensorsWriter.bfloat16Bits($0)) << 16) : Float(Float16($0)) }
                        XCTAssertEqual(rounded.map(\.bitPattern), b.map(\.bitPattern), "\(name) \(weights) \(entry.name)")
                    case .q8_0:
                        // Each value within half a step of its block's scale (max |x| / 127), plus the
                        // fp16 rounding of that scale (at most 127 × 2⁻¹¹ steps).
                        for blockStart in stride(from: 0, to: entry.count, by: 32) {
                            let block = a[blockStart..<min(entry.count, blockStart + 32)]
                            let step = block.map(abs).max()! / 127
                            for i in block.indices { XCTAssertEqual(b[i], a[i], accuracy: step * 0.57 + 1e-7, "\(entry.name)[\(i)]") }
                        }
                    }
                }
                // The tokenizer survives: GGUF → tokenizer.json → GGUF → tokenizer.json is a fixed point.
                XCTAssertEqual(try file.huggingFaceTokenizer().tokenizerJSON,
                               try GGUFFile(url: Self.fixture(name)).huggingFaceTokenizer().tokenizerJSON, "\(name) \(weights)")
            }
        }
    }

    func testQKPermutationIsItsOwnInverse() {
        let heads = 3, headDim = 8, columns = 5
        let rows = heads * headDim
        let source: [Float] = (0..<(rows * columns)).map(Float.init)
        var permuted = [Float](repeating: 0, count: source.count), back = permuted
        source.withUnsafeBufferPointer { s in permuted.withUnsafeMutableBufferPointer {
            LlamaRowPermutation.permute(s.baseAddress!, into: $0.baseAddress!, heads: heads, headDim: headDim, columns: columns)
        } }
        permuted.withUnsafeBufferPointer { p in back.withUnsafeMutableBufferPointer {
            LlamaRowPermutation.unpermute(p.baseAddress!, into: $0.baseAddress!, heads: heads, headDim: headDim, columns: columns)
        } }
        XCTAssertEqual(back, source)
        // convert_hf_to_gguf.py: within a head, GGUF row 2i + half holds HF row half·headDim/2 + i.
        XCTAssertEqual(permuted[1 * columns], source[4 * columns])
        XCTAssertEqual(permuted[2 * columns], source[1 * columns])
    }

    // MARK: refusals

    /// The tiny-llama3 fixture re-written with `edit` applied to its metadata and tensors.
    func variant(_ edit: (inout GGUFWriter) throws -> Void) throws -> URL {
        let file = try GGUFFile(url: Self.fixture("tiny-llama3"))
        var w = GGUFWriter()
        w.metadata = file.metadataKeys.map { ($0, file.metadata[$0]!) }
        for name in file.tensorNames {
            let info = file.tensors[name]!
            w.tensors.append(.init(name: name, type: info.type, dimensions: info.dimensions, bytes: Array(try file.rawBytes(name))))
        }
        try edit(&w)
        let url = tmp.appendingPathComponent("variant-\(UUID().uuidString).gguf")
        try w.write(to: url)
        return url
    }

    func set(_ w: inout GGUFWriter, _ key: String, _ value: GGUFValue?) {
        w.metadata.removeAll { $0.key == key }
        if let value { w.metadata.append((key, value)) }
    }

    func expectRefusal(contains fragment: String, file: StaticString = #filePath, line: UInt = #line,
                       _ edit: (inout GGUFWriter) throws -> Void) throws {
        let url = try variant(edit)
        XCTAssertThrowsError(try ModelDirectory.load(url), file: file, line: line) { error in
            XCTAssertTrue(error is FileError, "\(type(of: error)): \(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(fragment), "'\(error)' should mention '\(fragment)'", file: file, line: line)
            XCTAssertTrue("\(error)".contains(url.path), file: file, line: line)
        }
    }

    func testUnsupportedModelsAreRefusedNamingTheKey() throws {
        XCTAssertNoThrow(try ModelDirectory.load(try variant { _ in }))
        try expectRefusal(contains: "'general.architecture' = 'qwen2' is not supported") { self.set(&$0, "general.architecture", .string("qwen2")) }
        try expectRefusal(contains: "missing metadata 'llama.block_count'") { self.set(&$0, "llama.block_count", nil) }
        try expectRefusal(contains: "'llama.rope.scaling.type' = 'yarn'") { self.set(&$0, "llama.rope.scaling.type", .string("yarn")) }
        try expectRefusal(contains: "'llama.rope.dimension_count' = 8 differs") { self.set(&$0, "llama.rope.dimension_count", .uint32(8)) }
        try expectRefusal(contains: "'llama.expert_count' = 8") { self.set(&$0, "llama.expert_count", .uint32(8)) }
        try expectRefusal(contains: "'llama.attention.head_count_kv' varies by layer") {
            self.set(&$0, "llama.attention.head_count_kv", .array(.uint32([1, 2])))
        }
        try expectRefusal(contains: "'llama.embedding_length' = 33 is not a positive multiple") { self.set(&$0, "llama.embedding_length", .uint32(33)) }
        try expectRefusal(contains: "'llama.block_count' = 1000, but the file holds 1 layer (blk.0 to blk.0)") { self.set(&$0, "llama.block_count", .uint32(1000)) }
        try expectRefusal(contains: "'llama.block_count' = 2, but the file holds 1 layer") { self.set(&$0, "llama.block_count", .uint32(2)) }
        try expectRefusal(contains: "tensor 'blk.0.ffn_gate.weight' has dimensions [32, 64] (shape [64, 32]), expected shape [32, 32]") { self.set(&$0, "llama.feed_forward_length", .uint32(32)) }
        try expectRefusal(contains: "'llama.embedding_length' is STRING, expected an integer") { self.set(&$0, "llama.embedding_length", .string("32")) }
        try expectRefusal(contains: "missing tensor 'blk.0.attn_v.weight'") { $0.tensors.removeAll { $0.name == "blk.0.attn_v.weight" } }
        try expectRefusal(contains: "unexpected tensor 'blk.0.attn_q.bias' for a Llama model") {
            $0.tensors.append(.init(name: "blk.0.attn_q.bias", type: .f32, dimensions: [32], bytes: [UInt8](repeating: 0, count: 128)))
        }
        try expectRefusal(contains: "'llama.block_count' = 1, but the file holds 2 layers (blk.0 to blk.1)") {
            $0.tensors.append(.init(name: "blk.1.attn_norm.weight", type: .f32, dimensions: [32], bytes: [UInt8](repeating: 0, count: 128)))
        }
        try expectRefusal(contains: "'rope_freqs.weight' holds RoPE frequency factors") {
            let factors = (0..<8).map { Float($0 < 4 ? 1 : 8) }
            $0.tensors.append(.init(name: "rope_freqs.weight", type: .f32, dimensions: [8], bytes: factors.withUnsafeBufferPointer { GGUFWriter.encode($0.baseAddress!, count: 8, as: .f32) }))
        }
        try expectRefusal(contains: "'tokenizer.ggml.bos_token_id' = 5000 is not a token id") { self.set(&$0, "tokenizer.ggml.bos_token_id", .uint32(5000)) }
        try expectRefusal(contains: "tensor 'blk.0.attn_q.weight' is Q5_0, which idpo cannot convert") {
            let i = $0.tensors.firstIndex { $0.name == "blk.0.attn_q.weight" }!
            $0.tensors[i].type = GGMLType(rawValue: 6)
            $0.tensors[i].bytes = [UInt8](repeating: 0, count: 32 * 32 / 32 * 22)
        }
        // Unit rope_freqs (no scaling) are accepted.
        XCTAssertNoThrow(try ModelDirectory.load(try variant {
            let ones = [Float](repeating: 1, count: 8)
            $0.tensors.append(.init(name: "rope_freqs.weight", type: .f32, dimensions: [8], bytes: ones.withUnsafeBufferPointer { GGUFWriter.encode($0.baseAddress!, count: 8, as: .f32) }))
        }))
    }

    func testNonFiniteWeightsAreRefused() throws {
        try expectRefusal(contains: "tensor 'blk.0.attn_norm.weight' holds non-finite values") {
            let i = $0.tensors.firstIndex { $0.name == "blk.0.attn_norm.weight" }!
            $0.tensors[i].bytes.replaceSubrange(8..<12, with: [0x00, 0x00, 0xC0, 0x7F])
        }
    }
}
