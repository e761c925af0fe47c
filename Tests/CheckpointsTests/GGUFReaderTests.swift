// GGUF reading: metadata of every value type, tensors of every supported type dequantized bit for bit
// as gguf-py / llama.cpp do (Tests/Fixtures/gguf, made by Scripts/make_gguf_fixtures.py), Q8_0
// quantization equal to the reference quantizer, and malformed files — truncated, wrong magic,
// absurd counts and lengths, data past the end, unknown types, bad alignment — refused with an error
// naming the file and the problem, never a crash or a huge allocation.

import XCTest
import Foundation
@testable import Checkpoints
import TestSupport
import Support

/// Little-endian GGUF bytes written by hand, for files no writer would make.
struct GGUFBytes {
    var data = Data()
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); data.append(contentsOf: Array(s.utf8)) }
    /// Magic, version, tensor count and metadata count.
    static func header(version: UInt32 = 3, tensors: UInt64, keys: UInt64) -> GGUFBytes {
        var b = GGUFBytes()
        b.data.append(contentsOf: Array("GGUF".utf8))
        b.u32(version); b.u64(tensors); b.u64(keys)
        return b
    }
}

final class GGUFReaderTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static var quants: URL { Fixtures.url("gguf/quants.gguf") }

    func testMetadataOfEveryValueType() throws {
        let f = try GGUFFile(url: Self.quants)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataStart % 64, 0)
        XCTAssertEqual(f["general.architecture"], .string("quants-test"))
        XCTAssertEqual(f["general.alignment"], .uint32(64))
        XCTAssertEqual(f["test.u8"], .uint8(200))
        XCTAssertEqual(f["test.i8"], .int8(-100))
        XCTAssertEqual(f["test.u16"], .uint16(60000))
        XCTAssertEqual(f["test.i16"], .int16(-30000))
        XCTAssertEqual(f["test.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(f["test.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(f["test.u64"], .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(f["test.i64"], .int64(-9_000_000_000_000_000_000))
        XCTAssertEqual(f["test.f32"], .float32(0.1))
        XCTAssertEqual(f["test.f64"], .float64(-2.5e-300))
        XCTAssertEqual(f["test.bool"], .bool(true))
        XCTAssertEqual(f["test.string"], .string("héllo\n\"wörld\" 😀"))
        XCTAssertEqual(f["test.empty_string"], .string(""))
        XCTAssertEqual(f["test.u16s"], .array(.uint16([1, 2, 65535])))
        XCTAssertEqual(f["test.f64s"], .array(.float64([0.5, -1.25])))
        XCTAssertEqual(f["test.bools"], .array(.bool([true, false, true])))
        XCTAssertEqual(f["test.strings"], .array(.string(["a", "", "ü b"])))
        XCTAssertEqual(f["test.nested"], .array(.array([.int32([1, 2]), .int32([3]), .int32([4, 5, 6])])))
        XCTAssertEqual(f["test.nested_strings"], .array(.array([.string(["x"]), .string(["y", "z"])])))
        // Typed accessors, and errors naming the key for the wrong type.
        XCTAssertThrowsError(try f.integer("test.u64")) { XCTAssertTrue("\($0)".contains("'test.u64' = 18000000000000000000 is too large"), "\($0)") }
        XCTAssertEqual(try f.integer("test.i16"), -30000)
        XCTAssertEqual(try f.integer("absent"), nil)
        XCTAssertThrowsError(try f.integer("test.string")) { XCTAssertTrue("\($0)".contains("'test.string' is STRING, expected an integer"), "\($0)") }
        XCTAssertEqual(f.metadataKeys.first, "general.architecture")
    }

    func testEverySupportedTypeDequantizesBitForBit() throws {
        let f = try GGUFFile(url: Self.quants)
        let expected = try SafetensorsFile(url: Fixtures.url("gguf/quants.expected.safetensors"))
        let types: [String: GGMLType] = ["f32": .f32, "f16": .f16, "bf16": .bf16, "q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1,
                                         "q4_k": .q4_K, "q5_k": .q5_K, "q6_k": .q6_K]
        var seen: Set<GGMLType> = []
        for name in expected.tensors.keys.sorted() where !name.hasSuffix(".source") {
            let info = try XCTUnwrap(f.tensors[name], name)
            XCTAssertEqual(info.shape, expected.tensors[name]!.shape, name)
            if let type = types[String(name.split(separator: ".")[0])] { XCTAssertEqual(info.type, type, name) }
            seen.insert(info.type)
            let got = try f.floats(name, requireFinite: true), want = try expected.floats(name)
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(name) (\(info.type))")
        }
        XCTAssertEqual(seen, Set(GGMLType.supported))
        XCTAssertEqual(f.tensors["f32.cube"]?.dimensions, [32, 3, 2])
        XCTAssertEqual(f.tensors["f32.cube"]?.shape, [2, 3, 32])
    }

    func testQ8_0QuantizationMatchesTheReference() throws {
        // The q8_0 tensor was quantized by gguf-py, whose Q8_0 is bit-exact with ggml's quantize_row_q8_0_ref.
        let f = try GGUFFile(url: Self.quants)
        let source = try SafetensorsFile(url: Fixtures.url("gguf/quants.expected.safetensors")).floats("q8_0.source")
        var bytes: [UInt8] = []
        source.withUnsafeBufferPointer { GGUFQuantization.quantizeQ8_0($0.baseAddress!, count: $0.count, into: &bytes) }
        XCTAssertEqual(bytes, Array(try f.rawBytes("q8_0")))
        // Rounding: halves go away from zero, d is the float32 max / 127 rounded to fp16.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 0.5; x[2] = -0.5; x[3] = 1.5; x[4] = -126.5
        var out: [UInt8] = []
        x.withUnsafeBufferPointer { GGUFQuantization.quantizeQ8_0($0.baseAddress!, count: 32, into: &out) }
        XCTAssertEqual(Array(out[0..<2]), [0x00, 0x3C])    // fp16 1.0
        XCTAssertEqual(out[2..<7].map { Int8(bitPattern: $0) }, [127, 1, -1, 2, -127])
    }

    func testUnsupportedTypeIsRefusedNamingTensorAndType() throws {
        let f = try GGUFFile(url: Self.quants)
        XCTAssertEqual(f.tensors["q5_0"]?.type.name, "Q5_0")
        XCTAssertThrowsError(try f.floats("q5_0")) { error in
            XCTAssertTrue("\(error)".contains("tensor 'q5_0' is Q5_0, which idpo cannot convert"), "\(error)")
            XCTAssertTrue("\(error)".contains(Self.quants.path))
        }
    }

    // MARK: malformed files

    func expectError(_ data: Data, contains fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let url = tmp.appendingPathComponent("bad-\(UUID().uuidString).gguf")
        try! data.write(to: url)
        XCTAssertThrowsError(try GGUFFile(url: url), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is FileError, "\(type(of: error))", file: file, line: line)
            XCTAssertTrue(message.contains(fragment), "'\(message)' should mention '\(fragment)'", file: file, line: line)
            XCTAssertTrue(message.contains(url.path), "error names the file", file: file, line: line)
        }
    }

    func testEveryTruncationIsAnError() throws {
        let whole = try Data(contentsOf: Self.quants)
        let f = try GGUFFile(url: Self.quants)
        // Every cut inside the header and directory, then a few inside the data.
        var cuts = Array(stride(from: 0, to: f.dataStart, by: 7))
        let dataEnd = f.dataStart + f.tensors.values.map { $0.offset + $0.byteCount }.max()!
        cuts += [f.dataStart + 1, (f.dataStart + dataEnd) / 2, dataEnd - 1]
        for cut in cuts {
            let url = tmp.appendingPathComponent("cut.gguf")
            try whole.prefix(cut).write(to: url)
            XCTAssertThrowsError(try GGUFFile(url: url), "cut at \(cut)") { error in
                XCTAssertTrue(error is FileError)
                let m = "\(error)"
                XCTAssertTrue(m.contains("too short") || m.contains("ends inside") || m.contains("past the end")
                              || m.contains("more than") || m.contains("needs more bytes"), "cut at \(cut): \(m)")
            }
        }
    }

    func testBadMagicAndVersion() {
        var b = GGUFBytes()
        b.data.append(contentsOf: Array("GGML".utf8)); b.u32(3); b.u64(0); b.u64(0)
        expectError(b.data, contains: "not a GGUF file: it starts with \"GGML\"")
        expectError(GGUFBytes.header(version: 1, tensors: 0, keys: 0).data, contains: "GGUF version 1 is not supported")
        expectError(GGUFBytes.header(version: 99, tensors: 0, keys: 0).data, contains: "GGUF version 99")
        expectError(Data("GGUF".utf8), contains: "too short")
    }

    func testAbsurdCountsAllocateNothing() {
        expectError(GGUFBytes.header(tensors: 1 << 60, keys: 0).data, contains: "claims 1152921504606846976 tensors")
        expectError(GGUFBytes.header(tensors: 0, keys: UInt64.max).data, contains: "metadata entries, more than")
        var b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("tokenizer.ggml.tokens"); b.u32(9); b.u32(8); b.u64(1 << 62)
        expectError(b.data, contains: "metadata 'tokenizer.ggml.tokens' claims 4611686018427387904 elements of STRING")
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("k"); b.u32(8); b.u64(UInt64.max)
        expectError(b.data, contains: "string length 18446744073709551615 runs past the end")
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.u64(1 << 40)
        b.data.append(Data(count: 64))
        expectError(b.data, contains: "string length 1099511627776 runs past the end")
    }

    func testBadValuesAndTypes() {
        var b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("odd"); b.u32(99); b.u32(0)
        expectError(b.data, contains: "metadata 'odd' has unknown value type 99")
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("odd"); b.u32(9); b.u32(77); b.u64(1)
        expectError(b.data, contains: "metadata 'odd' is an array of unknown value type 77")
        b = GGUFBytes.header(tensors: 0, keys: 2)
        b.string("k"); b.u32(4); b.u32(1)
        b.string("k"); b.u32(4); b.u32(2)
        expectError(b.data, contains: "metadata key 'k' appears twice")
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.u64(2); b.data.append(contentsOf: [0xC3, 0x28]); b.u32(4); b.u32(1)
        expectError(b.data, contains: "is not valid UTF-8")
        // Arrays nested deeper than the limit.
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("deep"); b.u32(9)
        for _ in 0..<20 { b.u32(9); b.u64(1) }
        b.u32(4); b.u64(0)
        b.data.append(Data(count: 64))
        expectError(b.data, contains: "arrays nest more than 8 deep")
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("general.alignment"); b.u32(4); b.u32(48)
        expectError(b.data, contains: "'general.alignment' = 48 is not a power of two")
        b = GGUFBytes.header(tensors: 0, keys: 1)
        b.string("general.alignment"); b.u32(10); b.u64(32)
        expectError(b.data, contains: "'general.alignment' is UINT64, expected UINT32")
    }

    /// A file with one tensor entry (dimensions, type, offset) and `dataBytes` of data.
    func tensorFile(name: String = "t", dimensions: [UInt64], type: UInt32, offset: UInt64, dataBytes: Int,
                    second: (name: String, offset: UInt64)? = nil) -> Data {
        var b = GGUFBytes.header(tensors: second == nil ? 1 : 2, keys: 0)
        for (n, o) in [(name, offset)] + (second.map { [($0.name, $0.offset)] } ?? []) {
            b.string(n); b.u32(UInt32(dimensions.count)); dimensions.forEach { b.u64($0) }; b.u32(type); b.u64(o)
        }
        while b.data.count % 32 != 0 { b.data.append(0) }
        b.data.append(Data(count: dataBytes))
        return b.data
    }

    func testTensorDirectoryProblems() throws {
        // Valid: 64 F32 values.
        let ok = tmp.appendingPathComponent("ok.gguf")
        try tensorFile(dimensions: [64], type: 0, offset: 0, dataBytes: 256).write(to: ok)
        XCTAssertEqual(try GGUFFile(url: ok).floats("t").count, 64)

        expectError(tensorFile(dimensions: [64], type: 0, offset: 0, dataBytes: 255), contains: "needs more bytes than the file's 255-byte data section")
        expectError(tensorFile(dimensions: [64], type: 0, offset: 64, dataBytes: 256), contains: "tensor 't' data [64, 64 + 256) runs past the end")
        expectError(tensorFile(dimensions: [64], type: 0, offset: 8, dataBytes: 512), contains: "offset 8 is not a multiple of the alignment 32")
        expectError(tensorFile(dimensions: [64], type: 99, offset: 0, dataBytes: 256), contains: "tensor 't' has unknown ggml type 99")
        expectError(tensorFile(dimensions: [48], type: 8, offset: 0, dataBytes: 256), contains: "48 columns, not a multiple of Q8_0's block of 32")
        expectError(tensorFile(dimensions: [1, 1, 1, 1, 1], type: 0, offset: 0, dataBytes: 32), contains: "has 5 dimensions")
        expectError(tensorFile(dimensions: [1 << 62, 1 << 62], type: 0, offset: 0, dataBytes: 32), contains: "too large to address")
        expectError(tensorFile(dimensions: [1 << 40], type: 0, offset: 0, dataBytes: 32), contains: "needs more bytes")
        expectError(tensorFile(dimensions: [64], type: 0, offset: 0, dataBytes: 512, second: ("u", 0)), contains: "overlap")
        expectError(tensorFile(dimensions: [64], type: 0, offset: 0, dataBytes: 512, second: ("t", 256)), contains: "tensor 't' appears twice")
        // A known type idpo does not read is listed, and refused only when read.
        let iq = tmp.appendingPathComponent("iq.gguf")
        try tensorFile(dimensions: [256], type: 16, offset: 0, dataBytes: 66).write(to: iq)
        XCTAssertThrowsError(try GGUFFile(url: iq).floats("t")) { XCTAssertTrue("\($0)".contains("tensor 't' is IQ2_XXS"), "\($0)") }
    }

    func testNonFiniteValuesAreRefusedWhenAsked() throws {
        var b = GGUFBytes.header(tensors: 1, keys: 0)
        b.string("t"); b.u32(1); b.u64(32); b.u32(8); b.u64(0)
        while b.data.count % 32 != 0 { b.data.append(0) }
        b.data.append(contentsOf: [0x00, 0x7C])        // d = +inf
        b.data.append(contentsOf: [UInt8](repeating: 1, count: 32))
        let url = tmp.appendingPathComponent("inf.gguf")
        try b.data.write(to: url)
        let f = try GGUFFile(url: url)
        XCTAssertEqual(try f.floats("t").first, .infinity)
        XCTAssertThrowsError(try f.floats("t", requireFinite: true)) { XCTAssertTrue("\($0)".contains("tensor 't' holds non-finite values"), "\($0)") }
    }

    func testWriterRoundTripsMetadataAndTensors() throws {
        var w = GGUFWriter()
        w.metadata = [("general.architecture", .string("x")), ("general.alignment", .uint32(128)),
                      ("a", .array(.array([.string(["p", "q"]), .float32([1.5])]))), ("b", .int64(-7)), ("c", .bool(false))]
        let values: [Float] = (0..<64).map { Float($0) * 0.37 - 5 }
        for type in [GGMLType.f32, .f16, .bf16, .q8_0] {
            let bytes = values.withUnsafeBufferPointer { GGUFWriter.encode($0.baseAddress!, count: 64, as: type) }
            w.tensors.append(.init(name: "t.\(type.name)", type: type, dimensions: [32, 2], bytes: bytes))
        }
        let url = tmp.appendingPathComponent("w.gguf")
        try w.write(to: url)
        let f = try GGUFFile(url: url)
        XCTAssertEqual(f.alignment, 128)
        XCTAssertEqual(f.metadataKeys, ["general.architecture", "general.alignment", "a", "b", "c"])
        XCTAssertEqual(f["a"], .array(.array([.string(["p", "q"]), .float32([1.5])])))
        XCTAssertEqual(f["b"], .int64(-7))
        for t in f.tensors.values { XCTAssertEqual(t.offset % 128, 0) }
        XCTAssertEqual(try f.floats("t.F32"), values)
        XCTAssertEqual(try f.floats("t.F16"), values.map { Float(Float16($0)) })
        XCTAssertEqual(try f.floats("t.BF16").map(\.bitPattern), values.map { UInt32(SafetensorsWriter.bfloat16Bits($0)) << 16 })
        let q8 = try f.floats("t.Q8_0")
        for i in 0..<64 {
            let step = values[(i / 32 * 32)..<(i / 32 * 32 + 32)].map(abs).max()! / 127
            XCTAssertEqual(q8[i], values[i], accuracy: step * 0.57)
        }
    }
}
