// safetensors: round trips in F32/BF16, and malformed files rejected with a clear error, never a crash.

import XCTest
import Foundation
import Kernels
import Llama
@testable import Checkpoints
import TestSupport
import Support

final class SafetensorsTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func sample() -> Data {
        let a: [Float] = [1, -2.5, 3.25, 0, 1e-3, 65504, -0.0, 7]
        let b: [Float] = [0.1, 0.2, 0.3]
        return a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
            try! SafetensorsWriter.data([.init(name: "a", shape: [2, 4], data: pa.baseAddress!),
                                         .init(name: "b", shape: [3], data: pb.baseAddress!)], dtype: .f32)
        } }
    }

    func testRoundTripF32AndBF16() throws {
        let url = tmp.appendingPathComponent("x.safetensors")
        try sample().write(to: url)
        let f = try SafetensorsFile(url: url)
        XCTAssertEqual(try f.floats("a"), [1, -2.5, 3.25, 0, 1e-3, 65504, -0.0, 7])
        XCTAssertEqual(f.tensors["a"]?.shape, [2, 4])
        XCTAssertEqual(f.metadata["format"], "pt")
        // BF16: round to nearest even, exact for values with ≤ 8 significant bits.
        let values: [Float] = [1, -2.5, 3.25, 0.1, 1.00390625, 1.01171875, -1e30]
        let bf = values.withUnsafeBufferPointer {
            try! SafetensorsWriter.data([.init(name: "v", shape: [values.count], data: $0.baseAddress!)], dtype: .bf16)
        }
        let u2 = tmp.appendingPathComponent("b.safetensors")
        try bf.write(to: u2)
        let back = try SafetensorsFile(url: u2).floats("v")
        XCTAssertEqual(Array(back[0..<3]), [1, -2.5, 3.25])
        XCTAssertEqual(back[3], Float(bitPattern: 0x3DCD_0000), "0.1 rounds to the nearest bfloat16")
        XCTAssertEqual(back[4], 1.0, "tie rounds to even (down)")
        XCTAssertEqual(back[5], 1.015625, "tie rounds to even (up)")
        XCTAssertEqual(SafetensorsWriter.bfloat16Bits(1.0), 0x3F80)
    }

    func expectError(_ data: Data, contains fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let url = tmp.appendingPathComponent("bad-\(UUID().uuidString).safetensors")
        try! data.write(to: url)
        XCTAssertThrowsError(try SafetensorsFile(url: url), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(fragment), "'\(message)' should mention '\(fragment)'", file: file, line: line)
            XCTAssertTrue(message.contains(url.path), "error names the file", file: file, line: line)
        }
    }

    /// Builds a file from a header JSON string and a data section.
    func file(header: String, data: Int) -> Data {
        var h = Data(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        var n = UInt64(h.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        return out + h + Data(count: data)
    }

    func testMalformedFilesAreRejectedWithClearErrors() {
        expectError(Data([1, 2, 3]), contains: "too short")
        var huge = sample()
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        expectError(huge, contains: "beyond the end")
        expectError(file(header: "{not json", data: 0), contains: "not valid JSON")
        expectError(file(header: "[1,2]", data: 0), contains: "not a JSON object")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: 8), contains: "out of range")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,0]}}"#, data: 8), contains: "out of range")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 16), contains: "overlap")
        expectError(file(header: #"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: 8), contains: "unsupported dtype")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8), contains: "do not match shape")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, data: 8), contains: "non-negative")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[4611686018427387904, 4],"data_offsets":[0,8]}}"#, data: 8), contains: "larger than the file")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[2]}}"#, data: 8), contains: "data_offsets")
        expectError(file(header: #"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, data: 8), contains: "missing dtype")
    }

    /// Fuzz-style: thousands of mutated headers and truncations either load or throw — never crash,
    /// and a loaded file's tensors always read inside the file.
    func testMutatedHeadersNeverCrash() throws {
        let base = sample()
        let headerLength = Int(base.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = SplitMix64(seed: 2024)
        let url = tmp.appendingPathComponent("fuzz.safetensors")
        var loaded = 0, rejected = 0
        for iteration in 0..<1500 {
            var d = base
            switch iteration % 4 {
            case 0:   // flip random header bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = 8 + Int(rng.next() % UInt64(headerLength))
                    d[i] = UInt8(truncatingIfNeeded: rng.next())
                }
            case 1:   // replace a digit in the header with another digit (plausible but wrong offsets/shapes)
                let digits = (8..<8 + headerLength).filter { (0x30...0x39).contains(d[$0]) }
                let i = digits[Int(rng.next() % UInt64(digits.count))]
                d[i] = 0x30 + UInt8(rng.next() % 10)
            case 2:   // truncate anywhere
                d = d.prefix(Int(rng.next() % UInt64(d.count)))
            default:  // corrupt the length prefix
                d[Int(rng.next() % 8)] = UInt8(truncatingIfNeeded: rng.next())
            }
            try d.write(to: url)
            do {
                let f = try SafetensorsFile(url: url)
                for name in f.tensors.keys {
                    if let t = f.tensors[name], [.f32, .bf16, .f16].contains(t.dtype) { _ = try f.floats(name) }
                }
                loaded += 1
            } catch is FileError {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 500)
        XCTAssertGreaterThan(loaded, 10)
    }
}
