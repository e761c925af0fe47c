// idpo convert keeps a 16-bit checkpoint's dtype by default (as π(t) is saved), and --dtype overrides it.

import Foundation
import XCTest
import Checkpoints
import TestSupport

final class ConvertTests: XCTestCase {
    func testHuggingFaceExportKeepsTheSourceDTypeUnlessAsked() throws {
        let tmp = try TinyModels.temporaryDirectory("convert-dtype")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("f32"), seed: 2)
        let bf16 = tmp.appendingPathComponent("bf16")
        try ModelDirectory.saveHuggingFace(try ModelDirectory.load(tmp.appendingPathComponent("f32")), to: bf16, dtype: .bf16,
                                           tokenizerSource: tmp.appendingPathComponent("f32"))
        for (extra, expected) in [([String](), "BF16"), (["--dtype", "f32"], "F32")] {
            let out = tmp.appendingPathComponent("out-\(expected)")
            let outcome = try Harness.run(["convert", "--from", bf16.path, "--to", out.path, "--format", "hf"] + extra, timeLimit: 60, in: tmp)
            XCTAssertEqual(outcome.status, 0, outcome.output)
            XCTAssertTrue(outcome.output.contains("Hugging Face (\(expected.lowercased()))"), outcome.output)
            XCTAssertEqual(Set(try ModelDirectory.describe(out).dtypes.keys), [expected])
        }
    }
}
