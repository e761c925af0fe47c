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
}
