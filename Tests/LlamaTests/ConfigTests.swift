// config.json reading: both rope layouts, defaults, and bad values rejected with the field named.

import XCTest
import Llama
import TestSupport

final class ConfigTests: XCTestCase {
    func decode(_ json: String) throws -> LlamaConfig { try LlamaConfig.decode(jsonData: Data(json.utf8)) }

    let base = """
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100
    """

    func testFixtureConfigs() throws {
        let mha = try LlamaConfig.load(url: Fixtures.url("llama-mha/config.json"))
        XCTAssertEqual(mha.numKeyValueHeads, 4)
        XCTAssertEqual(mha.ropeTheta, 10000)
        XCTAssertNil(mha.ropeScaling)
        XCTAssertFalse(mha.tieWordEmbeddings)
        let gqa = try LlamaConfig.load(url: Fixtures.url("llama-gqa-tied/config.json"))
        XCTAssertEqual(gqa.numKeyValueHeads, 2)
        XCTAssertEqual(gqa.ropeTheta, 500000)
        XCTAssertEqual(gqa.ropeScaling?.factor, 8)
        XCTAssertEqual(gqa.eosTokenID?.ids, [2, 3])
        XCTAssertTrue(gqa.tieWordEmbeddings)
    }

    func testClassicTopLevelRopeKeysAndDefaults() throws {
        let c = try decode("""
        {\(base), "rope_theta": 500000.0, "bos_token_id": 128000, "eos_token_id": [128001, 128009],
         "rope_scaling": {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192}}
        """)
        XCTAssertEqual(c.numKeyValueHeads, 4, "num_key_value_heads defaults to num_attention_heads")
        XCTAssertEqual(c.headDim, 16)
        XCTAssertEqual(c.ropeScaling?.originalMaxPositionEmbeddings, 8192)
        XCTAssertEqual(c.bosTokenID?.ids, [128000])
        XCTAssertEqual(c.eosTokenID?.ids, [128001, 128009])
        // Round trip through our own writer.
        let again = try LlamaConfig.decode(jsonData: try JSONEncoder().encode(c))
        XCTAssertEqual(again, c)
    }

    func testLlama3ScalingChangesLowFrequenciesOnly() throws {
        let plain = try decode("{\(base), \"rope_theta\": 500000}")
        let scaled = try decode("""
        {\(base), "rope_theta": 500000, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
         "high_freq_factor": 4, "original_max_position_embeddings": 64}}
        """)
        let a = plain.inverseFrequencies(), b = scaled.inverseFrequencies()
        XCTAssertEqual(a[0], b[0], "high frequencies are kept")
        XCTAssertEqual(b.last!, a.last! / 8, accuracy: 1e-12, "low frequencies are divided by factor")
    }

    func expectError(_ json: String, field: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(json), file: file, line: line) { error in
            guard let e = error as? ConfigError else { return XCTFail("not a ConfigError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.field, field, "\(e)", file: file, line: line)
        }
    }

    func testBadConfigsNameTheField() {
        expectError("{\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 9}", field: "hidden_size")
        expectError("{\"hidden_size\": 65, \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"vocab_size\": 9}", field: "hidden_size")
        expectError("{\(base), \"num_key_value_heads\": 3}", field: "num_key_value_heads")
        expectError("{\(base), \"num_hidden_layers\": 0}".replacingOccurrences(of: "\"num_hidden_layers\": 2, ", with: ""), field: "num_hidden_layers")
        expectError("{\"hidden_size\": 64, \"intermediate_size\": -1, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", field: "intermediate_size")
        expectError("{\(base), \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", field: "rope_scaling.rope_type")
        expectError("{\(base), \"rope_parameters\": {\"rope_type\": \"dynamic\", \"rope_theta\": 10000}}", field: "rope_parameters.rope_type")
        expectError("{\(base), \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}}", field: "rope_scaling.low_freq_factor")
        expectError("{\(base), \"hidden_act\": \"gelu\"}", field: "hidden_act")
        expectError("{\(base), \"attention_bias\": true}", field: "attention_bias")
        expectError("{\"hidden_size\": \"64\", \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"vocab_size\": 9}", field: "hidden_size")
        expectError("{\(base), \"head_dim\": 7}", field: "head_dim")
        expectError("{\(base), \"rms_norm_eps\": 0}", field: "rms_norm_eps")
        expectError("{ not json", field: "<file>")
    }

    /// Fields that change the computation and are not implemented are refused by name, never ignored
    /// (a Mistral config with a sliding window gave 16 % wrong log-probs without a word).
    func testUnimplementedComputationFieldsAreRefused() throws {
        expectError("{\(base), \"model_type\": \"mistral\", \"sliding_window\": 0}", field: "sliding_window")
        expectError("{\(base), \"model_type\": \"mixtral\", \"sliding_window\": 24}", field: "model_type")
        expectError("{\(base), \"model_type\": \"qwen3_moe\"}", field: "model_type")
        expectError("{\(base), \"model_type\": \"qwen2\", \"use_sliding_window\": true, \"sliding_window\": 32}", field: "use_sliding_window")
        expectError("{\(base), \"model_type\": \"qwen2\", \"attention_bias\": true}", field: "attention_bias")
        expectError("{\(base), \"model_type\": \"llama\", \"sliding_window\": 4096}", field: "sliding_window")
        expectError("{\(base), \"use_sliding_window\": true}", field: "use_sliding_window")
        expectError("{\(base), \"attn_logit_softcapping\": 50.0}", field: "attn_logit_softcapping")
        expectError("{\(base), \"final_logit_softcapping\": 30.0}", field: "final_logit_softcapping")
        expectError("{\(base), \"mlp_bias\": true}", field: "mlp_bias")
        expectError("{\(base), \"head_dim\": 32}", field: "head_dim")
        expectError("{\(base), \"hidden_act\": \"gelu_pytorch_tanh\"}", field: "hidden_act")
        expectError("{\(base), \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}", field: "rope_scaling.rope_type")
        expectError("{\(base), \"attention_dropout\": 0.1}", field: "attention_dropout")
        expectError("{\(base), \"partial_rotary_factor\": 0.5}", field: "partial_rotary_factor")
        expectError("{\(base), \"quantization_config\": {\"quant_method\": \"gptq\"}}", field: "quantization_config")
        expectError("{\(base), \"layer_types\": [\"full_attention\", \"sliding_attention\"]}", field: "layer_types")
        // What real Llama configs carry stays accepted.
        let ok = try decode("{\(base), \"model_type\": \"llama\", \"sliding_window\": null, \"attention_dropout\": 0.0, \"head_dim\": 16, \"layer_types\": [\"full_attention\", \"full_attention\"], \"rope_scaling\": {\"rope_type\": \"default\"}, \"pretraining_tp\": 1}")
        XCTAssertNil(ok.ropeScaling)
        XCTAssertEqual(ok.headDim, 16)
        XCTAssertEqual(ok.architecture, .llama)
        XCTAssertFalse(ok.qkvBias)
        // Qwen2.5 ships sliding_window and max_window_layers with use_sliding_window false: full attention.
        let qwen = try decode("{\(base), \"model_type\": \"qwen2\", \"use_sliding_window\": false, \"sliding_window\": 32768, \"max_window_layers\": 21, \"rope_theta\": 1000000.0}")
        XCTAssertEqual(qwen.architecture, .qwen2)
        XCTAssertTrue(qwen.qkvBias)
        let written = String(decoding: try JSONEncoder().encode(qwen), as: UTF8.self)
        XCTAssertTrue(written.contains("\"Qwen2ForCausalLM\"") && written.contains("\"model_type\":\"qwen2\""), written)
        XCTAssertEqual(try decode(written), qwen, "written and read back: the same configuration")
        // Gemma: only the tanh GELU is implemented
        expectError("{\(base), \"model_type\": \"gemma\", \"hidden_act\": \"gelu\"}", field: "hidden_act")
        XCTAssertTrue(try decode("{\(base), \"model_type\": \"gemma\", \"hidden_act\": \"gelu_pytorch_tanh\", \"head_dim\": 256}").usesGeGLU)
        // Mistral: a window, or null (v0.2 and later) for full attention
        let mistral = try decode("{\(base), \"model_type\": \"mistral\", \"sliding_window\": 4096}")
        XCTAssertEqual(mistral.slidingWindow, 4096)
        XCTAssertEqual(try decode(String(decoding: try JSONEncoder().encode(mistral), as: UTF8.self)), mistral)
        XCTAssertNil(try decode("{\(base), \"model_type\": \"mistral\", \"sliding_window\": null}").slidingWindow)
        // Qwen3: head_dim independent of hidden / heads
        let qwen3 = try decode("{\(base), \"model_type\": \"qwen3\", \"head_dim\": 32, \"attention_bias\": false, \"use_sliding_window\": false, \"sliding_window\": null}")
        XCTAssertEqual(qwen3.qDim, 128)
        XCTAssertTrue(qwen3.qkNorm)
        XCTAssertEqual(try decode(String(decoding: try JSONEncoder().encode(qwen3), as: UTF8.self)), qwen3)
        do {
            _ = try decode("{\(base), \"model_type\": \"gemma3\"}")
            XCTFail("gemma3 is not implemented")
        } catch let e as ConfigError {
            XCTAssertTrue(e.reason.contains("llama, qwen2, qwen3, mistral, gemma, gemma2"), "the error lists what is supported: \(e)")
        }
        // Gemma 2: soft-caps, query_pre_attn_scalar, alternating windows (transformers' default when
        // layer_types is absent: layers 0, 2, … slide); written and read back unchanged
        let gemma2 = try decode("{\(base), \"model_type\": \"gemma2\", \"head_dim\": 32, \"hidden_activation\": \"gelu_pytorch_tanh\", \"attn_logit_softcapping\": 50.0, \"final_logit_softcapping\": 30.0, \"query_pre_attn_scalar\": 256, \"sliding_window\": 4096, \"cache_implementation\": \"hybrid\"}")
        XCTAssertEqual(gemma2.slidingLayers, [true, false])
        XCTAssertEqual([gemma2.window(layer: 0), gemma2.window(layer: 1)], [4096, nil])
        XCTAssertEqual(try decode(String(decoding: try JSONEncoder().encode(gemma2), as: UTF8.self)), gemma2)
        expectError("{\(base), \"model_type\": \"gemma2\", \"layer_types\": [\"full_attention\"]}", field: "layer_types")
        expectError("{\(base), \"model_type\": \"gemma2\", \"use_bidirectional_attention\": true}", field: "use_bidirectional_attention")
        expectError("{\(base), \"model_type\": \"llama\", \"attn_logit_softcapping\": 50.0}", field: "attn_logit_softcapping")
    }
}
