// A full disk while writing is a clean error: the message names the file and "no space left on
// device", no temporary file is left, no HDF5 handle stays open, and the process exits normally —
// not with SIGSEGV in libhdf5's exit-time clean-up, which a failed H5Fclose used to cause. Disks
// are small tmpfs mounts (the tests skip when not root or when mounting fails); the HDF5 cases run
// in a child process so that its exit can be observed.

import XCTest
import Foundation
import Kernels
import Llama
@testable import Checkpoints
import TestSupport
import Support

final class FullDiskTests: XCTestCase {
    var tmp: URL!
    var mounts: [URL] = []

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for m in mounts { _ = run("umount", [m.path]) }
        try? FileManager.default.removeItem(at: tmp)
    }

    /// Runs `tool` (looked up in /usr/bin, /bin, /usr/sbin, /sbin) and returns its exit status.
    @discardableResult
    func run(_ tool: String, _ arguments: [String]) -> Int32 {
        guard let path = ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map({ $0 + tool })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return -1 }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// A fresh tmpfs of `size` (e.g. "2m") mounted inside `tmp`; skips the test when that is impossible.
    func fullDisk(size: String) throws -> URL {
        try XCTSkipIf(getuid() != 0, "mounting a tmpfs needs root")
        let dir = tmp.appendingPathComponent("disk-\(mounts.count)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try XCTSkipIf(run("mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir.path]) != 0, "cannot mount a tmpfs here")
        mounts.append(dir)
        return dir
    }

    /// A random 2-layer model of about 7 MB (float32): several times a 2 MB disk.
    static func largeModel() throws -> LlamaModel {
        let config = try LlamaConfig(hiddenSize: 256, intermediateSize: 688, numHiddenLayers: 2, numAttentionHeads: 4, vocabSize: 1024)
        let model = LlamaModel(config: config)
        model.randomize(seed: 7)
        return model
    }

    /// The result of running a child process: how it ended and what it printed.
    struct ChildResult {
        var exitedNormally: Bool
        var status: Int32
        var output: String
    }

    func runChild(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> ChildResult {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return ChildResult(exitedNormally: p.terminationReason == .exit, status: p.terminationStatus, output: output)
    }

    /// This test process's executable (the xctest bundle runner).
    var testExecutable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    // MARK: HDF5 checkpoints, in a child process

    /// Body run in the child (IDPO_FULL_DISK_TARGET set): writes a checkpoint that cannot fit, prints
    /// the error and the number of HDF5 objects still open, then lets the process exit normally.
    func testChildWritesCheckpointToFullDisk() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let target = environment["IDPO_FULL_DISK_TARGET"] else {
            throw XCTSkip("runs only as the child process of testFullDiskWhileWritingModelH5IsACleanError")
        }
        let model = environment["IDPO_FULL_DISK_MODEL"] == "large" ? try Self.largeModel()
                                                                   : try ModelDirectory.load(Fixtures.url("llama-mha"))
        do {
            try NativeCheckpoint(model: model).write(to: URL(fileURLWithPath: target))
            print("CHILD-RESULT: written")
        } catch {
            print("CHILD-ERROR: \(error)")
        }
        print("CHILD-OPEN-HDF5-OBJECTS: \(HDF5Library.openObjectCount)")
        fflush(stdout)
    }

    /// Two ways to run out: a 7 MB model on a 2 MB disk (a dataset write fails) and the 0.35 MB
    /// fixture on a 200 kB disk (everything fits HDF5's buffers; the final flush fails).
    func testFullDiskWhileWritingModelH5IsACleanError() throws {
        for (model, size) in [("large", "2m"), ("small", "200k")] {
            let disk = try fullDisk(size: size)
            let target = disk.appendingPathComponent("model.h5")
            let child = try runChild(testExecutable, ["CheckpointsTests.FullDiskTests/testChildWritesCheckpointToFullDisk"],
                                     environment: ["IDPO_FULL_DISK_TARGET": target.path, "IDPO_FULL_DISK_MODEL": model])
            XCTAssertTrue(child.exitedNormally, "\(model): the child died of signal \(child.status):\n\(child.output)")
            XCTAssertEqual(child.status, 0, "\(model):\n\(child.output)")
            XCTAssertTrue(child.output.contains("CHILD-ERROR: \(target.path): "), "\(model): the error names model.h5:\n\(child.output)")
            XCTAssertTrue(child.output.contains("no space left on device"), "\(model):\n\(child.output)")
            XCTAssertTrue(child.output.contains("CHILD-OPEN-HDF5-OBJECTS: 0"), "\(model): every HDF5 handle is closed:\n\(child.output)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), [], "\(model): no temporary file is left")
        }
    }

    /// `idpo convert` into a full disk: exit code 1 with the message, no crash, no temporary file.
    func testIdpoConvertIntoAFullDiskExitsWithOne() throws {
        let idpo = testExecutable.deletingLastPathComponent().appendingPathComponent("idpo")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: idpo.path), "the idpo executable is not built next to the tests")
        let source = tmp.appendingPathComponent("hf")
        try ModelDirectory.saveHuggingFace(try Self.largeModel(), to: source)
        let disk = try fullDisk(size: "2m")
        let out = disk.appendingPathComponent("out")
        let child = try runChild(idpo, ["convert", "--from", source.path, "--to", out.path, "--format", "idpo"])
        XCTAssertTrue(child.exitedNormally, "idpo died of signal \(child.status):\n\(child.output)")
        XCTAssertEqual(child.status, 1, child.output)
        XCTAssertTrue(child.output.contains(out.appendingPathComponent("model.h5").path) && child.output.contains("no space left on device"),
                      child.output)
        XCTAssertFalse((try? FileManager.default.contentsOfDirectory(atPath: out.path))?.contains { $0.contains(".tmp-") } ?? false)
    }

    // MARK: plain atomic writes, in process

    func testFullDiskWhileWritingSafetensorsIsACleanError() throws {
        let disk = try fullDisk(size: "2m")
        let target = disk.appendingPathComponent("model.safetensors")
        let model = try Self.largeModel()
        let tensors = model.layout.entries.map {
            SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: model.parameters.pointer + $0.offset)
        }
        XCTAssertThrowsError(try withExtendedLifetime(model) { try SafetensorsWriter.write(tensors, dtype: .f32, to: target) }) { error in
            XCTAssertTrue(error is FileError, "\(error)")
            XCTAssertTrue("\(error)".hasPrefix(target.path + ": "), "\(error)")
            XCTAssertTrue("\(error)".contains("cannot write: no space left on device"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), [])
    }
}
