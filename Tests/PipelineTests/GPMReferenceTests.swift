// The general preference model judge against the GPM repository's inference procedure as
// re-implemented in PyTorch by Scripts/make_gpm_fixtures.py (tiny random GPMs on a Gemma backbone with
// d = 8 and a prompt head, and a Llama backbone with d = 6 and none), under both input conventions
// (GPO's ranker, the repository's example): token ids exactly, then every preference vector, block
// weight, score s(i ≻ j) and probability P(i ≻ j) within 1e-5.

import XCTest
import Foundation
@testable import Pipeline
import Preference
import Checkpoints
import TestSupport

final class GPMReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            var messages: [PromptMessage]
            var responses: [String]
            var tokens: [[Int32]]
            var prompt_lengths: [Int]
            var embeddings: [[Double]]
            var block_weights: [[Double]]?
            var scores: [[Double]]
            var probabilities: [[Double]]
        }
        var tau: Double
        var value_head_dim: Int
        var prompt_head: Bool
        var conventions: [String: [Case]]
    }

    static let models = ["gpm-gemma", "gpm-llama"]

    func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Fixtures.url(name).appendingPathComponent("reference.json")))
    }

    func testJudgeMatchesTheRepositoryProcedureOnBothBackbonesAndConventions() throws {
        var compared = 0
        for name in Self.models {
            let ref = try reference(name)
            for input in GPMInput.allCases {
                let cases = try XCTUnwrap(ref.conventions[input.rawValue], "\(name): no \(input) cases")
                let judge = try GPMJudge(directory: Fixtures.url(name), tau: ref.tau, input: input, warnings: { _ in })
                XCTAssertEqual(judge.dimension, ref.value_head_dim, "\(name): d is read from value_head.weight")
                XCTAssertEqual(judge.hasPromptHead, ref.prompt_head, name)
                for (c, expected) in cases.enumerated() {
                    let at = "\(name) \(input) conversation \(c)"
                    for (r, response) in expected.responses.enumerated() {
                        let (ids, p) = try judge.inputTokens(expected.messages, response: response)
                        XCTAssertEqual(ids, expected.tokens[r], "\(at) response \(r): token ids")
                        XCTAssertEqual(p, expected.prompt_lengths[r], "\(at) response \(r): prompt length")
                    }
                    let embeddings = try judge.embeddings(messages: expected.messages, responses: expected.responses)
                    for (r, e) in embeddings.enumerated() {
                        XCTAssertEqual(e.vector.count, ref.value_head_dim)
                        for (x, y) in zip(e.vector, expected.embeddings[r]) { XCTAssertEqual(x, y, accuracy: 1e-5, "\(at) v[\(r)]") }
                        if let w = expected.block_weights?[r] {
                            let got = try XCTUnwrap(e.blockWeights, "\(at): block weights")
                            for (x, y) in zip(got, w) { XCTAssertEqual(x, y, accuracy: 1e-5, "\(at) w[\(r)]") }
                        } else {
                            XCTAssertNil(e.blockWeights, at)
                        }
                    }
                    let (s, P) = try judge.table(messages: expected.messages, responses: expected.responses)
                    let k = expected.responses.count
                    for i in 0..<k { for j in 0..<k where i != j {
                        XCTAssertEqual(s[i][j], expected.scores[i][j], accuracy: 1e-5, "\(at) s(\(i) ≻ \(j))")
                        XCTAssertEqual(P[i][j], expected.probabilities[i][j], accuracy: 1e-5, "\(at) P(\(i) ≻ \(j))")
                        compared += 1
                    } }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 40, "ordered pairs compared")
    }

    /// The reference's probabilities are not degenerate (a test that cannot fail would pass on
    /// all-½ tables): they spread over (0, 1) and the two conventions give different inputs.
    func testReferenceTablesAreInformative() throws {
        for name in Self.models {
            let ref = try reference(name)
            let all = ref.conventions.values.flatMap { $0 }.flatMap { c in c.probabilities.flatMap { $0 } }
            XCTAssertLessThan(all.min()!, 0.2, name); XCTAssertGreaterThan(all.max()!, 0.8, name)
            XCTAssertNotEqual(ref.conventions["ranker"]![0].tokens, ref.conventions["example"]![0].tokens, name)
        }
    }

    /// The prompt head's share: scoring with every block weight 1 gives other scores (so the test
    /// above checks the prompt head, not only the value head).
    func testPromptHeadChangesTheScores() throws {
        let ref = try reference("gpm-gemma")
        let judge = try GPMJudge(directory: Fixtures.url("gpm-gemma"), tau: ref.tau, warnings: { _ in })
        let c = ref.conventions["ranker"]![0]
        var e = try judge.embeddings(messages: c.messages, responses: c.responses)
        let withHead = GeneralPreferenceScorer.score(e[0], e[1])
        e[0].blockWeights = nil
        XCTAssertGreaterThan(abs(GeneralPreferenceScorer.score(e[0], e[1]) - withHead), 1e-3)
    }

    /// A prompt head whose shape does not fit d is refused, naming the tensor and the shape it needs.
    func testMisshapenPromptHeadIsRefused() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-gpm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.copyItem(at: Fixtures.url("gpm-gemma"), to: tmp)
        let file = try SafetensorsFile(url: tmp.appendingPathComponent("model.safetensors"))
        var tensors: [(String, [Int], [Float])] = []
        for name in file.tensors.keys.sorted() {
            var values = try file.floats(name), shape = file.tensors[name]!.shape
            if name == "prompt_head.weight" { values = Array(values.prefix(3 * shape[1])); shape[0] = 3 }
            tensors.append((name, shape, values))
        }
        let storage = tensors.map { $0.2 }
        try withExtendedLifetime(storage) {
            let pointers = storage.map { a -> UnsafeMutablePointer<Float> in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count); p.update(from: a, count: a.count); return p
            }
            defer { pointers.forEach { $0.deallocate() } }
            let list = zip(tensors, pointers).map { SafetensorsWriter.Tensor(name: $0.0.0, shape: $0.0.1, data: UnsafePointer($0.1)) }
            try SafetensorsWriter.write(list, dtype: .f32, to: tmp.appendingPathComponent("model.safetensors"))
        }
        XCTAssertThrowsError(try GPMJudge(directory: tmp, warnings: { _ in })) {
            XCTAssertTrue("\($0)".contains("prompt_head.weight") && "\($0)".contains("[4, 32]"), "\($0)")
        }
    }
}
