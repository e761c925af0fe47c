// The bad-input suite's harness: runs the real `idpo` executable on one malformed input or fault
// and checks what a user gets — an exit code in 1…127 (no crash, no trap, no signal), a message
// that names the file (and the line or field where there is one), no half-written output file,
// and bounded time and memory (the child runs under a 4 GiB address-space limit and a time limit).

import Foundation
import XCTest
import Kernels
import Llama
import Checkpoints
import TestSupport

/// One malformed input or fault.
struct BadInput {
    var name: String
    /// idpo's arguments; "@" at the start of an argument stands for the case's folder.
    var arguments: [String]
    /// Builds the case's inputs in its folder (the world's good inputs are at `world`).
    var setup: (_ folder: URL, _ world: URL) throws -> Void = { _, _ in }
    /// Substrings the combined output must contain ("@" = the case's folder): the file, the field…
    var mentions: [String]
    /// Outputs (relative to the folder) that must not exist afterwards.
    var absent: [String] = []
    var stdin: String? = nil
    var timeLimit: Double = 30
    /// A size that once blew memory up and must now simply work (exit 0) within the limits.
    var succeeds = false
}

struct Outcome {
    var status: Int32
    var signaled: Bool
    var output: String
    var seconds: Double
}

enum Harness {
    /// The idpo executable built next to the test bundle.
    static var executable: URL {
        var dir = Bundle(for: BadInputToken.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("idpo").path) {
            dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug")
        }
        return dir.appendingPathComponent("idpo")
    }

    /// Runs idpo with `arguments` under `ulimit -v` (4 GiB) and a wall-clock limit.
    static func run(_ arguments: [String], stdin: String? = nil, timeLimit: Double, in folder: URL,
                    environment: [String: String]? = nil) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -v 4194304; exec \"$0\" \"$@\"", executable.path] + arguments
        p.currentDirectoryURL = folder
        p.environment = environment ?? ProcessInfo.processInfo.environment
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        let input = Pipe()
        p.standardInput = input
        let started = Date()
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        var collected = Data()
        let reader = Thread { collected = out.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let deadline = Date().addingTimeInterval(timeLimit)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { p.terminate(); usleep(200_000); if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        p.waitUntilExit()
        while !reader.isFinished { usleep(1_000) }
        return Outcome(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal,
                       output: String(decoding: collected, as: UTF8.self), seconds: Date().timeIntervalSince(started))
    }

    /// Files a killed or failed writer may leave behind (`.<name>.tmp-<pid>`), anywhere under `folder`.
    static func temporaries(under folder: URL) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { ($0 as NSString).lastPathComponent.contains(".tmp-") }
    }
}

final class BadInputToken {}

/// Builds the good inputs every case starts from: a tiny model directory, prompts, samples, pairs,
/// a recipe.
enum World {
    static func make(at world: URL) throws {
        try TinyModels.make(at: world.appendingPathComponent("model"), seed: 5)
        try ModelDirectory.saveNative(NativeCheckpoint(model: try ModelDirectory.load(world.appendingPathComponent("model"))),
                                      to: world.appendingPathComponent("model-h5"), tokenizerSource: world.appendingPathComponent("model"))
        try write(world, "prompts.jsonl", (0..<3).map { "{\"id\": \($0), \"prompt\": \"Say \($0)\"}" }.joined(separator: "\n") + "\n")
        try write(world, "samples.jsonl", (0..<2).map {
            "{\"id\": \($0), \"prompt\": \"Say \($0)\", \"responses\": [\"yes \($0)\", \"no\", \"maybe so\"]}"
        }.joined(separator: "\n") + "\n")
        try write(world, "pairs.jsonl", (0..<3).map {
            "{\"id\": \($0), \"prompt\": [{\"role\": \"user\", \"content\": \"Say \($0)\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"yes \($0)\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"no\"}]}"
        }.joined(separator: "\n") + "\n")
        try write(world, "recipe.yaml", """
            run:
              name: bad-input
              output_root: runs
            policy: model
            judge:
              model: model
            prompts:
              file: prompts.jsonl
            generation:
              k: 2
              max_new_tokens: 4
            training:
              batch_size: 2
              micro_batch_size: 1
              max_length: 64
              max_prompt_length: 32
            iterations: 1

            """)
    }

    static func write(_ folder: URL, _ name: String, _ text: String) throws {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Copies the world's `name` (file or folder) into the case folder.
    static func copy(_ world: URL, _ name: String, to folder: URL, as newName: String? = nil) throws {
        let target = folder.appendingPathComponent(newName ?? name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: world.appendingPathComponent(name), to: target)
    }

    /// Edits a copied model's config.json as a JSON object.
    static func editConfig(_ model: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = model.appendingPathComponent("config.json")
        var o = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&o)
        try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]).write(to: url)
    }

    /// A safetensors file's header (JSON object) and data section.
    static func readSafetensors(_ url: URL) throws -> (header: [String: Any], data: Data) {
        let bytes = try Data(contentsOf: url)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as! [String: Any]
        return (header, bytes.subdata(in: (8 + n)..<bytes.count))
    }

    static func writeSafetensors(_ url: URL, header: Any, data: Data, rawHeader: Data? = nil, declaredLength: UInt64? = nil) throws {
        let h = try rawHeader ?? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var out = Data()
        let n = declaredLength ?? UInt64(h.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out.append(h); out.append(data)
        try out.write(to: url)
    }

    /// Edits a copied model's safetensors header (tensor entries by name).
    static func editSafetensors(_ model: URL, _ edit: (inout [String: Any], inout Data) -> Void) throws {
        let url = model.appendingPathComponent("model.safetensors")
        var (header, data) = try readSafetensors(url)
        edit(&header, &data)
        try writeSafetensors(url, header: header, data: data)
    }
}
