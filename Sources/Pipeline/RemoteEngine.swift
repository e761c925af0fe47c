// Sampling through a serving engine users already run — vLLM, SGLang or llama.cpp's llama-server —
// over the OpenAI-compatible `/v1/completions` endpoint. idpo renders and tokenizes every prompt
// itself (the policy's chat template and truncation, exactly as the local engine does) and sends the
// token ids with n = k, the seed, temperature, top_p, top_k, max_tokens and the stop token ids; the
// engine-specific fields that make the sampling plain (no min_p / top_k defaults) and return the
// generated token ids are added per `RemoteEngineSettings.server`. Responses whose ids the engine does
// not return are re-tokenized from their text, and the samples file says so. Requests are retried
// with backoff a bounded number of times; a server that is down or answers garbage is an error
// naming the URL and the prompt id. The stage stays resumable by batch, as with the local engine.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Generation
import Tokenizers
import Support
import Preference

/// Which serving engine answers (they differ in the fields that return token ids and in their
/// sampling defaults).
public enum ServerKind: String, Codable, CaseIterable, Sendable {
    /// vLLM: `return_token_ids` gives each choice's `token_ids`; `stop_token_ids`.
    case vllm
    /// SGLang: `stop_token_ids`; choices carry text only (re-tokenized, flagged).
    case sglang
    /// llama.cpp's llama-server, through its native `/completion` endpoint (its `/v1/completions`
    /// returns text only): `n_cmpl` completions, `return_tokens` gives `tokens`, `top_k` 0, `min_p` 0
    /// and an explicit `top_p` switch off its default truncation samplers (top_k 40, min_p 0.05,
    /// top_p 0.95); it stops at the model's end-of-generation ids.
    case llamacpp
}

/// `generation.engine: {type: openai, base_url, model, api_key_env, max_concurrency, timeout_s}`.
public struct RemoteEngineSettings: Codable, Equatable, Sendable {
    /// `openai` (the only remote type).
    public var type = "openai"
    /// e.g. http://127.0.0.1:8000 — the server root; requests go to `<base_url>/v1/completions`.
    public var baseURL: String
    /// The served model's name (`model` in each request); nil: none sent.
    public var model: String?
    /// The environment variable holding the bearer token (nil: no Authorization header).
    public var apiKeyEnv: String?
    /// Requests in flight at once.
    public var maxConcurrency = 4
    /// Seconds one request may take.
    public var timeoutSeconds = 600.0
    /// Attempts per request (connection failures, 429 and 5xx are retried with backoff).
    public var attempts = 4
    public var server: ServerKind = .vllm
    /// Runs after π(t−1) is saved and before iteration t samples, to make the server serve it
    /// (environment: IDPO_POLICY, IDPO_ITERATION, and IDPO_POLICY_GGUF for llama-server); it returns
    /// once the server serves the new weights. Without one, SGLang is told through
    /// `/update_weights_from_disk`; other servers need one for a run of more than one iteration.
    public var reloadCommand: [String]?
    /// Where reload_command runs (a recipe's folder unless told).
    public var workingDirectory: String?
    /// Largest |log p_idpo − log p_server| of the staleness probes' top next tokens, in nats (measured
    /// with llama-server: 0.003 on an F32 GGUF with its f16 KV cache, 0.21 on a Q4_1 file).
    public var stalenessTolerance = 0.05
    /// The GGUF weight type π(t) is exported in for llama-server (f32, f16, bf16, q8_0).
    public var exportType: GGUFExportType = .f32
    enum CodingKeys: String, CodingKey {
        case type, baseURL = "base_url", model, apiKeyEnv = "api_key_env", maxConcurrency = "max_concurrency"
        case timeoutSeconds = "timeout_s", attempts, server, reloadCommand = "reload_command"
        case stalenessTolerance = "staleness_tolerance", exportType = "export_type", workingDirectory = "working_directory"
    }
    public init(baseURL: String, server: ServerKind = .vllm) { self.baseURL = baseURL; self.server = server }

    /// `<base_url>/v1/completions` (llama-server: `<base_url>/completion`).
    public var completionsURL: URL? {
        var root = baseURL
        while root.hasSuffix("/") { root.removeLast() }
        if root.hasSuffix("/v1") { root.removeLast(3) }
        return URL(string: root + (server == .llamacpp ? "/completion" : "/v1/completions"))
    }
}

/// The weight types π(t) may be exported to GGUF in for llama-server.
public enum GGUFExportType: String, Codable, CaseIterable, Sendable { case f32, f16, bf16, q8_0 }

public struct RemoteEngineError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One prompt's k samples from the server.
public struct RemoteSamples {
    public var texts: [String]
    public var tokens: [[Int32]]
    public var finishReasons: [String]
    /// The server returned text only: `tokens` come from re-tokenizing it.
    public var retokenized: Bool
}

/// A client of one server's completions endpoint.
public final class RemoteCompletions: @unchecked Sendable {
    public let settings: RemoteEngineSettings
    let url: URL
    let session: URLSession
    let apiKey: String?
    /// The LoRA adapter the server was told to load for π(t) (`loadAdapter`): requests name it —
    /// vLLM as the request's `model`, SGLang in `lora_path` — instead of the base model.
    public internal(set) var adapterName: String?

    public init(_ settings: RemoteEngineSettings) throws {
        guard settings.type == "openai" else {
            throw RemoteEngineError("generation.engine.type '\(settings.type)' is not implemented (openai is)")
        }
        guard let url = settings.completionsURL, url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw RemoteEngineError("generation.engine.base_url '\(settings.baseURL)' is not an http(s) URL")
        }
        self.settings = settings; self.url = url
        if let name = settings.apiKeyEnv {
            guard let key = ProcessInfo.processInfo.environment[name], !key.isEmpty else {
                throw RemoteEngineError("generation.engine.api_key_env names \(name), which is not set in the environment")
            }
            apiKey = key
        } else { apiKey = nil }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeoutSeconds
        configuration.timeoutIntervalForResource = settings.timeoutSeconds
        session = URLSession(configuration: configuration)
    }

    /// The request body for one prompt (exposed for tests).
    public func body(prompt: [Int32], k: Int, maxNewTokens: Int, sampling: SamplingParameters, seed: UInt64, stopTokens: [Int32]) -> [String: Any] {
        var b: [String: Any] = ["prompt": prompt.map(Int.init), "temperature": sampling.temperature, "top_p": sampling.topP,
                                "seed": Int(seed & 0x7FFF_FFFF), "stream": false]
        nameModel(&b)
        if settings.server != .llamacpp { b["n"] = k; b["max_tokens"] = maxNewTokens }
        switch settings.server {
        case .vllm:
            b["stop_token_ids"] = stopTokens.map(Int.init); b["return_token_ids"] = true; b["skip_special_tokens"] = true
            b["top_k"] = sampling.topK > 0 ? sampling.topK : -1
        case .sglang:
            b["stop_token_ids"] = stopTokens.map(Int.init)
            b["top_k"] = sampling.topK > 0 ? sampling.topK : -1
        case .llamacpp:
            // plain sampling: llama-server's defaults (top_k 40, min_p 0.05) would truncate silently
            b["n_predict"] = maxNewTokens; b["n_cmpl"] = k; b["return_tokens"] = true
            b["top_k"] = sampling.topK; b["min_p"] = 0.0; b["cache_prompt"] = true
            b["response_fields"] = ["content", "tokens", "stop_type", "index"]
        }
        return b
    }

    /// The served model (or the π(t) adapter loaded on it) a request is for.
    func nameModel(_ b: inout [String: Any]) {
        if let adapterName {
            switch settings.server {
            case .vllm: b["model"] = adapterName
            case .sglang: b["lora_path"] = adapterName; if let model = settings.model { b["model"] = model }
            case .llamacpp: if let model = settings.model { b["model"] = model }
            }
        } else if let model = settings.model { b["model"] = model }
    }

    /// POSTs `body` and returns the decoded JSON (an object; llama-server's n_cmpl > 1: a list),
    /// retrying what can be retried.
    public func post(_ body: [String: Any], what: String) throws -> Any { try post(body, to: url, what: what) }

    /// POSTs `body` to `<base_url><path>` (SGLang's /update_weights_from_disk, say).
    public func postTo(path: String, _ body: [String: Any], what: String) throws -> Any {
        var root = settings.baseURL
        while root.hasSuffix("/") { root.removeLast() }
        guard let target = URL(string: root + path) else { throw RemoteEngineError("\(root)\(path) is not a URL") }
        return try post(body, to: target, what: what)
    }

    func post(_ body: [String: Any], to url: URL, what: String) throws -> Any {
        let data = try JSONSerialization.data(withJSONObject: body)
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = data
        var last = ""
        for attempt in 1...max(1, settings.attempts) {
            let (status, payload, failure) = send(request)
            if let failure {
                last = failure
            } else if status == 200, let payload {
                guard let object = try? JSONSerialization.jsonObject(with: payload), object is [String: Any] || object is [Any] else {
                    throw RemoteEngineError("\(url.absoluteString) answered \(what) with something that is not JSON: \(Self.excerpt(payload))")
                }
                return object
            } else {
                last = "HTTP \(status): \(payload.map(Self.excerpt) ?? "")"
                // 4xx other than 429: the request is wrong; retrying cannot help
                if (400..<500).contains(status) && status != 429 {
                    throw RemoteEngineError("\(url.absoluteString) refused \(what): \(last)")
                }
            }
            if attempt < settings.attempts { Thread.sleep(forTimeInterval: 0.25 * pow(2, Double(attempt - 1))) }
        }
        throw RemoteEngineError("\(url.absoluteString) did not answer \(what) after \(settings.attempts) attempt\(settings.attempts == 1 ? "" : "s"): \(last)")
    }

    private func send(_ request: URLRequest) -> (Int, Data?, String?) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, Data?, String?) = (0, nil, nil)
        session.dataTask(with: request) { data, response, error in
            if let error { result = (0, nil, error.localizedDescription) }
            else { result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data, nil) }
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    static func excerpt(_ data: Data) -> String {
        let s = String(decoding: data.prefix(300), as: UTF8.self)
        return data.count > 300 ? s + "…" : s
    }

    /// k samples of one prompt: the choices' texts, their token ids (or the text re-tokenized) and
    /// finish reasons ("stop" for a stop token, "length" at max_tokens).
    public func sample(promptID: Int, prompt: [Int32], k: Int, maxNewTokens: Int, sampling: SamplingParameters, seed: UInt64,
                       stopTokens: [Int32], tokenizer: Tokenizer) throws -> RemoteSamples {
        let what = "prompt \(promptID)"
        let answer = try post(body(prompt: prompt, k: k, maxNewTokens: maxNewTokens, sampling: sampling, seed: seed, stopTokens: stopTokens), what: what)
        // OpenAI: {"choices": [{"text", "index", "finish_reason", "token_ids"?}]}; llama-server's
        // /completion: [{"content", "tokens", "stop_type", "index"}] (one object when n_cmpl = 1)
        let choices: [[String: Any]]
        if settings.server == .llamacpp {
            let list = (answer as? [[String: Any]]) ?? ((answer as? [String: Any]).map { [$0] } ?? [])
            choices = list.map { c in
                var o: [String: Any] = ["index": c["index"] ?? 0, "finish_reason": ["eos": "stop", "word": "stop"][c["stop_type"] as? String ?? ""] ?? "length"]
                if let t = c["content"] { o["text"] = t }
                if let t = c["tokens"] { o["token_ids"] = t }
                return o
            }
        } else if let list = (answer as? [String: Any])?["choices"] as? [[String: Any]] {
            choices = list
        } else {
            throw RemoteEngineError("\(url.absoluteString) answered \(what) without a 'choices' list: \(Self.excerpt((try? JSONSerialization.data(withJSONObject: answer)) ?? Data()))")
        }
        guard choices.count == k else {
            throw RemoteEngineError("\(url.absoluteString) returned \(choices.count) choice\(choices.count == 1 ? "" : "s") for \(what), asked for n = \(k)")
        }
        // choices in index order
        let ordered = choices.enumerated().sorted { (($0.element["index"] as? Int) ?? $0.offset) < (($1.element["index"] as? Int) ?? $1.offset) }.map(\.element)
        var out = RemoteSamples(texts: [], tokens: [], finishReasons: [], retokenized: false)
        let stops = Set(stopTokens)
        for (i, choice) in ordered.enumerated() {
            guard let text = choice["text"] as? String else {
                throw RemoteEngineError("\(url.absoluteString) answered \(what) with a choice \(i) that has no 'text'")
            }
            var ids: [Int32]
            if let raw = (choice["token_ids"] ?? choice["tokens"]) as? [Any], !(raw.isEmpty && !text.isEmpty) {
                ids = try raw.map { value in
                    guard let n = value as? Int, n >= 0, let id = Int32(exactly: n) else {
                        throw RemoteEngineError("\(url.absoluteString) answered \(what) with a token id that is not a non-negative integer in choice \(i)")
                    }
                    return id
                }
            } else {
                ids = try tokenizer.encode(text, addSpecialTokens: false)
                out.retokenized = true
            }
            // a stop token the engine kept in its ids is not part of the response (as locally)
            var reason = (choice["finish_reason"] as? String) ?? "length"
            if let last = ids.last, stops.contains(last) { ids.removeLast(); reason = "stop" }
            guard ids.allSatisfy(tokenizer.isKnownId) else {
                throw RemoteEngineError("\(url.absoluteString) answered \(what) with a token id the policy's tokenizer does not know (choice \(i)); is the server serving another model?")
            }
            out.texts.append(try tokenizer.decode(ids, skipSpecialTokens: true))
            out.tokens.append(ids)
            out.finishReasons.append(reason == "length" ? "length" : "stop")
        }
        return out
    }
}

extension RemoteCompletions {
    /// POSTs `body` to the engine's native `/generate` (SGLang) or `path`.
    func postNative(_ path: String, _ body: [String: Any], what: String) throws -> Any { try postTo(path: path, body, what: what) }

    func describe(_ answer: Any) -> String { Self.excerpt((try? JSONSerialization.data(withJSONObject: answer)) ?? Data()) }

    /// The request that asks for next-token log-probabilities after `prompt` (exposed for tests):
    /// the `count` most likely tokens, or exactly the ids in `tokens` where the engine can be asked
    /// for given ids (vLLM's `logprob_token_ids`, SGLang's `token_ids_logprob`). Returns the path
    /// (nil: the completions endpoint) and the body.
    public func nextTokenRequest(prompt: [Int32], count: Int, tokens: [Int32]? = nil, cachePrompt: Bool = false) -> (path: String?, body: [String: Any]) {
        var b: [String: Any] = [:]
        switch settings.server {
        case .llamacpp:
            // (llama-server cannot be asked for given ids: its top n_probs, with the letters checked)
            b = ["prompt": prompt.map(Int.init), "stream": false, "n_predict": 1, "n_probs": count, "temperature": -1,
                 "cache_prompt": cachePrompt, "response_fields": ["completion_probabilities"]]
            nameModel(&b)
            return (nil, b)
        case .vllm:
            b = ["prompt": prompt.map(Int.init), "stream": false, "max_tokens": 1, "temperature": 0, "return_tokens_as_token_ids": true]
            if let tokens { b["logprobs"] = 1; b["logprob_token_ids"] = tokens.map(Int.init) } else { b["logprobs"] = count }
            nameModel(&b)
            return (nil, b)
        case .sglang:
            // the native /generate: its OpenAI endpoint keys log-probs by token text
            b = ["input_ids": prompt.map(Int.init), "sampling_params": ["max_new_tokens": 1, "temperature": 0] as [String: Any],
                 "return_logprob": true, "stream": false]
            if let tokens { b["token_ids_logprob"] = tokens.map(Int.init) } else { b["top_logprobs_num"] = count }
            if let adapterName { b["lora_path"] = adapterName }
            return ("/generate", b)
        }
    }

    /// Reads the (token id, log-prob) pairs out of an answer to `nextTokenRequest` (exposed for tests).
    public func parseNextTokenLogProbs(_ answer: Any, exact: Bool, what: String) throws -> [(token: Int32, logProb: Double)] {
        func fail(_ why: String) -> RemoteEngineError {
            RemoteEngineError("\(url.absoluteString) answered \(what) without next-token log-probabilities (\(why)): \(describe(answer))")
        }
        func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        switch settings.server {
        case .llamacpp:
            guard let probs = (answer as? [String: Any])?["completion_probabilities"] as? [[String: Any]], let top = probs.first?["top_logprobs"] as? [[String: Any]] else {
                throw fail("no completion_probabilities[0].top_logprobs")
            }
            return try top.map {
                guard let id = $0["id"] as? Int, let lp = number($0["logprob"]) else { throw fail("an entry without id and logprob") }
                return (Int32(id), lp)
            }
        case .vllm:
            guard let choices = (answer as? [String: Any])?["choices"] as? [[String: Any]],
                  let logprobs = choices.first?["logprobs"] as? [String: Any],
                  let top = (logprobs["top_logprobs"] as? [[String: Any]])?.first else { throw fail("no choices[0].logprobs.top_logprobs[0]") }
            return try top.map { key, value in
                guard key.hasPrefix("token_id:"), let id = Int32(key.dropFirst(9)), let lp = number(value) else {
                    throw fail("a key that is not token_id:<n> (return_tokens_as_token_ids)")
                }
                return (id, lp)
            }.sorted { $0.1 > $1.1 }
        case .sglang:
            // meta_info.output_top_logprobs / output_token_ids_logprobs: one list per generated token,
            // of [logprob, token id, text]
            let object = (answer as? [String: Any]) ?? ((answer as? [[String: Any]])?.first ?? [:])
            let field = exact ? "output_token_ids_logprobs" : "output_top_logprobs"
            guard let meta = object["meta_info"] as? [String: Any], let rows = meta[field] as? [Any], let first = rows.first as? [[Any]] else {
                throw fail("no meta_info.\(field)[0]")
            }
            return try first.map { entry in
                guard entry.count >= 2, let lp = number(entry[0]), let id = entry[1] as? Int, let token = Int32(exactly: id) else {
                    throw fail("an entry that is not [logprob, token id, …]")
                }
                return (token, lp)
            }.sorted { $0.1 > $1.1 }
        }
    }

    /// The server's log-probabilities of the `count` most likely next tokens after `prompt` (its raw
    /// distribution: llama-server's `n_probs` at temperature −1, vLLM's `logprobs` with token ids,
    /// SGLang's `top_logprobs_num` on /generate).
    public func nextTokenLogProbs(prompt: [Int32], count: Int, what: String, cachePrompt: Bool = false) throws -> [(token: Int32, logProb: Double)] {
        let (path, body) = nextTokenRequest(prompt: prompt, count: count, cachePrompt: cachePrompt)
        let answer = try path.map { try postNative($0, body, what: what) } ?? post(body, what: what)
        return try parseNextTokenLogProbs(answer, exact: false, what: what)
    }

    /// The log-probabilities of exactly `tokens` as the next token after `prompt`, where the engine
    /// takes given ids (vLLM, SGLang); llama-server: those of them among its top `fallbackCount`.
    /// Ids the server leaves out are absent from the result (the caller names them).
    public func logProbs(of tokens: [Int32], after prompt: [Int32], fallbackCount: Int, what: String, cachePrompt: Bool = false) throws -> [Int32: Double] {
        let exact = settings.server != .llamacpp
        let (path, body) = nextTokenRequest(prompt: prompt, count: fallbackCount, tokens: exact ? tokens : nil, cachePrompt: cachePrompt)
        let answer = try path.map { try postNative($0, body, what: what) } ?? post(body, what: what)
        let wanted = Set(tokens)
        var out: [Int32: Double] = [:]
        for (token, lp) in try parseNextTokenLogProbs(answer, exact: exact, what: what) where wanted.contains(token) { out[token] = lp }
        return out
    }
}

// MARK: Scalar reward models through an engine's pooling endpoint

/// What a serving engine's pooling endpoint returns for one sequence: the reward itself (vLLM's and
/// SGLang's classification heads), or the final hidden state at the last token (llama-server with
/// `--embeddings --pooling last`, which runs no classification head: idpo applies `score.weight`).
public enum PooledOutput: Equatable {
    case score(Double)
    case hidden([Float])
}

extension RemoteCompletions {
    /// The pooling request for one full sequence (exposed for tests): path and body.
    /// - vLLM (`vllm serve <rm> --runner pooling`): `/classify` with the token ids and
    ///   `use_activation: false`, so the head's raw output (not its sigmoid) comes back;
    /// - SGLang (`--is-embedding`): `/classify` with `input_ids`; the reward is `embedding[0]`;
    /// - llama-server (`--embeddings --pooling last`): `/embedding` with the ids and
    ///   `embd_normalize: -1` (no normalization): the last token's final-norm hidden state.
    public func poolingRequest(tokens: [Int32]) -> (path: String, body: [String: Any]) {
        switch settings.server {
        case .vllm:
            var b: [String: Any] = ["input": tokens.map(Int.init), "use_activation": false]
            nameModel(&b)
            return ("/classify", b)
        case .sglang:
            var b: [String: Any] = ["input_ids": tokens.map(Int.init)]
            if let model = settings.model { b["model"] = model }
            return ("/classify", b)
        case .llamacpp:
            return ("/embedding", ["content": tokens.map(Int.init), "embd_normalize": -1])
        }
    }

    /// Reads a pooling answer (exposed for tests).
    public func parsePooled(_ answer: Any, what: String) throws -> PooledOutput {
        func fail(_ why: String) -> RemoteEngineError {
            RemoteEngineError("\(settings.baseURL) answered \(what) without a reward (\(why)): \(describe(answer))")
        }
        func numbers(_ v: Any?) -> [Double]? {
            guard let list = v as? [Any] else { return nil }
            let values = list.compactMap { ($0 as? NSNumber)?.doubleValue }
            return values.count == list.count ? values : nil
        }
        switch settings.server {
        case .vllm:
            guard let data = ((answer as? [String: Any])?["data"] as? [[String: Any]])?.first, let probs = numbers(data["probs"]) else {
                throw fail("no data[0].probs")
            }
            guard probs.count == 1 else { throw fail("\(probs.count) outputs; a reward model has num_labels = 1") }
            return .score(probs[0])
        case .sglang:
            let object = (answer as? [String: Any]) ?? ((answer as? [[String: Any]])?.first ?? [:])
            guard let e = numbers(object["embedding"]), !e.isEmpty else { throw fail("no embedding") }
            guard e.count == 1 else { throw fail("\(e.count) outputs; a reward model has num_labels = 1 (is the server running the reward model with --is-embedding?)") }
            return .score(e[0])
        case .llamacpp:
            // [{"index": 0, "embedding": [[h_0, …, h_{D−1}]]}] (pooled: one row)
            guard let first = (answer as? [[String: Any]])?.first ?? (answer as? [String: Any]) else { throw fail("not a list of embeddings") }
            let rows = (first["embedding"] as? [Any]) ?? []
            let row: [Double]?
            if let nested = rows.first as? [Any] {
                guard rows.count == 1 else { throw fail("\(rows.count) rows, one per token: start llama-server with --pooling last") }
                row = numbers(nested)
            } else { row = numbers(rows) }
            guard let row, !row.isEmpty else { throw fail("no embedding; start llama-server with --embeddings --pooling last") }
            return .hidden(row.map(Float.init))
        }
    }

    public func pooled(tokens: [Int32], what: String) throws -> PooledOutput {
        let (path, body) = poolingRequest(tokens: tokens)
        return try parsePooled(try postNative(path, body, what: what), what: what)
    }
}

// MARK: LoRA adapters loaded at run time

extension RemoteCompletions {
    /// The request that makes the server load a PEFT adapter directory under `name` (exposed for
    /// tests): vLLM's `/v1/load_lora_adapter` (the server runs with `--enable-lora` and
    /// VLLM_ALLOW_RUNTIME_LORA_UPDATING=True), SGLang's `/load_lora_adapter` (`--enable-lora`).
    /// llama-server loads adapters only at start: nil (a reload_command restarts it instead).
    public func loadAdapterRequest(name: String, path: String) -> (path: String, body: [String: Any])? {
        switch settings.server {
        case .vllm: return ("/v1/load_lora_adapter", ["lora_name": name, "lora_path": path])
        case .sglang: return ("/load_lora_adapter", ["lora_name": name, "lora_path": path])
        case .llamacpp: return nil
        }
    }

    /// Loads the adapter at `path` as `name` and makes every later request use it. The adapter this
    /// client loaded before is unloaded, and so is one of the same name a killed run may have left
    /// (so a resumed run reloads the files); an unload that fails (nothing of that name) is no error.
    public func loadAdapter(name: String, path: String) throws {
        guard let request = loadAdapterRequest(name: name, path: path) else {
            throw RemoteEngineError("llama-server loads LoRA adapters only when it starts: give generation.engine a reload_command (idpo exports π(t) with its adapter merged for it)")
        }
        let unload = settings.server == .vllm ? "/v1/unload_lora_adapter" : "/unload_lora_adapter"
        for old in Set([adapterName, name].compactMap { $0 }) {
            _ = try? postNative(unload, ["lora_name": old], what: "unloading the adapter \(old)")
        }
        adapterName = nil
        _ = try postNative(request.path, request.body, what: "loading the adapter \(name) from \(path)")
        adapterName = name
    }
}

/// The pairwise A/B judge read through a serving engine: the server's log-probs of exactly the "A"
/// and "B" ids as the next token (vLLM: `logprob_token_ids`; SGLang: `token_ids_logprob`; llama-server:
/// its top `topTokens`, which must include both); P(A) = σ((l_A − l_B) / T), the softmax over the two
/// as idpo's own scorer computes it (the log-softmax's constant cancels).
public final class RemotePairwiseProbabilities: PairwiseProbabilities {
    let engine: RemoteCompletions
    let tokenA: Int32, tokenB: Int32
    let temperature: Double
    /// How many top tokens llama-server is asked for (both letters must be among them).
    public let topTokens: Int
    public private(set) var computedTokens = 0
    public private(set) var naiveTokens = 0

    public init(engine: RemoteCompletions, tokenA: Int32, tokenB: Int32, temperature: Double, topTokens: Int = 100) throws {
        self.engine = engine; self.tokenA = tokenA; self.tokenB = tokenB; self.temperature = temperature; self.topTokens = topTokens
    }

    public func setSharedPrefix(_ tokens: [Int32]) throws {}   // the server's own prompt cache reuses it

    public func probabilityA(_ sequences: [[Int32]]) throws -> [Double] {
        try sequences.map { seq in
            let lp = try engine.logProbs(of: [tokenA, tokenB], after: seq, fallbackCount: topTokens,
                                         what: "a pairwise comparison (\(seq.count) tokens)", cachePrompt: true)
            guard let a = lp[tokenA], let b = lp[tokenB] else {
                let missing = [(tokenA, "A"), (tokenB, "B")].filter { lp[$0.0] == nil }.map { "\"\($0.1)\" (id \($0.0))" }
                let among = engine.settings.server == .llamacpp ? "not among the server's \(topTokens) most likely next tokens" : "left out of the server's answer for the requested ids"
                throw RemoteEngineError("\(engine.url.absoluteString): \(missing.joined(separator: " and ")) \(among) of a pairwise comparison, so P(A) cannot be read (a judge that puts them lower is not an A/B preference model)")
            }
            computedTokens += seq.count; naiveTokens += seq.count
            return 1 / (1 + exp((b - a) / temperature))
        }
    }
}
