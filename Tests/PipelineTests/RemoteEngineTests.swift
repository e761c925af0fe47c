// What idpo asks a serving engine for, per engine (the real llama-server is exercised by
// Tests/RealModelTests/LlamaServerTests): the fields that keep its sampling plain and return the token
// ids, the endpoint, and the settings refused before any request.

import XCTest
import Foundation
import Generation
@testable import Pipeline

final class RemoteEngineTests: XCTestCase {
    func body(_ server: ServerKind, topK: Int = 0) throws -> [String: Any] {
        var s = RemoteEngineSettings(baseURL: "http://127.0.0.1:8000/v1/", server: server)
        s.model = "policy"
        return try RemoteCompletions(s).body(prompt: [5, 6, 7], k: 4, maxNewTokens: 32,
                                             sampling: SamplingParameters(temperature: 0.7, topP: 0.9, topK: topK),
                                             seed: 0xFFFF_FFFF_1234, stopTokens: [2, 9])
    }

    func testRequestsKeepTheSamplingPlainAndAskForTokenIDs() throws {
        let llama = try body(.llamacpp)
        XCTAssertEqual(llama["prompt"] as? [Int], [5, 6, 7], "token ids, never text")
        XCTAssertEqual(llama["n_cmpl"] as? Int, 4); XCTAssertEqual(llama["n_predict"] as? Int, 32)
        XCTAssertEqual(llama["return_tokens"] as? Bool, true)
        XCTAssertEqual(llama["top_k"] as? Int, 0, "llama-server's default top_k 40 would truncate")
        XCTAssertEqual(llama["min_p"] as? Double, 0, "and its min_p 0.05")
        XCTAssertEqual(llama["top_p"] as? Double, 0.9, "its default top_p is 0.95: always sent")
        XCTAssertEqual(llama["temperature"] as? Double, 0.7)
        XCTAssertNil(llama["n"]); XCTAssertNil(llama["max_tokens"])
        XCTAssertEqual(llama["seed"] as? Int, 0x7FFF_1234, "seeds fit the servers' 31-bit field")
        let vllm = try body(.vllm)
        XCTAssertEqual(vllm["n"] as? Int, 4); XCTAssertEqual(vllm["max_tokens"] as? Int, 32)
        XCTAssertEqual(vllm["stop_token_ids"] as? [Int], [2, 9])
        XCTAssertEqual(vllm["return_token_ids"] as? Bool, true)
        XCTAssertEqual(vllm["top_k"] as? Int, -1, "vLLM's 'keep every token'")
        XCTAssertEqual(vllm["model"] as? String, "policy")
        XCTAssertEqual(try body(.sglang, topK: 20)["top_k"] as? Int, 20)
        XCTAssertEqual(try body(.llamacpp, topK: 20)["top_k"] as? Int, 20)
    }

    func testEndpointsAndRefusedSettings() throws {
        XCTAssertEqual(RemoteEngineSettings(baseURL: "http://h:8000/v1/", server: .vllm).completionsURL?.absoluteString, "http://h:8000/v1/completions")
        XCTAssertEqual(RemoteEngineSettings(baseURL: "http://h:8080", server: .llamacpp).completionsURL?.absoluteString, "http://h:8080/completion")
        XCTAssertThrowsError(try RemoteCompletions(RemoteEngineSettings(baseURL: "ftp://h"))) {
            XCTAssertTrue("\($0)".contains("not an http(s) URL"), "\($0)")
        }
        var typed = RemoteEngineSettings(baseURL: "http://h:1"); typed.type = "grpc"
        XCTAssertThrowsError(try RemoteCompletions(typed)) { XCTAssertTrue("\($0)".contains("'grpc' is not implemented"), "\($0)") }
        var keyed = RemoteEngineSettings(baseURL: "http://h:1"); keyed.apiKeyEnv = "IDPO_TEST_NO_SUCH_KEY_VARIABLE"
        XCTAssertThrowsError(try RemoteCompletions(keyed)) { XCTAssertTrue("\($0)".contains("IDPO_TEST_NO_SUCH_KEY_VARIABLE, which is not set"), "\($0)") }
    }

    /// Nothing listens: the error names the URL, the prompt and the attempts made.
    func testAServerThatIsDownIsAClearError() throws {
        var s = RemoteEngineSettings(baseURL: "http://127.0.0.1:9", server: .vllm)   // the discard port: nothing answers
        s.attempts = 2; s.timeoutSeconds = 5
        XCTAssertThrowsError(try RemoteCompletions(s).post(["prompt": [1]], what: "prompt 17")) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("http://127.0.0.1:9/v1/completions") && text.contains("prompt 17") && text.contains("after 2 attempts"), text)
        }
    }

    func client(_ server: ServerKind, model: String? = "policy") throws -> RemoteCompletions {
        var s = RemoteEngineSettings(baseURL: "http://127.0.0.1:8000", server: server)
        s.model = model
        return try RemoteCompletions(s)
    }

    /// The A/B judge asks vLLM and SGLang for exactly the two letters' log-probs (no top-N that could
    /// leave one out); llama-server, which cannot be asked for given ids, for its top N.
    func testExactTokenLogProbRequestsAndAnswers() throws {
        let vllm = try client(.vllm)
        let (vPath, vBody) = vllm.nextTokenRequest(prompt: [1, 2], count: 100, tokens: [32, 33])
        XCTAssertNil(vPath, "vLLM: /v1/completions")
        XCTAssertEqual(vBody["logprob_token_ids"] as? [Int], [32, 33])
        XCTAssertEqual(vBody["return_tokens_as_token_ids"] as? Bool, true)
        XCTAssertEqual(vBody["max_tokens"] as? Int, 1); XCTAssertEqual(vBody["prompt"] as? [Int], [1, 2])
        let vAnswer: [String: Any] = ["choices": [["logprobs": ["top_logprobs": [["token_id:7": -0.1, "token_id:32": -2.5, "token_id:33": -3.0]]]]]]
        let v = try vllm.parseNextTokenLogProbs(vAnswer, exact: true, what: "x")
        XCTAssertEqual(v.map(\.token), [7, 32, 33])
        XCTAssertEqual(v.first { $0.token == 33 }?.logProb, -3.0)

        let sglang = try client(.sglang)
        let (sPath, sBody) = sglang.nextTokenRequest(prompt: [1, 2], count: 100, tokens: [32, 33])
        XCTAssertEqual(sPath, "/generate", "SGLang's native endpoint keys log-probs by id")
        XCTAssertEqual(sBody["token_ids_logprob"] as? [Int], [32, 33])
        XCTAssertEqual(sBody["input_ids"] as? [Int], [1, 2]); XCTAssertEqual(sBody["return_logprob"] as? Bool, true)
        XCTAssertEqual((sBody["sampling_params"] as? [String: Any])?["max_new_tokens"] as? Int, 1)
        let sAnswer: [String: Any] = ["text": "A", "meta_info": ["output_token_ids_logprobs": [[[-0.2, 32, "A"], [-1.9, 33, "B"]]]]]
        let sl = try sglang.parseNextTokenLogProbs(sAnswer, exact: true, what: "x")
        XCTAssertEqual(sl.map(\.token), [32, 33]); XCTAssertEqual(sl[1].logProb, -1.9)
        // the staleness probe's top-N on SGLang: top_logprobs_num on /generate
        let (_, top) = sglang.nextTokenRequest(prompt: [1], count: 8)
        XCTAssertEqual(top["top_logprobs_num"] as? Int, 8); XCTAssertNil(top["token_ids_logprob"])
        let topAnswer: [String: Any] = ["meta_info": ["output_top_logprobs": [[[-0.5, 4, "a"], [-0.1, 9, "b"]]]]]
        XCTAssertEqual(try sglang.parseNextTokenLogProbs(topAnswer, exact: false, what: "x").map(\.token), [9, 4], "most likely first")

        let llama = try client(.llamacpp)
        let (lPath, lBody) = llama.nextTokenRequest(prompt: [1], count: 100, tokens: [32, 33])
        XCTAssertNil(lPath); XCTAssertEqual(lBody["n_probs"] as? Int, 100); XCTAssertNil(lBody["logprob_token_ids"])

        // garbage is an error that says what was missing
        XCTAssertThrowsError(try sglang.parseNextTokenLogProbs(["meta_info": [:]], exact: true, what: "a comparison")) {
            XCTAssertTrue("\($0)".contains("no meta_info.output_token_ids_logprobs[0]") && "\($0)".contains("a comparison"), "\($0)")
        }
        XCTAssertThrowsError(try vllm.parseNextTokenLogProbs(["choices": [["logprobs": ["top_logprobs": [["A": -0.1]]]]]], exact: true, what: "x")) {
            XCTAssertTrue("\($0)".contains("not token_id:<n>"), "\($0)")
        }
    }

    /// A scalar reward model through each engine's pooling endpoint: vLLM's /classify (raw head
    /// output), SGLang's /classify (`embedding[0]`), llama-server's /embedding (the hidden state, no
    /// normalization; idpo applies score.weight).
    func testRewardPoolingRequestsAndAnswers() throws {
        let vllm = try client(.vllm)
        let (vPath, vBody) = vllm.poolingRequest(tokens: [3, 4])
        XCTAssertEqual(vPath, "/classify"); XCTAssertEqual(vBody["input"] as? [Int], [3, 4])
        XCTAssertEqual(vBody["use_activation"] as? Bool, false, "the raw reward, not its sigmoid")
        XCTAssertEqual(try vllm.parsePooled(["data": [["index": 0, "probs": [1.25], "num_classes": 1]]], what: "x"), .score(1.25))
        XCTAssertThrowsError(try vllm.parsePooled(["data": [["probs": [0.4, 0.6]]]], what: "x")) {
            XCTAssertTrue("\($0)".contains("num_labels = 1"), "\($0)")
        }
        let sglang = try client(.sglang)
        XCTAssertEqual(sglang.poolingRequest(tokens: [3]).path, "/classify")
        XCTAssertEqual(sglang.poolingRequest(tokens: [3]).body["input_ids"] as? [Int], [3])
        XCTAssertEqual(try sglang.parsePooled(["embedding": [-0.5], "meta_info": [:]], what: "x"), .score(-0.5))
        XCTAssertEqual(try sglang.parsePooled([["embedding": [2.0]]], what: "x"), .score(2.0))
        let llama = try client(.llamacpp)
        let (lPath, lBody) = llama.poolingRequest(tokens: [3, 4])
        XCTAssertEqual(lPath, "/embedding"); XCTAssertEqual(lBody["content"] as? [Int], [3, 4]); XCTAssertEqual(lBody["embd_normalize"] as? Int, -1)
        XCTAssertEqual(try llama.parsePooled([["index": 0, "embedding": [[0.5, -1.0, 2.0]]]], what: "x"), .hidden([0.5, -1.0, 2.0]))
        XCTAssertThrowsError(try llama.parsePooled([["index": 0, "embedding": [[0.5], [1.0]]]], what: "x")) {
            XCTAssertTrue("\($0)".contains("--pooling last"), "\($0)")
        }
        XCTAssertThrowsError(try llama.parsePooled(["error": "This server does not support embeddings"], what: "a reward")) {
            XCTAssertTrue("\($0)".contains("a reward") && "\($0)".contains("--embeddings"), "\($0)")
        }
    }

    /// A LoRA π(t) is loaded at run time by vLLM and SGLang; later requests name it.
    func testAdapterLoadingRequestsAndNaming() throws {
        let vllm = try client(.vllm)
        let (path, body) = try XCTUnwrap(vllm.loadAdapterRequest(name: "run-pi1", path: "/runs/x/iter-1/policy"))
        XCTAssertEqual(path, "/v1/load_lora_adapter")
        XCTAssertEqual(body["lora_name"] as? String, "run-pi1"); XCTAssertEqual(body["lora_path"] as? String, "/runs/x/iter-1/policy")
        XCTAssertEqual(try client(.sglang).loadAdapterRequest(name: "a", path: "/p")?.path, "/load_lora_adapter")
        XCTAssertNil(try client(.llamacpp).loadAdapterRequest(name: "a", path: "/p"), "llama-server loads adapters only at start")
        XCTAssertThrowsError(try client(.llamacpp).loadAdapter(name: "a", path: "/p")) {
            XCTAssertTrue("\($0)".contains("reload_command"), "\($0)")
        }
        // nothing listens: loading fails with the URL named, and requests keep naming the base model
        var s = RemoteEngineSettings(baseURL: "http://127.0.0.1:9", server: .vllm)
        s.attempts = 1; s.model = "base"
        let down = try RemoteCompletions(s)
        XCTAssertThrowsError(try down.loadAdapter(name: "run-pi1", path: "/p")) {
            XCTAssertTrue("\($0)".contains("http://127.0.0.1:9/v1/load_lora_adapter"), "\($0)")
        }
        XCTAssertNil(down.adapterName)
        XCTAssertEqual(down.body(prompt: [1], k: 1, maxNewTokens: 1, sampling: SamplingParameters(), seed: 1, stopTokens: [])["model"] as? String, "base")
        // with an adapter loaded: vLLM names it as the model, SGLang in lora_path (both endpoints)
        down.adapterName = "run-pi1"
        XCTAssertEqual(down.body(prompt: [1], k: 1, maxNewTokens: 1, sampling: SamplingParameters(), seed: 1, stopTokens: [])["model"] as? String, "run-pi1")
        XCTAssertEqual(down.nextTokenRequest(prompt: [1], count: 8).body["model"] as? String, "run-pi1")
        let sg = try client(.sglang, model: "base")
        sg.adapterName = "run-pi1"
        let sgBody = sg.body(prompt: [1], k: 1, maxNewTokens: 1, sampling: SamplingParameters(), seed: 1, stopTokens: [])
        XCTAssertEqual(sgBody["lora_path"] as? String, "run-pi1"); XCTAssertEqual(sgBody["model"] as? String, "base")
        XCTAssertEqual(sg.nextTokenRequest(prompt: [1], count: 8).body["lora_path"] as? String, "run-pi1")
    }
}
