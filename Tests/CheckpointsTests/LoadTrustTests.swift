// Loading refuses bad input with an error naming the file and what was expected: NaN/±Inf weights
// and moments in every format, configs whose sizes disagree with the checkpoint or exceed this
// machine's memory (checked before allocating), config.json disagreeing with model.h5, and files
// that are directories, devices, FIFOs, missing or too large.

import XCTest
import Foundation
import Kernels
import Llama
@testable import Checkpoints
import TestSupport
import Support

final class LoadTrustTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-trust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// The llama-mha fixture (2 layers, untied; up_proj is 96 × 64).
    func fixtureModel() throws -> LlamaModel { try ModelDirectory.load(Fixtures.url("llama-mha")) }

    /// A fresh directory holding the fixture's config.json.
    func directory(_ name: String) throws -> URL {
        let dir = tmp.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("llama-mha/config.json"), to: dir.appendingPathComponent("config.json"))
        return dir
    }

    /// config.json of `dir` with `changes` applied to the fixture's values.
    func rewriteConfig(_ dir: URL, _ changes: [String: Any]) throws {
        let url = dir.appendingPathComponent("config.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        for (k, v) in changes { object[k] = v }
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
    }

    /// Pointers into `model`'s parameters: valid only while `model` is alive (see `write`).
    func tensors(_ model: LlamaModel, where keep: (ParameterEntry) -> Bool = { _ in true }) -> [SafetensorsWriter.Tensor] {
        model.layout.entries.filter(keep).map { .init(name: $0.name, shape: $0.shape, data: model.parameters.pointer + $0.offset) }
    }

    /// Writes `model`'s tensors (those `keep` selects) as safetensors, keeping the model alive until
    /// the file is written — `write(tensors(try fixtureModel()), …)` would read freed memory.
    func write(_ model: LlamaModel, where keep: (ParameterEntry) -> Bool = { _ in true }, dtype: SafetensorsWriter.DType = .f32,
               to url: URL) throws {
        try withExtendedLifetime(model) { try SafetensorsWriter.write(tensors(model, where: keep), dtype: dtype, to: url) }
    }

    func assertThrows(_ expression: @autoclosure () throws -> Any, contains fragments: [String],
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let message = "\(error)"
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "'\(message)' should mention '\(fragment)'", file: file, line: line)
            }
        }
    }

    // MARK: 1. non-finite weights

    let victim = "model.layers.0.mlp.up_proj.weight"

    func poisoned(_ value: Float, at index: Int = 1234) throws -> LlamaModel {
        let model = try fixtureModel()
        model.parameters[model.layout.entry(named: victim)!.offset + index] = value
        return model
    }

    func testNonFiniteWeightsInSafetensorsAreRefusedNamingTensorAndFile() throws {
        for (dtype, value, shown) in [(SafetensorsWriter.DType.f32, Float.nan, "nan"), (.bf16, Float.infinity, "inf")] {
            let dir = try directory("st-\(dtype.rawValue)")
            try write(try poisoned(value), dtype: dtype, to: dir.appendingPathComponent("model.safetensors"))
            assertThrows(try ModelDirectory.load(dir),
                         contains: ["tensor '\(victim)' holds non-finite values (first at element 1234: \(shown))",
                                    dir.appendingPathComponent("model.safetensors").path])
        }
    }

    func testNonFiniteF16WeightIsRefused() throws {
        // SafetensorsWriter writes F32/BF16 only: build the F16 file by hand.
        let model = try fixtureModel()
        var header: [String: Any] = [:]
        var payload = Data()
        for e in model.layout.entries {
            var halves = (0..<e.count).map { Float16(model.parameters[e.offset + $0]).bitPattern }
            if e.name == victim { halves[77] = (-Float16.infinity).bitPattern }
            header[e.name] = ["dtype": "F16", "shape": e.shape, "data_offsets": [payload.count, payload.count + 2 * e.count]]
            halves.withUnsafeBytes { payload.append(contentsOf: $0) }
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerData.count % 8 != 0 { headerData.append(0x20) }
        var length = UInt64(headerData.count).littleEndian
        var file = Data(bytes: &length, count: 8)
        file.append(headerData)
        file.append(payload)
        let dir = try directory("st-f16")
        try file.write(to: dir.appendingPathComponent("model.safetensors"))
        assertThrows(try ModelDirectory.load(dir), contains: ["tensor '\(victim)'", "first at element 77: -inf", "model.safetensors"])
    }

    func testNonFiniteWeightInAShardIsRefused() throws {
        let model = try poisoned(.nan, at: 5)
        let dir = try directory("sharded")
        let entries = model.layout.entries
        var map: [String: String] = [:]
        for (i, part) in [Array(entries[..<4]), Array(entries[4...])].enumerated() {
            let name = "model-0000\(i + 1)-of-00002.safetensors"
            try write(model, where: { e in part.contains { $0.name == e.name } }, to: dir.appendingPathComponent(name))
            for e in part { map[e.name] = name }
        }
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        assertThrows(try ModelDirectory.load(dir), contains: ["tensor '\(victim)' holds non-finite values (first at element 5: nan)", map[victim]!])
    }

    func testNonFiniteHeadIsRefused() throws {
        let model = try fixtureModel()
        let dir = try directory("reward")
        var score = [Float](repeating: 0.5, count: 64)
        score[3] = .nan
        try withExtendedLifetime(model) {
            var list = tensors(model, where: { $0.name != "lm_head.weight" })
            try score.withUnsafeBufferPointer { s in
                list.append(.init(name: "score.weight", shape: [1, 64], data: s.baseAddress!))
                try SafetensorsWriter.write(list, dtype: .f32, to: dir.appendingPathComponent("model.safetensors"))
            }
        }
        assertThrows(try ModelDirectory.loadWithHead(dir, head: [["score.weight"]]),
                     contains: ["tensor 'score.weight' holds non-finite values (first at element 3: nan)"])
    }

    func testNonFiniteParameterOrMomentInModelH5IsRefused() throws {
        let dir = tmp.appendingPathComponent("h5")
        try ModelDirectory.saveNative(NativeCheckpoint(model: try poisoned(-.infinity, at: 9)), to: dir)
        let h5 = dir.appendingPathComponent("model.h5")
        assertThrows(try ModelDirectory.load(dir), contains: ["tensor '\(victim)' holds non-finite values (first at element 9: -inf)", h5.path])
        assertThrows(try NativeCheckpoint.read(from: h5), contains: ["tensor '\(victim)'", "-inf"])

        let model = try fixtureModel()
        let m = FloatBuffer(count: model.layout.count)
        m[model.layout.entry(named: "model.norm.weight")!.offset + 2] = .nan
        let url = tmp.appendingPathComponent("state.h5")
        try NativeCheckpoint(model: model, optimizer: OptimizerState(name: "adamw", step: 3, moments: [("exp_avg", m)])).write(to: url)
        assertThrows(try NativeCheckpoint.read(from: url),
                     contains: ["optimizer moment 'exp_avg' of tensor 'model.norm.weight' holds non-finite values (first at element 2: nan)", url.path])
    }

    func testFiniteScanFindsTheFirstOffender() {
        var values = [Float](repeating: 1, count: 1000)
        XCTAssertNil(values.withUnsafeBufferPointer { FiniteValues.firstNonFinite($0.baseAddress!, count: 1000) })
        values[700] = .infinity; values[999] = .nan
        XCTAssertEqual(values.withUnsafeBufferPointer { FiniteValues.firstNonFinite($0.baseAddress!, count: 1000) }, 700)
        values[3] = .greatestFiniteMagnitude; values[4] = -.leastNonzeroMagnitude
        XCTAssertEqual(values.withUnsafeBufferPointer { FiniteValues.firstNonFinite($0.baseAddress!, count: 1000) }, 700)
    }

    // MARK: 2. sizes checked before anything is allocated

    func testHugeHiddenSizeIsRefusedBeforeAllocating() throws {
        let dir = try directory("huge-hidden")
        try write(try fixtureModel(), to: dir.appendingPathComponent("model.safetensors"))
        try rewriteConfig(dir, ["hidden_size": 1_000_000_000, "head_dim": 250_000_000])
        assertThrows(try ModelDirectory.load(dir), contains: ["needs about", "GB; this machine has", dir.appendingPathComponent("config.json").path])
        assertThrows(try ModelDirectory.loadWithHead(dir, head: [["lm_head.weight"]]), contains: ["needs about"])
    }

    func testLayerCountMustMatchTheCheckpoint() throws {
        let dir = try directory("layers")
        try write(try fixtureModel(), to: dir.appendingPathComponent("model.safetensors"))
        try rewriteConfig(dir, ["num_hidden_layers": 3])
        assertThrows(try ModelDirectory.load(dir),
                     contains: ["num_hidden_layers = 3, but model.safetensors holds 2 layers (model.layers.0 to model.layers.1)", "config.json"])
        try rewriteConfig(dir, ["num_hidden_layers": 1])
        assertThrows(try ModelDirectory.load(dir), contains: ["num_hidden_layers = 1, but model.safetensors holds 2 layers"])
    }

    /// Tiny layers, a million of them: small enough to pass the memory check, refused (quickly, and
    /// without building a million-layer layout) because the checkpoint has one layer.
    func testAMillionLayersIsRefusedBeforeTheLayoutIsBuilt() throws {
        try XCTSkipIf(MemoryBudget.physicalBytes < 8_000_000_000, "on a small machine the memory check refuses this first")
        let config = try LlamaConfig(hiddenSize: 8, intermediateSize: 8, numHiddenLayers: 1, numAttentionHeads: 1, vocabSize: 8)
        let model = LlamaModel(config: config)
        model.randomize(seed: 1)
        let dir = tmp.appendingPathComponent("million")
        try ModelDirectory.saveHuggingFace(model, to: dir)
        try rewriteConfig(dir, ["num_hidden_layers": 1_000_000])
        let start = Date()
        assertThrows(try ModelDirectory.load(dir), contains: ["num_hidden_layers = 1000000, but model.safetensors holds 1 layer"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testModelH5SizesAreCheckedBeforeAllocating() throws {
        /// An idpo checkpoint with an arbitrary embedded config and arbitrary /parameters datasets.
        func forge(_ name: String, config: [String: Any], tensors: [(name: String, shape: [Int])] = [],
                   from model: LlamaModel? = nil) throws -> URL {
            let url = tmp.appendingPathComponent(name)
            let f = try HDF5File.create(url.path)
            try f.setAttribute("/", "format", string: NativeCheckpoint.format)
            try f.setAttribute("/", "format_version", int: NativeCheckpoint.formatVersion)
            let json = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
            try f.setAttribute("/", "config_json", string: String(decoding: json, as: UTF8.self))
            try f.createGroup("/parameters")
            for t in tensors { try f.writeFloats("/parameters/" + t.name, shape: t.shape, data: model!.parameters.pointer) }
            try f.close()
            return url
        }
        let base: [String: Any] = ["hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
                                   "head_dim": 16, "vocab_size": 128]
        var huge = base
        huge["hidden_size"] = 1_000_000_000
        huge["head_dim"] = 250_000_000
        let hugeURL = try forge("huge.h5", config: huge)
        assertThrows(try NativeCheckpoint.read(from: hugeURL), contains: ["needs about", "this machine has", hugeURL.path])

        let model = try fixtureModel()
        var deep = base
        deep["num_hidden_layers"] = 100_000
        deep["hidden_size"] = 8; deep["head_dim"] = 8; deep["num_attention_heads"] = 1; deep["intermediate_size"] = 8; deep["vocab_size"] = 8
        let all = model.layout.entries.map { (name: $0.name, shape: $0.shape) }
        let deepURL = try forge("deep.h5", config: deep, tensors: all, from: model)
        assertThrows(try NativeCheckpoint.read(from: deepURL),
                     contains: ["num_hidden_layers = 100000", "needs 900003 tensors, but /parameters holds 21"])

        // Right count, one wrong shape: named before the model is allocated.
        let shifted = all.map { $0.name == "model.norm.weight" ? (name: $0.name, shape: [32]) : $0 }
        let shapeURL = try forge("shape.h5", config: base, tensors: shifted, from: model)
        assertThrows(try NativeCheckpoint.read(from: shapeURL),
                     contains: ["dataset '/parameters/model.norm.weight' has shape [32], expected [64]"])
    }

    func testSizeEstimateMatchesTheLayoutWithoutAllocating() throws {
        for name in ["llama-mha", "llama-gqa-tied"] {
            let config = try LlamaConfig.load(url: Fixtures.url(name + "/config.json"))
            for head in [true, false] {
                let layout = ParameterLayout(config: config, languageModelHead: head)
                XCTAssertEqual(ModelSize.parameterCount(config: config, languageModelHead: head), Double(layout.count))
                XCTAssertEqual(ModelSize.tensorCount(config: config, languageModelHead: head), layout.entries.count)
            }
        }
        let absurd = try LlamaConfig(hiddenSize: 1 << 40, intermediateSize: 1 << 40, numHiddenLayers: 1 << 40,
                                     numAttentionHeads: 1 << 20, vocabSize: 1 << 40)
        XCTAssertGreaterThanOrEqual(ModelSize.estimatedBytes(config: absurd), 9e18, "saturates instead of overflowing")
        XCTAssertThrowsError(try ModelMemory.requireFits(config: absurd, file: "x")) { XCTAssertTrue("\($0)".contains("needs about"), "\($0)") }
    }

    func testHostileSafetensorsHeaderLengthAllocatesNothing() throws {
        // A sparse 120 MB file whose header claims 110 MB: refused from the 8-byte prefix alone.
        let url = tmp.appendingPathComponent("hostile.safetensors")
        var length = UInt64(110_000_000).littleEndian
        try Data(bytes: &length, count: 8).write(to: url)
        XCTAssertEqual(truncate(url.path, 120_000_000), 0)
        assertThrows(try SafetensorsFile(url: url), contains: ["header length 110000000 is more than the 100000000 bytes safetensors allows", url.path])
    }

    // MARK: 5. config.json against model.h5

    func testConfigJSONMustAgreeWithModelH5() throws {
        let dir = tmp.appendingPathComponent("native")
        try ModelDirectory.saveNative(NativeCheckpoint(model: try fixtureModel()), to: dir)
        XCTAssertNoThrow(try ModelDirectory.load(dir))
        // Hugging Face's extra keys do not matter; the decoded values do.
        try rewriteConfig(dir, ["transformers_version": "9.9", "use_cache": false])
        XCTAssertNoThrow(try ModelDirectory.load(dir))
        try rewriteConfig(dir, ["num_hidden_layers": 4])
        let configPath = dir.appendingPathComponent("config.json").path
        assertThrows(try ModelDirectory.load(dir), contains: ["config.json says num_hidden_layers = 4 but model.h5's embedded config says 2", configPath])
        assertThrows(try ModelDirectory.loadCheckpoint(dir), contains: ["num_hidden_layers = 4"])
        try rewriteConfig(dir, ["num_hidden_layers": 2, "rms_norm_eps": 1e-5])
        assertThrows(try ModelDirectory.load(dir), contains: ["config.json says rms_norm_eps = 1e-05 but model.h5's embedded config says 1e-06"])
        try rewriteConfig(dir, ["rms_norm_eps": 1e-6, "eos_token_id": [2, 3]])
        assertThrows(try ModelDirectory.load(dir), contains: ["config.json says eos_token_id = [2,3] but model.h5's embedded config says 2"])
        // Without config.json the embedded config is used.
        try FileManager.default.removeItem(atPath: configPath)
        XCTAssertNoThrow(try ModelDirectory.load(dir))
    }

    func testHFKeyNames() {
        XCTAssertEqual(ConfigComparison.hfKey("numHiddenLayers"), "num_hidden_layers")
        XCTAssertEqual(ConfigComparison.hfKey("bosTokenID"), "bos_token_id")
        XCTAssertEqual(ConfigComparison.hfKey("ropeScaling"), "rope_scaling")
    }

    // MARK: 6. unreadable files name the file and why

    func testFileReadNamesTheFileAndTheReason() throws {
        let missing = tmp.appendingPathComponent("absent.json")
        assertThrows(try FileRead.data(at: missing, what: "config.json"), contains: [missing.path, "cannot read config.json: no such file or directory"])
        assertThrows(try FileRead.data(at: tmp, what: "the index"), contains: [tmp.path, "cannot read the index: is a directory"])
        assertThrows(try FileRead.data(at: URL(fileURLWithPath: "/dev/zero"), what: "config.json"),
                     contains: ["/dev/zero", "is a character device, not a regular file"])
        let fifo = tmp.appendingPathComponent("pipe")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        assertThrows(try FileRead.data(at: fifo, what: "config.json"), contains: ["is a FIFO (named pipe), not a regular file"])
        let big = tmp.appendingPathComponent("big.json")
        try Data(count: 5000).write(to: big)
        assertThrows(try FileRead.data(at: big, what: "config.json", maxBytes: 4096), contains: [big.path, "5.0 kB, more than the 4.1 kB allowed"])
        XCTAssertEqual(try FileRead.data(at: big, what: "config.json", maxBytes: 5000).count, 5000)
        XCTAssertEqual(FileRead.describe(errno: EACCES), "permission denied")
        XCTAssertEqual(FileRead.describe(errno: ENOSPC), "no space left on device")
    }

    func testUnreadablePermissionIsNamed() throws {
        try XCTSkipIf(getuid() == 0, "root reads every file")
        let url = tmp.appendingPathComponent("secret.json")
        try Data("{}".utf8).write(to: url)
        XCTAssertEqual(chmod(url.path, 0), 0)
        assertThrows(try FileRead.data(at: url, what: "config.json"), contains: [url.path, "permission denied"])
    }

    func testModelDirectoryFilesThatAreNotFilesAreNamed() throws {
        let dir = try directory("odd")
        try write(try fixtureModel(), to: dir.appendingPathComponent("model.safetensors"))
        let config = dir.appendingPathComponent("config.json")
        try FileManager.default.removeItem(at: config)
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: false)
        assertThrows(try ModelDirectory.load(dir), contains: [config.path, "cannot read config.json: is a directory"])
        try FileManager.default.removeItem(at: config)
        try FileManager.default.createSymbolicLink(atPath: config.path, withDestinationPath: "/dev/zero")
        assertThrows(try ModelDirectory.load(dir), contains: ["is a character device"])
        try FileManager.default.removeItem(at: config)
        assertThrows(try ModelDirectory.load(dir), contains: [config.path, "no such file or directory"])

        let sharded = try directory("odd-sharded")
        try FileManager.default.createDirectory(at: sharded.appendingPathComponent("model.safetensors.index.json"), withIntermediateDirectories: false)
        assertThrows(try ModelDirectory.load(sharded), contains: ["model.safetensors.index.json", "cannot read the shard index: is a directory"])

        let weights = try directory("odd-weights")
        try FileManager.default.createDirectory(at: weights.appendingPathComponent("model.safetensors"), withIntermediateDirectories: false)
        assertThrows(try ModelDirectory.load(weights), contains: ["model.safetensors", "is a directory"])
        let h5 = try directory("odd-h5")
        try FileManager.default.createDirectory(at: h5.appendingPathComponent("model.h5"), withIntermediateDirectories: false)
        assertThrows(try ModelDirectory.load(h5), contains: ["model.h5", "is a directory"])
    }
}
