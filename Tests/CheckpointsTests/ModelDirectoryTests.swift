// Model directories in every layout, HDF5 checkpoints with optimizer state, atomic writes, and
// conversions that round-trip bit for bit.

import XCTest
import Foundation
import Kernels
import Llama
@testable import Checkpoints
import TestSupport
import Support

final class ModelDirectoryTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-md-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func bits(_ m: LlamaModel) -> [UInt32] { m.parameters.toArray().map(\.bitPattern) }

    func testHuggingFaceAndNativeRoundTripsAreBitExact() throws {
        for name in ["llama-mha", "llama-gqa-tied"] {
            let original = try ModelDirectory.load(Fixtures.url(name))
            let hf = tmp.appendingPathComponent("\(name)-hf"), h5 = tmp.appendingPathComponent("\(name)-h5")
            let hf2 = tmp.appendingPathComponent("\(name)-hf2")
            try ModelDirectory.saveNative(NativeCheckpoint(model: original), to: h5, tokenizerSource: Fixtures.url(name))
            XCTAssertEqual(try ModelDirectory.weightsFormat(h5), .hdf5)
            let fromH5 = try ModelDirectory.load(h5)
            XCTAssertEqual(bits(fromH5), bits(original))
            XCTAssertEqual(fromH5.config, original.config)
            try ModelDirectory.saveHuggingFace(fromH5, to: hf)
            try ModelDirectory.saveHuggingFace(try ModelDirectory.load(hf), to: hf2)
            XCTAssertEqual(bits(try ModelDirectory.load(hf)), bits(original))
            // HF → h5 → HF → HF: the weights files are byte-identical.
            XCTAssertEqual(try Data(contentsOf: hf.appendingPathComponent("model.safetensors")),
                           try Data(contentsOf: hf2.appendingPathComponent("model.safetensors")))
            // Tied embeddings are written the HF way: no lm_head.weight.
            let st = try SafetensorsFile(url: hf.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(st.tensors["lm_head.weight"] == nil, original.config.tieWordEmbeddings)
            // The written file equals what transformers wrote, tensor by tensor.
            let reference = try SafetensorsFile(url: Fixtures.url(name).appendingPathComponent("model.safetensors"))
            for (tensor, _) in reference.tensors { XCTAssertEqual(try st.floats(tensor), try reference.floats(tensor)) }
        }
    }

    func testBFloat16ExportLoads() throws {
        let original = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let dir = tmp.appendingPathComponent("bf16")
        try ModelDirectory.saveHuggingFace(original, to: dir, dtype: .bf16)
        let back = try ModelDirectory.load(dir)
        let c = compare(back.parameters.toArray(), original.parameters.toArray())
        XCTAssertLessThan(c.relativeError, 1e-2)
        // Exporting the bf16-loaded weights again as bf16 is exact.
        let dir2 = tmp.appendingPathComponent("bf16b")
        try ModelDirectory.saveHuggingFace(back, to: dir2, dtype: .bf16)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: dir2.appendingPathComponent("model.safetensors")))
        // config.json names the weights' dtype (transformers' dtype="auto" loads in it)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["torch_dtype"] as? String, "bfloat16")
        try ModelDirectory.saveHuggingFace(back, to: dir2, dtype: .f32)
        let f32 = try JSONSerialization.jsonObject(with: Data(contentsOf: dir2.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(f32["torch_dtype"] as? String, "float32")
    }

    func testShardedSafetensors() throws {
        let original = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let dir = tmp.appendingPathComponent("sharded")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("llama-mha/config.json"), to: dir.appendingPathComponent("config.json"))
        let entries = original.layout.entries
        let half = entries.count / 2
        var map: [String: String] = [:]
        for (i, part) in [Array(entries[..<half]), Array(entries[half...])].enumerated() {
            let fileName = "model-0000\(i + 1)-of-00002.safetensors"
            try SafetensorsWriter.write(part.map { .init(name: $0.name, shape: $0.shape, data: original.parameters.pointer + $0.offset) },
                                        dtype: .f32, to: dir.appendingPathComponent(fileName))
            for e in part { map[e.name] = fileName }
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map])
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertEqual(try ModelDirectory.weightsFormat(dir), .shardedSafetensors)
        XCTAssertEqual(bits(try ModelDirectory.load(dir)), bits(original))
        // An index that points outside the folder is refused.
        map[entries[0].name] = "../evil.safetensors"
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertThrowsError(try ModelDirectory.load(dir))
    }

    func testMissingOrMisshapedTensorIsNamed() throws {
        let original = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let dir = tmp.appendingPathComponent("broken")
        try ModelDirectory.saveHuggingFace(original, to: dir)
        let victim = original.layout.entries[3]
        // Drop one tensor.
        let kept = original.layout.entries.filter { $0.name != victim.name }
        try SafetensorsWriter.write(kept.map { .init(name: $0.name, shape: $0.shape, data: original.parameters.pointer + $0.offset) },
                                    dtype: .f32, to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try ModelDirectory.load(dir)) { XCTAssertTrue("\($0)".contains("missing tensor '\(victim.name)'"), "\($0)") }
        // Wrong shape.
        let reshaped = original.layout.entries.map { e -> SafetensorsWriter.Tensor in
            .init(name: e.name, shape: e.name == victim.name ? [e.count] : e.shape, data: original.parameters.pointer + e.offset)
        }
        try SafetensorsWriter.write(reshaped, dtype: .f32, to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try ModelDirectory.load(dir)) { XCTAssertTrue("\($0)".contains(victim.name) && "\($0)".contains("shape"), "\($0)") }
        // No weights at all.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try ModelDirectory.load(dir)) { XCTAssertTrue("\($0)".contains("no weights"), "\($0)") }
    }

    func testNativeCheckpointKeepsOptimizerAndRNGState() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-gqa-tied"))
        let m = FloatBuffer(count: model.layout.count), v = FloatBuffer(count: model.layout.count)
        for i in 0..<m.count { m[i] = Float(i % 13) * 0.5; v[i] = Float(i % 7) * 1e-3 }
        let ckpt = NativeCheckpoint(model: model,
                                    optimizer: OptimizerState(name: "adamw", step: 42, hyperparametersJSON: #"{"lr":5e-7}"#,
                                                              moments: [("exp_avg", m), ("exp_avg_sq", v)]),
                                    rngState: [1, 2, UInt64.max], metadataJSON: #"{"iteration":2}"#)
        let url = tmp.appendingPathComponent("ckpt.h5")
        try ckpt.write(to: url)
        let back = try NativeCheckpoint.read(from: url)
        XCTAssertEqual(bits(back.model), bits(model))
        XCTAssertEqual(back.optimizer?.name, "adamw")
        XCTAssertEqual(back.optimizer?.step, 42)
        XCTAssertEqual(back.optimizer?.hyperparametersJSON, #"{"lr":5e-7}"#)
        XCTAssertEqual(back.optimizer?.moments.map(\.name), ["exp_avg", "exp_avg_sq"])
        XCTAssertEqual(back.optimizer?.moments.first?.values.toArray(), m.toArray())
        XCTAssertEqual(back.optimizer?.moments.last?.values.toArray(), v.toArray())
        XCTAssertEqual(back.rngState, [1, 2, UInt64.max])
        XCTAssertEqual(back.metadataJSON, #"{"iteration":2}"#)
        // The same contents give the same bytes (no timestamps in the file).
        let url2 = tmp.appendingPathComponent("ckpt2.h5")
        Thread.sleep(forTimeInterval: 1.1)
        try ckpt.write(to: url2)
        XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: url2))
        try FileManager.default.removeItem(at: url2)
        // No temporary file is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["ckpt.h5"])
    }

    func testTruncatedForeignAndGarbageFilesAreClearErrors() throws {
        let model = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let url = tmp.appendingPathComponent("ckpt.h5")
        try NativeCheckpoint(model: model).write(to: url)
        let full = try Data(contentsOf: url)
        for cut in [full.count / 2, full.count - 1000, 100] {
            let t = tmp.appendingPathComponent("trunc-\(cut).h5")
            try full.prefix(cut).write(to: t)
            XCTAssertThrowsError(try NativeCheckpoint.read(from: t)) { error in
                XCTAssertTrue(error is FileError && "\(error)".contains(t.path), "\(error)")
            }
        }
        let garbage = tmp.appendingPathComponent("garbage.h5")
        try Data("definitely not hdf5".utf8).write(to: garbage)
        XCTAssertThrowsError(try NativeCheckpoint.read(from: garbage)) { XCTAssertTrue("\($0)".contains("not an HDF5 file"), "\($0)") }
        // A valid HDF5 file that is not ours.
        let foreign = tmp.appendingPathComponent("foreign.h5")
        let f = try HDF5File.create(foreign.path)
        try f.createGroup("/data")
        try f.close()
        XCTAssertThrowsError(try NativeCheckpoint.read(from: foreign)) { XCTAssertTrue("\($0)".contains("not an idpo checkpoint"), "\($0)") }
        XCTAssertThrowsError(try NativeCheckpoint.read(from: tmp.appendingPathComponent("absent.h5"))) {
            XCTAssertTrue("\($0)".contains("no such file"), "\($0)")
        }
    }

    func testAtomicWriteKeepsOldFileWhenWritingFails() throws {
        let url = tmp.appendingPathComponent("state.json")
        try AtomicFile.write(Data("old".utf8), to: url)
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: url) { tmp in
            try Data("half".utf8).write(to: tmp)
            throw Boom()
        })
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["state.json"])
    }
}
