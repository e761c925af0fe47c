// The committed bad-input suite: malformed recipes, prompts/samples/pairs JSONL, model directories
// (config.json, safetensors headers and data, shapes), GGUF files, tokenizer.json, chat templates,
// HDF5 checkpoints and CLI arguments. Every case is generated here (small files), run through the real
// executable by `BadInputTests`, and must end with a clear, located error.

import Foundation
import Checkpoints

enum BadInputCases {
    static func all() -> [BadInput] {
        recipes() + promptFiles() + sampleFiles() + pairFiles() + configs() + safetensors() + gguf() + tokenizers()
            + templates() + checkpoints() + arguments()
    }

    // MARK: recipes (idpo validate)

    static func recipes() -> [BadInput] {
        var cases: [BadInput] = []
        // Every committed malformed recipe (Tests/Fixtures/recipes/bad): the CLI must say what the
        // library says, with file:line.
        let bad = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/recipes/bad")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: bad.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
        for name in names {
            let url = bad.appendingPathComponent(name)
            cases.append(BadInput(name: "recipe fixture \(name)", arguments: ["validate", url.path], mentions: [name]))
        }
        func recipe(_ name: String, _ text: String, mentions: [String]) -> BadInput {
            BadInput(name: "recipe \(name)", arguments: ["validate", "@/r.yaml"], setup: { f, w in
                try World.copy(w, "model", to: f); try World.copy(w, "prompts.jsonl", to: f)
                try World.write(f, "r.yaml", text)
            }, mentions: ["r.yaml"] + mentions)
        }
        let head = "run:\n  name: x\npolicy: model\njudge:\n  model: model\nprompts:\n  file: prompts.jsonl\n"
        cases += [
            recipe("5000 nested lists", head + "iterations: " + String(repeating: "[", count: 5000) + "\n", mentions: []),
            recipe("5000 nested maps", head + "generation: " + String(repeating: "{a: ", count: 5000) + "\n", mentions: []),
            recipe("binary garbage", String(decoding: (0..<512).map { UInt8(($0 * 37 + 11) % 256) }, as: UTF8.self), mentions: []),
            recipe("empty file", "", mentions: []),
            recipe("beta NaN", head + "training:\n  beta: .nan\n", mentions: ["training.beta"]),
            recipe("learning rate infinite", head + "training:\n  learning_rate: .inf\n", mentions: ["training.learning_rate"]),
            recipe("k huge", head + "generation:\n  k: 99999999999999999999999\n", mentions: ["generation.k"]),
            recipe("tab indentation", head + "generation:\n\tk: 4\n", mentions: []),
            recipe("anchors bomb", head + "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n", mentions: []),
            BadInput(name: "recipe path is a directory", arguments: ["validate", "@/dir.yaml"], setup: { f, _ in
                try FileManager.default.createDirectory(at: f.appendingPathComponent("dir.yaml"), withIntermediateDirectories: true)
            }, mentions: ["dir.yaml", "directory"]),
            BadInput(name: "recipe is /dev/zero", arguments: ["validate", "/dev/zero"], mentions: ["/dev/zero"], timeLimit: 20),
            BadInput(name: "recipe missing", arguments: ["validate", "@/nope.yaml"], mentions: ["nope.yaml"]),
            BadInput(name: "iterate with a directory recipe", arguments: ["iterate", "@/dir.yaml"], setup: { f, _ in
                try FileManager.default.createDirectory(at: f.appendingPathComponent("dir.yaml"), withIntermediateDirectories: true)
            }, mentions: ["dir.yaml"]),
        ]
        return cases
    }

    // MARK: prompts (idpo generate)

    static func promptFiles() -> [BadInput] {
        func prompts(_ name: String, _ text: String, mentions: [String]) -> BadInput {
            BadInput(name: "prompts \(name)", arguments: ["generate", "--model", "@/model", "--prompts", "@/p.jsonl", "--k", "2",
                                                         "--max-new-tokens", "2", "--out", "@/out.jsonl"],
                     setup: { f, w in try World.copy(w, "model", to: f); try World.write(f, "p.jsonl", text) },
                     mentions: ["p.jsonl"] + mentions, absent: ["out.jsonl"])
        }
        return [
            prompts("invalid JSON", "{\"prompt\": \"a\"}\n{\"prompt\": \n", mentions: [":2"]),
            prompts("array line", "[1, 2]\n", mentions: [":1"]),
            prompts("missing prompt", "{\"text\": \"a\"}\n", mentions: [":1", "prompt"]),
            prompts("number prompt", "{\"prompt\": 7}\n", mentions: [":1", "prompt"]),
            prompts("empty conversation", "{\"prompt\": []}\n", mentions: [":1", "prompt"]),
            prompts("message without role", "{\"prompt\": [{\"content\": \"a\"}]}\n", mentions: [":1", "prompt[0]"]),
            prompts("duplicate id", "{\"id\": 1, \"prompt\": \"a\"}\n{\"id\": 1, \"prompt\": \"b\"}\n", mentions: [":2", "duplicate id 1", "line 1"]),
            prompts("string id", "{\"id\": \"one\", \"prompt\": \"a\"}\n", mentions: [":1", "'id'"]),
            prompts("fractional id", "{\"id\": 1.5, \"prompt\": \"a\"}\n", mentions: [":1", "'id'"]),
            prompts("deeply nested", "{\"prompt\": " + String(repeating: "[", count: 100_000) + "\n", mentions: [":1"]),
            prompts("invalid UTF-8", "{\"prompt\": \"a\u{FFFD}\"}\n".replacingOccurrences(of: "\u{FFFD}", with: "\\udc80"), mentions: [":1"]),
            prompts("empty file", "", mentions: ["no prompts"]),
            BadInput(name: "prompts file is a directory", arguments: ["generate", "--model", "@/model", "--prompts", "@/pdir", "--out", "@/out.jsonl"],
                     setup: { f, w in try World.copy(w, "model", to: f)
                         try FileManager.default.createDirectory(at: f.appendingPathComponent("pdir"), withIntermediateDirectories: true) },
                     mentions: ["pdir", "directory"], absent: ["out.jsonl"]),
            BadInput(name: "prompts file is /dev/zero", arguments: ["generate", "--model", "@/model", "--prompts", "/dev/zero", "--out", "@/out.jsonl"],
                     setup: { f, w in try World.copy(w, "model", to: f) }, mentions: ["/dev/zero"], absent: ["out.jsonl"], timeLimit: 20),
            BadInput(name: "prompts file missing", arguments: ["generate", "--model", "@/model", "--prompts", "@/none.jsonl", "--out", "@/out.jsonl"],
                     setup: { f, w in try World.copy(w, "model", to: f) }, mentions: ["none.jsonl"], absent: ["out.jsonl"]),
        ]
    }

    // MARK: samples (idpo judge)

    static func sampleFiles() -> [BadInput] {
        func samples(_ name: String, _ text: String, mentions: [String], timeLimit: Double = 30) -> BadInput {
            BadInput(name: "samples \(name)", arguments: ["judge", "--judge", "@/model", "--samples", "@/s.jsonl",
                                                         "--out", "@/j.jsonl", "--pairs", "@/pairs.jsonl"],
                     setup: { f, w in try World.copy(w, "model", to: f); try World.write(f, "s.jsonl", text) },
                     mentions: ["s.jsonl"] + mentions, absent: ["j.jsonl", "pairs.jsonl"], timeLimit: timeLimit)
        }
        let long = String(repeating: "lorem ipsum dolor sit amet ", count: 80_000)   // ≈ 2 MB
        return [
            samples("missing responses", "{\"id\": 0, \"prompt\": \"a\"}\n", mentions: [":1", "responses"]),
            samples("responses not strings", "{\"id\": 0, \"prompt\": \"a\", \"responses\": [1, 2]}\n", mentions: [":1", "responses"]),
            samples("empty responses", "{\"id\": 0, \"prompt\": \"a\", \"responses\": []}\n", mentions: [":1", "responses"]),
            samples("token count mismatch", "{\"id\": 0, \"prompt\": \"a\", \"responses\": [\"x\", \"y\"], \"response_tokens\": [[1]]}\n",
                    mentions: [":1", "response_tokens"]),
            samples("duplicate id", "{\"id\": 3, \"prompt\": \"a\", \"responses\": [\"x\", \"y\"]}\n{\"id\": 3, \"prompt\": \"b\", \"responses\": [\"x\", \"y\"]}\n",
                    mentions: [":2", "duplicate id 3"]),
            samples("string id", "{\"id\": \"a\", \"prompt\": \"a\", \"responses\": [\"x\", \"y\"]}\n", mentions: [":1", "'id'"]),
            samples("invalid JSON", "{\"id\": 0,,}\n", mentions: [":1"]),
            samples("2 MB response", "{\"id\": 9, \"prompt\": \"a\", \"responses\": [\"\(long)\", \"short\"]}\n", mentions: ["prompt 9"], timeLimit: 60),
        ]
    }

    // MARK: pairs (idpo train)

    static func pairFiles() -> [BadInput] {
        func pairs(_ name: String, _ text: String, mentions: [String], extra: [String] = []) -> BadInput {
            BadInput(name: "pairs \(name)", arguments: ["train", "--policy", "@/model", "--pairs", "@/p.jsonl", "--out", "@/out"] + extra,
                     setup: { f, w in try World.copy(w, "model", to: f); try World.write(f, "p.jsonl", text) },
                     mentions: mentions, absent: ["out/model.h5"])
        }
        let ok = "{\"prompt\": \"a\", \"chosen\": \"x\", \"rejected\": \"y\"}\n"
        return [
            pairs("missing chosen", "{\"prompt\": \"a\", \"rejected\": \"y\"}\n", mentions: ["p.jsonl:1", "chosen"]),
            pairs("number rejected", "{\"prompt\": \"a\", \"chosen\": \"x\", \"rejected\": 5}\n", mentions: ["p.jsonl:1", "rejected"]),
            pairs("missing prompt", "{\"chosen\": \"x\", \"rejected\": \"y\"}\n", mentions: ["p.jsonl:1", "prompt"]),
            pairs("invalid JSON", ok + "{oops}\n", mentions: ["p.jsonl:2"]),
            pairs("duplicate id", "{\"id\": 4, \"prompt\": \"a\", \"chosen\": \"x\", \"rejected\": \"y\"}\n{\"id\": 4, \"prompt\": \"b\", \"chosen\": \"x\", \"rejected\": \"y\"}\n",
                  mentions: ["p.jsonl:2", "duplicate id 4"]),
            pairs("all identical", "{\"prompt\": \"a\", \"chosen\": \"x\", \"rejected\": \"x\"}\n", mentions: ["chosen == rejected"]),
            pairs("empty file", "", mentions: ["no preference pairs"]),
            pairs("sppo without targets", ok, mentions: ["chosen_target"], extra: ["--loss", "sppo"]),
            pairs("non-numeric target", "{\"prompt\": \"a\", \"chosen\": \"x\", \"rejected\": \"y\", \"chosen_target\": \"high\", \"rejected_target\": 0.1}\n",
                  mentions: ["p.jsonl:1", "chosen_target"], extra: ["--loss", "sppo"]),
            BadInput(name: "pairs policy missing", arguments: ["train", "--policy", "@/nomodel", "--pairs", "@/p.jsonl", "--out", "@/out"],
                     setup: { f, w in try World.copy(w, "pairs.jsonl", to: f, as: "p.jsonl") }, mentions: ["nomodel"], absent: ["out/model.h5"]),
        ]
    }

    // MARK: config.json (idpo convert reads the model)

    static func configs() -> [BadInput] {
        func config(_ name: String, mentions: [String], _ edit: @escaping (inout [String: Any]) -> Void) -> BadInput {
            BadInput(name: "config \(name)", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f); try World.editConfig(f.appendingPathComponent("model"), edit) },
                     mentions: ["config"] + mentions, absent: ["out/model.h5"])
        }
        return [
            config("hidden_size 1e9", mentions: ["hidden_size"]) { $0["hidden_size"] = 1_000_000_000 },
            config("num_hidden_layers 1e6", mentions: ["num_hidden_layers"]) { $0["num_hidden_layers"] = 1_000_000 },
            config("vocab_size 1e12", mentions: ["vocab_size"]) { $0["vocab_size"] = 1_000_000_000_000 },
            config("intermediate_size negative", mentions: ["intermediate_size"]) { $0["intermediate_size"] = -4 },
            config("heads zero", mentions: ["num_attention_heads"]) { $0["num_attention_heads"] = 0 },
            config("kv heads not dividing", mentions: ["num_key_value_heads"]) { $0["num_key_value_heads"] = 3 },
            config("hidden_size string", mentions: ["hidden_size"]) { $0["hidden_size"] = "64" },
            config("missing vocab_size", mentions: ["vocab_size"]) { $0.removeValue(forKey: "vocab_size") },
            config("mistral bad sliding window", mentions: ["sliding_window"]) { $0["model_type"] = "mistral"; $0["sliding_window"] = -1 },
            config("llama sliding window", mentions: ["sliding_window"]) { $0["sliding_window"] = 24 },
            config("attention bias", mentions: ["attention_bias"]) { $0["attention_bias"] = true },
            config("mlp bias", mentions: ["mlp_bias"]) { $0["mlp_bias"] = true },
            config("head_dim other", mentions: ["head_dim"]) { $0["head_dim"] = 8 },
            config("soft-capping", mentions: ["final_logit_softcapping"]) { $0["final_logit_softcapping"] = 30.0 },
            config("gelu", mentions: ["hidden_act"]) { $0["hidden_act"] = "gelu" },
            config("yarn rope", mentions: ["rope_scaling"]) { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] },
            config("gemma3", mentions: ["model_type"]) { $0["model_type"] = "gemma3" },
            config("rms eps zero", mentions: ["rms_norm_eps"]) { $0["rms_norm_eps"] = 0 },
            config("rope theta negative", mentions: ["rope_theta"]) { $0["rope_theta"] = -1 },
            config("vocab smaller than tensors", mentions: ["embed_tokens"]) { $0["vocab_size"] = 900 },
            config("one more layer than tensors", mentions: ["num_hidden_layers"]) { $0["num_hidden_layers"] = 3 },
            BadInput(name: "config not JSON", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f); try World.write(f, "model/config.json", "{ nope") },
                     mentions: ["config.json"], absent: ["out/model.h5"]),
            BadInput(name: "config missing", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f)
                         try FileManager.default.removeItem(at: f.appendingPathComponent("model/config.json")) },
                     mentions: ["config.json"], absent: ["out/model.h5"]),
            BadInput(name: "config.json disagrees with model.h5", arguments: ["convert", "--from", "@/model-h5", "--to", "@/out", "--format", "hf"],
                     setup: { f, w in try World.copy(w, "model-h5", to: f)
                         try World.editConfig(f.appendingPathComponent("model-h5")) { $0["num_hidden_layers"] = 4 } },
                     mentions: ["num_hidden_layers", "model.h5"], absent: ["out/model.safetensors"]),
        ]
    }

    // MARK: GGUF files (idpo convert --from model.gguf, idpo tokenize --model model.gguf)

    static func gguf() -> [BadInput] {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gguf/tiny-llama3.gguf")
        let convert = ["convert", "--from", "@/m.gguf", "--to", "@/out", "--format", "hf"]
        func bytes(_ name: String, mentions: [String], _ edit: @escaping (inout Data) -> Void) -> BadInput {
            BadInput(name: "gguf \(name)", arguments: convert, setup: { f, _ in
                var data = try Data(contentsOf: fixture)
                edit(&data)
                try data.write(to: f.appendingPathComponent("m.gguf"))
            }, mentions: ["@/m.gguf"] + mentions, absent: ["out/model.safetensors", "out/tokenizer.json"])
        }
        /// The fixture re-written with its metadata and tensors edited.
        func variant(_ name: String, mentions: [String], arguments: [String]? = nil, patch: ((inout Data) -> Void)? = nil,
                     _ edit: @escaping (inout GGUFWriter) -> Void) -> BadInput {
            BadInput(name: "gguf \(name)", arguments: arguments ?? convert, setup: { f, _ in
                let file = try GGUFFile(url: fixture)
                var w = GGUFWriter()
                w.metadata = file.metadataKeys.map { ($0, file.metadata[$0]!) }
                for t in file.tensorNames {
                    let info = file.tensors[t]!
                    w.tensors.append(.init(name: t, type: info.type, dimensions: info.dimensions, bytes: Array(try file.rawBytes(t))))
                }
                edit(&w)
                var data = try w.data()
                patch?(&data)
                try data.write(to: f.appendingPathComponent("m.gguf"))
            }, mentions: ["@/m.gguf"] + mentions, absent: ["out/model.safetensors", "out/tokenizer.json"], stdin: "hello")
        }
        func set(_ w: inout GGUFWriter, _ key: String, _ value: GGUFValue) {
            w.metadata.removeAll { $0.key == key }
            w.metadata.append((key, value))
        }
        func patch(_ data: inout Data, at offset: Int, _ value: UInt64) {
            withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(offset..<(offset + 8), with: $0) }
        }
        return [
            bytes("bad magic", mentions: ["not a GGUF file"]) { $0.replaceSubrange(0..<4, with: Array("GGML".utf8)) },
            bytes("version 1", mentions: ["GGUF version 1"]) { $0[4] = 1 },
            bytes("cut in the header", mentions: ["more than"]) { $0 = $0.prefix(300) },
            bytes("cut in the tokens", mentions: ["tokenizer.ggml.tokens"]) { $0 = $0.prefix(2000) },
            bytes("cut in the tensor data", mentions: ["data section"]) { $0 = $0.prefix($0.count - 5000) },
            bytes("absurd tensor count", mentions: ["claims 1152921504606846976 tensors"]) { patch(&$0, at: 8, 1 << 60) },
            bytes("absurd metadata count", mentions: ["metadata entries, more than"]) { patch(&$0, at: 16, UInt64.max) },
            bytes("absurd key length", mentions: ["runs past the end"]) { patch(&$0, at: 24, 1 << 50) },
            variant("absurd array length", mentions: ["'x.list' claims 4611686018427387904 elements"], patch: { data in
                // x.list: key, value type (ARRAY), element type, then the count to make absurd.
                let key = data.range(of: Data("x.list".utf8))!
                patch(&data, at: key.upperBound + 8, 1 << 62)
            }) { w in w.metadata.insert(("x.list", .array(.uint32([7]))), at: 0) },
            variant("Q5_0 weights", mentions: ["blk.0.attn_q.weight", "Q5_0"]) { w in
                let i = w.tensors.firstIndex { $0.name == "blk.0.attn_q.weight" }!
                w.tensors[i].type = GGMLType(rawValue: 6)
                w.tensors[i].bytes = [UInt8](repeating: 0, count: 32 * 22)
            },
            variant("architecture qwen2", mentions: ["general.architecture", "qwen2"]) { set(&$0, "general.architecture", .string("qwen2")) },
            variant("rope scaling yarn", mentions: ["llama.rope.scaling.type", "yarn"]) { set(&$0, "llama.rope.scaling.type", .string("yarn")) },
            variant("block count a million", mentions: ["1000000"]) { set(&$0, "llama.block_count", .uint32(1_000_000)) },
            variant("missing tensor", mentions: ["blk.0.ffn_up.weight"]) { w in w.tensors.removeAll { $0.name == "blk.0.ffn_up.weight" } },
            variant("unknown pre-tokenizer", mentions: ["tokenizer.ggml.pre", "qwen2"]) { set(&$0, "tokenizer.ggml.pre", .string("qwen2")) },
            variant("SentencePiece tokenizer", mentions: ["tokenizer.ggml.model", "'llama'"],
                    arguments: ["tokenize", "--model", "@/m.gguf"]) { set(&$0, "tokenizer.ggml.model", .string("llama")) },
            variant("merge of unknown tokens", mentions: ["tokenizer.ggml.merges[0]"],
                    arguments: ["tokenize", "--model", "@/m.gguf"]) { set(&$0, "tokenizer.ggml.merges", .array(.string(["qq zz"]))) },
        ]
    }

    // MARK: safetensors headers and data

    static func safetensors() -> [BadInput] {
        func tensors(_ name: String, mentions: [String], _ edit: @escaping (inout [String: Any], inout Data) -> Void) -> BadInput {
            BadInput(name: "safetensors \(name)", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f); try World.editSafetensors(f.appendingPathComponent("model"), edit) },
                     mentions: mentions, absent: ["out/model.h5"])
        }
        func raw(_ name: String, mentions: [String], _ make: @escaping (URL) throws -> Void) -> BadInput {
            BadInput(name: "safetensors \(name)", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f); try make(f.appendingPathComponent("model/model.safetensors")) },
                     mentions: ["model.safetensors"] + mentions, absent: ["out/model.h5"])
        }
        let name = "model.norm.weight"
        func entry(_ h: [String: Any]) -> [String: Any] { h[name] as! [String: Any] }
        return [
            tensors("missing tensor", mentions: [name]) { h, _ in h.removeValue(forKey: name) },
            tensors("wrong shape", mentions: [name]) { h, _ in var e = entry(h); e["shape"] = [63]; h[name] = e },
            tensors("I64 dtype", mentions: [name, "I64"]) { h, _ in var e = entry(h); e["dtype"] = "I64"; h[name] = e },
            tensors("unknown dtype", mentions: ["dtype"]) { h, _ in var e = entry(h); e["dtype"] = "Q4"; h[name] = e },
            tensors("offsets beyond the data", mentions: [name]) { h, d in var e = entry(h); e["data_offsets"] = [d.count, d.count + 256]; h[name] = e },
            tensors("offsets reversed", mentions: [name]) { h, _ in var e = entry(h); e["data_offsets"] = [256, 0]; h[name] = e },
            tensors("offsets disagree with shape", mentions: [name]) { h, _ in var e = entry(h); let o = e["data_offsets"] as! [Int]; e["data_offsets"] = [o[0], o[0] + 4]; h[name] = e },
            tensors("negative shape", mentions: [name]) { h, _ in var e = entry(h); e["shape"] = [-64]; h[name] = e },
            tensors("huge shape", mentions: [name]) { h, _ in var e = entry(h); e["shape"] = [1 << 40, 1 << 40]; h[name] = e },
            tensors("unexpected extra tensor", mentions: ["bogus"]) { h, d in h["bogus.weight"] = ["dtype": "F32", "shape": [1], "data_offsets": [0, 4]] },
            tensors("entry not an object", mentions: [name]) { h, _ in h[name] = "nope" },
            tensors("NaN weight", mentions: [name]) { h, d in
                let o = (entry(h)["data_offsets"] as! [Int])[0]
                d.replaceSubrange(o..<(o + 4), with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
            },
            tensors("Inf weight", mentions: ["model.embed_tokens.weight"]) { h, d in
                let o = ((h["model.embed_tokens.weight"] as! [String: Any])["data_offsets"] as! [Int])[0] + 40
                d.replaceSubrange(o..<(o + 4), with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Data($0) })
            },
            raw("header length huge", mentions: []) { url in
                let (h, d) = try World.readSafetensors(url); try World.writeSafetensors(url, header: h, data: d, declaredLength: 1 << 60)
            },
            raw("header not JSON", mentions: []) { url in
                let (h, d) = try World.readSafetensors(url); _ = h
                try World.writeSafetensors(url, header: [:], data: d, rawHeader: Data("{not json".utf8))
            },
            raw("header deeply nested", mentions: []) { url in
                try World.writeSafetensors(url, header: [:], data: Data(), rawHeader: Data(("{\"a\":" + String(repeating: "[", count: 100_000)).utf8))
            },
            raw("truncated data", mentions: []) { url in
                let bytes = try Data(contentsOf: url); try bytes.prefix(bytes.count / 2).write(to: url)
            },
            raw("empty file", mentions: []) { url in try Data().write(to: url) },
            raw("7 bytes", mentions: []) { url in try Data([1, 2, 3, 4, 5, 6, 7]).write(to: url) },
            raw("is a directory", mentions: []) { url in
                try FileManager.default.removeItem(at: url); try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            },
            BadInput(name: "sharded index names a file outside", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f)
                         try World.write(f, "model/model.safetensors.index.json", "{\"weight_map\": {\"model.norm.weight\": \"../../etc/passwd\"}}") },
                     mentions: ["model.safetensors.index.json", "outside"], absent: ["out/model.h5"]),
            BadInput(name: "sharded index missing shard", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f)
                         try World.write(f, "model/model.safetensors.index.json", "{\"weight_map\": {\"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}") },
                     mentions: ["model-00002-of-00002.safetensors"], absent: ["out/model.h5"]),
            BadInput(name: "sharded index without weight_map", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f)
                         try World.write(f, "model/model.safetensors.index.json", "{\"metadata\": {}}") },
                     mentions: ["model.safetensors.index.json", "weight_map"], absent: ["out/model.h5"]),
            BadInput(name: "no weights at all", arguments: ["convert", "--from", "@/model", "--to", "@/out", "--format", "idpo"],
                     setup: { f, w in try World.copy(w, "model", to: f)
                         try FileManager.default.removeItem(at: f.appendingPathComponent("model/model.safetensors")) },
                     mentions: ["model", "no weights"], absent: ["out/model.h5"]),
        ]
    }

    // MARK: tokenizer.json (idpo tokenize)

    static func tokenizers() -> [BadInput] {
        func tokenizer(_ name: String, mentions: [String], stdin: String = "hello world", extra: [String] = [],
                       _ edit: @escaping (inout [String: Any]) -> Void) -> BadInput {
            BadInput(name: "tokenizer \(name)", arguments: ["tokenize", "--model", "@/model"] + extra,
                     setup: { f, w in
                         try World.copy(w, "model", to: f)
                         let url = f.appendingPathComponent("model/tokenizer.json")
                         var o = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                         edit(&o)
                         try JSONSerialization.data(withJSONObject: o).write(to: url)
                     }, mentions: ["tokenizer.json"] + mentions, stdin: stdin, timeLimit: 20)
        }
        func split(_ pattern: String) -> (inout [String: Any]) -> Void {
            { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false] }
        }
        return [
            tokenizer("empty vocabulary", mentions: ["vocab"]) { o in var m = o["model"] as! [String: Any]; m["vocab"] = [String: Int](); m["merges"] = [String](); o["model"] = m },
            tokenizer("unknown model type", mentions: ["model"]) { o in var m = o["model"] as! [String: Any]; m["type"] = "Unigram"; o["model"] = m },
            tokenizer("merge of unknown tokens", mentions: ["merge"]) { o in var m = o["model"] as! [String: Any]; m["merges"] = ["zzqq xxyy"]; o["model"] = m },
            tokenizer("catastrophic regex", mentions: ["regex"], stdin: String(repeating: "a", count: 40) + "b", split("(a+)+$")),
            tokenizer("50,000 nested groups", mentions: [], split(String(repeating: "(", count: 50_000) + "a" + String(repeating: ")", count: 50_000))),
            tokenizer("unbalanced regex", mentions: [], split("(ab")),
            tokenizer("unknown pre-tokenizer", mentions: ["pre_tokenizer"]) { $0["pre_tokenizer"] = ["type": "Whatever"] },
            tokenizer("decode unknown id", mentions: ["999999"], stdin: "1 2 999999", extra: ["--decode"]) { _ in },
            BadInput(name: "tokenizer.json deeply nested", arguments: ["tokenize", "--model", "@/model"], setup: { f, w in
                try World.copy(w, "model", to: f)
                try World.write(f, "model/tokenizer.json", "{\"model\": " + String(repeating: "[", count: 100_000))
            }, mentions: ["tokenizer.json"], stdin: "x"),
            BadInput(name: "tokenizer.json missing", arguments: ["tokenize", "--model", "@/model"], setup: { f, w in
                try World.copy(w, "model", to: f)
                try FileManager.default.removeItem(at: f.appendingPathComponent("model/tokenizer.json"))
            }, mentions: ["tokenizer.json"], stdin: "x"),
            BadInput(name: "tokenizer.json is /dev/zero", arguments: ["tokenize", "--model", "/dev/zero"], mentions: ["/dev/zero"], stdin: "x", timeLimit: 20),
        ]
    }

    // MARK: chat templates (idpo generate renders the policy's template)

    static func templates() -> [BadInput] {
        func template(_ name: String, _ source: String, mentions: [String]) -> BadInput {
            BadInput(name: "template \(name)", arguments: ["generate", "--model", "@/model", "--prompts", "@/prompts.jsonl", "--k", "2",
                                                          "--max-new-tokens", "2", "--out", "@/out.jsonl"],
                     setup: { f, w in
                         try World.copy(w, "model", to: f)
                         try World.write(f, "prompts.jsonl", "{\"id\": 0, \"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
                         let o: [String: Any] = ["bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": source]
                         try JSONSerialization.data(withJSONObject: o).write(to: f.appendingPathComponent("model/tokenizer_config.json"))
                     }, mentions: ["chat_template"] + mentions, absent: ["out.jsonl"], timeLimit: 30)
        }
        return [
            template("syntax error", "{% for m in messages %}{{ m.content }", mentions: ["1:"]),
            template("unknown filter", "{{ messages | nosuchfilter }}", mentions: ["nosuchfilter"]),
            template("raise_exception", "{{ raise_exception('roles must alternate') }}", mentions: ["roles must alternate"]),
            template("huge range", "{% for i in range(1000000000) %}x{% endfor %}", mentions: []),
            template("nested huge loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", mentions: []),
            template("output bomb", "{{ 'xxxxxxxxxx' * 1000000000 }}", mentions: []),
            template("joined bomb", "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", mentions: []),
            template("recursive macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", mentions: []),
            template("deep parentheses", String(repeating: "{{ (", count: 1) + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_001) + " }}", mentions: []),
            template("deep if nesting", String(repeating: "{% if true %}", count: 20_000) + String(repeating: "{% endif %}", count: 20_000), mentions: []),
        ]
    }

    // MARK: HDF5 checkpoints (model.h5)

    static func checkpoints() -> [BadInput] {
        func h5(_ name: String, mentions: [String], _ make: @escaping (URL) throws -> Void) -> BadInput {
            BadInput(name: "model.h5 \(name)", arguments: ["convert", "--from", "@/model-h5", "--to", "@/out", "--format", "hf"],
                     setup: { f, w in try World.copy(w, "model-h5", to: f); try make(f.appendingPathComponent("model-h5/model.h5")) },
                     mentions: ["model.h5"] + mentions, absent: ["out/model.safetensors"])
        }
        return [
            h5("garbage", mentions: []) { try Data((0..<4096).map { UInt8($0 % 251) }).write(to: $0) },
            h5("truncated", mentions: []) { url in let b = try Data(contentsOf: url); try b.prefix(b.count / 3).write(to: url) },
            h5("empty", mentions: []) { try Data().write(to: $0) },
            h5("HDF5 signature only", mentions: []) { try Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + [UInt8](repeating: 0, count: 100)).write(to: $0) },
            h5("a directory", mentions: []) { url in
                try FileManager.default.removeItem(at: url); try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            },
            h5("bytes flipped in the middle", mentions: []) { url in
                var b = try Data(contentsOf: url); let mid = b.count / 2
                for i in mid..<(mid + 64) { b[i] ^= 0xA5 }
                for i in 1024..<1100 where i < b.count { b[i] ^= 0x5A }
                try b.write(to: url)
            },
        ]
    }

    // MARK: CLI arguments

    static func arguments() -> [BadInput] {
        func cli(_ name: String, _ args: [String], mentions: [String], absent: [String] = []) -> BadInput {
            BadInput(name: "arguments \(name)", arguments: args, setup: { f, w in
                for item in ["model", "prompts.jsonl", "samples.jsonl", "pairs.jsonl"] { try World.copy(w, item, to: f) }
            }, mentions: mentions, absent: absent)
        }
        let gen = ["generate", "--model", "@/model", "--prompts", "@/prompts.jsonl", "--out", "@/out.jsonl"]
        let train = ["train", "--policy", "@/model", "--pairs", "@/pairs.jsonl", "--out", "@/out"]
        let judge = ["judge", "--judge", "@/model", "--samples", "@/samples.jsonl", "--out", "@/j.jsonl", "--pairs", "@/p.jsonl"]
        return [
            cli("k zero", gen + ["--k", "0"], mentions: ["--k"], absent: ["out.jsonl"]),
            cli("k one million", gen + ["--k", "1000000"], mentions: ["GB"], absent: ["out.jsonl"]),
            cli("temperature negative", gen + ["--temperature", "-1"], mentions: ["temperature"], absent: ["out.jsonl"]),
            cli("top-p above one", gen + ["--top-p", "2"], mentions: ["top-p"], absent: ["out.jsonl"]),
            cli("max-new-tokens zero", gen + ["--max-new-tokens", "0"], mentions: ["max-new-tokens"], absent: ["out.jsonl"]),
            cli("max-new-tokens beyond positions", gen + ["--max-new-tokens", "100000"], mentions: ["max_position_embeddings"], absent: ["out.jsonl"]),
            cli("threads zero", gen + ["--threads", "0"], mentions: ["--threads"], absent: ["out.jsonl"]),
            { var c = cli("batch size 100000 stays small", train + ["--batch-size", "100000", "--micro-batch-size", "100000"], mentions: [])
              c.succeeds = true; return c }(),
            BadInput(name: "arguments max length beyond the model's positions",
                     arguments: train + ["--max-length", "4096", "--max-prompt-length", "1024"], setup: { f, w in
                         try World.copy(w, "model", to: f)
                         let long = String(repeating: "lorem ipsum dolor ", count: 400)
                         try World.write(f, "pairs.jsonl", "{\"id\": 5, \"prompt\": \"a\", \"chosen\": \"\(long)\", \"rejected\": \"b\"}\n")
                     }, mentions: ["max_position_embeddings", "pair '5'"], absent: ["out/model.h5"]),
            cli("micro-batch above batch", train + ["--batch-size", "2", "--micro-batch-size", "4"], mentions: ["micro"], absent: ["out/model.h5"]),
            cli("learning rate NaN", train + ["--learning-rate", "nan"], mentions: ["learning"], absent: ["out/model.h5"]),
            cli("beta negative", train + ["--beta", "-1"], mentions: ["beta"], absent: ["out/model.h5"]),
            cli("unknown loss", train + ["--loss", "kto"], mentions: ["kto"], absent: ["out/model.h5"]),
            cli("max length below prompt length", train + ["--max-length", "8", "--max-prompt-length", "16"], mentions: ["max"], absent: ["out/model.h5"]),
            cli("warmup ratio one", train + ["--warmup-ratio", "1"], mentions: ["warmup"], absent: ["out/model.h5"]),
            cli("epochs zero", train + ["--epochs", "0"], mentions: ["epochs"], absent: ["out/model.h5"]),
            cli("unknown kind", judge + ["--kind", "oracle"], mentions: ["oracle"], absent: ["j.jsonl"]),
            cli("scores with pairwise", judge + ["--ranking", "scores"], mentions: ["scores"], absent: ["j.jsonl"]),
            cli("reward kind on a causal LM", judge + ["--kind", "reward"], mentions: ["score.weight"], absent: ["j.jsonl"]),
            cli("unknown subcommand", ["fly"], mentions: ["fly"]),
            cli("missing required option", ["generate", "--model", "@/model"], mentions: ["--prompts"]),
            cli("convert to an unknown format", ["convert", "--from", "@/model", "--to", "@/out", "--format", "onnx"], mentions: ["onnx"]),
            cli("convert onto its source", ["convert", "--from", "@/model", "--to", "@/model/", "--format", "hf"], mentions: ["same directory"]),
            cli("q8_0 safetensors", ["convert", "--from", "@/model", "--to", "@/out", "--format", "hf", "--dtype", "q8_0"], mentions: ["q8_0"],
                absent: ["out/model.safetensors"]),
            cli("pairs show of a missing run", ["pairs", "show", "@/norun", "3"], mentions: ["norun"]),
            cli("pairs show of a missing pair", ["pairs", "show", "@/pairs.jsonl", "77"], mentions: ["77"]),
        ]
    }
}
