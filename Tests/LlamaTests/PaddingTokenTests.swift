// The pad token's embedding row gets no lookup gradient, as transformers' Llama builds its table
// with nn.Embedding(padding_idx=pad_token_id) — SmolLM2's pad token is its end-of-turn token, so this
// row is trained by TRL only through a tied lm_head.

import XCTest
import Kernels
import Llama
import TestSupport

final class PaddingTokenTests: XCTestCase {
    func gradients(padTokenID: Int?) throws -> (model: LlamaModel, grads: [Float]) {
        let config = try LlamaConfig(hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 4,
                                     vocabSize: 50, tieWordEmbeddings: false, padTokenID: padTokenID)
        let model = LlamaModel(config: config)
        model.randomize(seed: 9, std: 0.1, embeddingStd: 0.1)
        let tokens: [Int32] = [3, 5, 7, 5, 11, 13, 17, 19]
        let targets: [Int32] = [5, 7, 5, 11, 13, 17, 19, 2]
        let batch = TokenBatch(tokens: tokens, targets: targets, lengths: [8], maxLength: 8)
        let ws = TrainingWorkspace(config: config, capacity: Matmul.paddedRows(8), maxSequenceLength: 8)
        var logp = [Float](repeating: 0, count: 8)
        try model.forward(batch, workspace: ws, logProbs: &logp, training: true)
        let grads = FloatBuffer(count: model.layout.count)
        model.backward(dLogProbs: [Float](repeating: -1, count: 8), batchMaxLength: 8, workspace: ws, gradients: grads)
        return (model, grads.toArray())
    }

    func testPadRowGetsNoLookupGradient() throws {
        let D = 32
        let (model, padded) = try gradients(padTokenID: 5)
        let (_, plain) = try gradients(padTokenID: nil)
        let e = model.layout.embedding
        func row(_ g: [Float], _ t: Int) -> [Float] { Array(g[(e + t * D)..<(e + (t + 1) * D)]) }
        XCTAssertEqual(row(padded, 5), [Float](repeating: 0, count: D), "the pad row is not trained through lookups")
        XCTAssertTrue(row(plain, 5).contains { $0 != 0 }, "without pad_token_id the row is trained")
        XCTAssertEqual(row(padded, 7), row(plain, 7), "other rows are unchanged")
        XCTAssertEqual(Array(padded[(e + 50 * D)...]), Array(plain[(e + 50 * D)...]), "every other parameter is unchanged")
    }
}
