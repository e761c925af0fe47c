// Model-backed scorers on a tiny random Llama: each against an independent computation through
// the training path, plus KV-prefix reuse accounting and head loading from HF directories.

import XCTest
import Foundation
import Kernels
import Llama
import Checkpoints
@testable import Preference
import TestSupport

final class ModelScorerTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    /// Last-position logits of a full sequence through the training path.
    func lastLogits(_ m: LlamaModel, _ seq: [Int32]) throws -> [Float] {
        let T = seq.count, V = m.config.vocabSize
        var lp = [Float](repeating: 0, count: T), logits = [Float](repeating: 0, count: T * V)
        try m.forward(TokenBatch(tokens: seq, targets: seq, lengths: [T], maxLength: T),
                      workspace: TrainingWorkspace(config: m.config, capacity: Matmul.paddedRows(T), maxSequenceLength: T, training: false),
                      logProbs: &lp, training: false, logits: &logits)
        return Array(logits[(T - 1) * V..<T * V])
    }

    func testPairwiseProbabilityEqualsIndependentSoftmaxAndReusesThePrefix() throws {
        let m = try ModelDirectory.load(Fixtures.url("llama-gqa-tied"))
        let scorer = PairwiseScorer(model: m, tokenA: 32, tokenB: 33)
        var r = TestRandom(seed: 4)
        let header = r.tokens(12, below: 160)
        let responses = (0..<4).map { _ in r.tokens(5, below: 160) }
        let sep = r.tokens(2, below: 160), tail = r.tokens(3, below: 160)
        func prompt(_ a: [Int32], _ b: [Int32]) -> [Int32] { header + a + sep + b + tail }
        try scorer.setSharedPrefix(header)
        for (i, j) in [(0, 1), (2, 3), (1, 3)] {
            let seqs = [prompt(responses[i], responses[j]), prompt(responses[j], responses[i])]
            let p = try scorer.probabilityA(seqs)
            for (k, seq) in seqs.enumerated() {
                let l = try lastLogits(m, seq)
                let a = Double(l[32]), b = Double(l[33])
                XCTAssertEqual(p[k], exp(a) / (exp(a) + exp(b)), accuracy: 1e-5)
            }
        }
        // The 12 header tokens were computed once instead of six times, and the third comparison's
        // sequences continue from kept ones showing the same response as A (header + A + separator:
        // 19 tokens each) — (1, 3) from (1, 0), (3, 1) from (3, 2).
        XCTAssertEqual(scorer.naiveTokens - (scorer.computedTokens - 12), 4 * 12 + 2 * 19)
        // A new prompt with the same header starts from the header alone (nothing kept from before).
        try scorer.setSharedPrefix(header)
        let before = scorer.computedTokens
        _ = try scorer.probabilityA([prompt(responses[1], responses[3])])
        XCTAssertEqual(scorer.computedTokens - before, 5 + 2 + 5 + 3)
    }

    /// Inputs longer than one model call (`PairwiseScorer.rowsPerCall`): a long shared prefix, and
    /// the two orders of a comparison ending in different calls, each read at its own last token.
    func testLongInputsRunInSeveralCallsAndEachOrderIsReadAtItsLastToken() throws {
        let dir = try TinyModels.temporaryDirectory("pm-long")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyModels.make(at: dir, seed: 8)   // 512 positions
        let m = try ModelDirectory.load(dir)
        var r = TestRandom(seed: 9)
        for (headerLength, long, short) in [(PairwiseScorer.rowsPerCall + 4, 40, 6), (20, PairwiseScorer.rowsPerCall + 44, 9)] {
            let scorer = PairwiseScorer(model: m, tokenA: 32, tokenB: 33)
            let header = r.tokens(headerLength, below: 900), sep = r.tokens(2, below: 900), tail = r.tokens(3, below: 900)
            let a = r.tokens(long, below: 900), b = r.tokens(short, below: 900)
            let seqs = [header + a + sep + b + tail, header + b + sep + a + tail]
            try scorer.setSharedPrefix(header)
            let p = try scorer.probabilityA(seqs)
            for (k, seq) in seqs.enumerated() {
                let l = try lastLogits(m, seq)
                XCTAssertEqual(p[k], exp(Double(l[32])) / (exp(Double(l[32])) + exp(Double(l[33]))), accuracy: 1e-5,
                               "header \(headerLength), order \(k)")
            }
        }
    }

    func testRewardAndGeneralPreferenceHeadsMatchTheTrainingPath() throws {
        let base = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let D = base.config.hiddenSize
        var r = TestRandom(seed: 8)
        let score = r.gaussian(D, std: 0.3), gpmHead = r.gaussian(4 * D, std: 0.3)
        // Independent path: a causal LM whose lm_head rows are the head → logits = head · h_last.
        let probe = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let headRows = score + gpmHead
        (probe.parameters.pointer + probe.layout.lmHead).update(from: headRows, count: headRows.count)
        // The scorers run on a backbone without lm_head.
        let backbone = LlamaModel(config: base.config, languageModelHead: false)
        for e in backbone.layout.entries {
            (backbone.parameters.pointer + e.offset).update(from: base.parameters.pointer + base.layout.entry(named: e.name)!.offset, count: e.count)
        }
        let rm = RewardScorer(model: backbone, scoreWeight: score)
        let gpm = GeneralPreferenceScorer(model: backbone, valueHead: gpmHead, tau: 0.1)
        var embeddings: [PreferenceEmbedding] = []
        for n in [3, 9, 17] {
            let seq = r.tokens(n, below: 128)
            let logits = try lastLogits(probe, seq)
            XCTAssertEqual(try rm.reward(seq), Double(logits[0]), accuracy: 1e-4)
            let raw = (1...4).map { Double(logits[$0]) }
            let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let v = try gpm.embedding(seq)
            XCTAssertNil(v.blockWeights, "no prompt head")
            for (x, y) in zip(v.vector, raw.map { $0 / norm }) { XCTAssertEqual(x, y, accuracy: 1e-5) }
            embeddings.append(v)
        }
        let (s, p) = gpm.matrices(embeddings)
        for i in 0..<3 { for j in 0..<3 {
            XCTAssertEqual(s[i][j], -s[j][i], accuracy: 1e-12)
            XCTAssertEqual(p[i][j] + p[j][i], 1, accuracy: 1e-12)
        } }
        XCTAssertEqual(p[0][0], 0.5)
    }

    func testSequenceClassificationDirectoryLoadsWithItsHead() throws {
        let base = try ModelDirectory.load(Fixtures.url("llama-mha"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-rm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("llama-mha/config.json"), to: dir.appendingPathComponent("config.json"))
        let score = [Float](repeating: 0.25, count: 64)
        var tensors = base.layout.entries.filter { $0.name != "lm_head.weight" }.map {
            SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: base.parameters.pointer + $0.offset)
        }
        try score.withUnsafeBufferPointer { s in
            tensors.append(.init(name: "score.weight", shape: [1, 64], data: s.baseAddress!))
            try SafetensorsWriter.write(tensors, dtype: .f32, to: dir.appendingPathComponent("model.safetensors"))
        }
        let (model, heads) = try ModelDirectory.loadWithHead(dir, head: [["score.weight"]])
        XCTAssertFalse(model.hasLanguageModelHead)
        XCTAssertEqual(heads[0].shape, [1, 64])
        XCTAssertEqual(heads[0].values, score)
        XCTAssertThrowsError(try ModelDirectory.loadWithHead(dir, head: [["value_head.weight"]])) {
            XCTAssertTrue("\($0)".contains("value_head.weight"), "\($0)")
        }
    }
}
