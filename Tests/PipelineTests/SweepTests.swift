// A 2 × 2 sweep shares iteration-1 data: generation work is done once (counted), every point
// trains on the same pairs, and the table marks one best point.

import XCTest
import Foundation
import Kernels
@testable import Pipeline
import TestSupport

final class SweepTests: XCTestCase {
    func testTwoByTwoSweepGeneratesIterationOneOnce() throws {
        Parallel.setThreads(2)
        let tmp = try TinyModels.temporaryDirectory("sweep")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try TinyModels.make(at: tmp.appendingPathComponent("policy"), seed: 1)
        try TinyModels.make(at: tmp.appendingPathComponent("pm"), seed: 2, layers: 1)
        let prompts = (0..<6).map { #"{"prompt": [{"role": "user", "content": "item \#($0) please"}]}"# }
        try (prompts.joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("prompts.jsonl"), atomically: true, encoding: .utf8)
        try (prompts.prefix(2).joined(separator: "\n") + "\n").write(to: tmp.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        let yaml = """
        run: {name: sw, output_root: out, seed: 3}
        policy: policy
        judge: {model: pm, kind: pairwise, ranking: knockout}
        prompts: {file: prompts.jsonl, max_prompt_tokens: 64}
        iterations: 1
        generation: {k: 4, max_new_tokens: 5}
        training: {batch_size: 2, micro_batch_size: 2, epochs: 1, max_length: 128, max_prompt_length: 64, learning_rate: 1.0e-3}
        evaluation: {prompts: eval.jsonl, max_new_tokens: 5}
        sweep:
          beta: [0.1, 0.3]
          learning_rate: [1.0e-3, 3.0e-4]
        """
        try yaml.write(to: tmp.appendingPathComponent("sweep.yaml"), atomically: true, encoding: .utf8)
        let recipe = try Recipe.load(url: tmp.appendingPathComponent("sweep.yaml"))
        let sweep = SweepDriver(recipe: recipe)
        sweep.quiet = true
        let results = try sweep.run()
        XCTAssertEqual(results.count, 4)
        let work = results.map { sweep.generatedPrompts[$0.name] ?? -1 }
        XCTAssertEqual(work, [6, 0, 0, 0], "iteration 1 is generated once, by the first point")
        XCTAssertEqual(results.filter(\.best).count, 1)
        // Every point trained on the same pairs; different β give different models.
        let dirs = results.map { recipe.run.directory.appendingPathComponent($0.name.split(separator: "/").dropFirst().joined(separator: "/")) }
        let pairs = try dirs.map { try Data(contentsOf: $0.appendingPathComponent("iter-1/pairs.jsonl")) }
        XCTAssertTrue(pairs.allSatisfy { $0 == pairs[0] })
        XCTAssertNotEqual(try Data(contentsOf: dirs[0].appendingPathComponent("iter-1/policy/model.h5")),
                          try Data(contentsOf: dirs[3].appendingPathComponent("iter-1/policy/model.h5")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: recipe.run.directory.appendingPathComponent("sweep.csv").path))
        XCTAssertTrue(SweepDriver.table(results).contains("★"))
    }
}
