// Runs the bad-input suite (BadInputCases) through the real executable: each case must exit with a
// code in 1…127, name the file (and line/field), leave no half-written output or temporary file,
// and finish within its time limit under a 4 GiB address-space limit. Plus the faults that need a
// real file system: a full disk (a small tmpfs, when the tests run as root).

import Foundation
import XCTest
import TestSupport

final class BadInputTests: XCTestCase {
    static var world: URL!

    override class func setUp() {
        super.setUp()
        world = try! TinyModels.temporaryDirectory("bad-input-world")
        try! World.make(at: world)
    }

    override class func tearDown() {
        if ProcessInfo.processInfo.environment["IDPO_BAD_INPUT_KEEP"] == nil { try? FileManager.default.removeItem(at: world) }
        super.tearDown()
    }

    /// Runs one case and returns what is wrong with the outcome (empty when it behaved).
    func check(_ c: BadInput) throws -> [String] {
        let folder = try TinyModels.temporaryDirectory("bad-input-case")
        let keep = ProcessInfo.processInfo.environment["IDPO_BAD_INPUT_KEEP"] != nil   // for debugging one case
        defer { if !keep { try? FileManager.default.removeItem(at: folder) } else { print("kept \(folder.path)") } }
        try c.setup(folder, Self.world)
        let args = c.arguments.map { $0.hasPrefix("@") ? folder.path + $0.dropFirst() : $0 }
        let outcome = try Harness.run(args, stdin: c.stdin, timeLimit: c.timeLimit, in: folder)
        var problems: [String] = []
        let tail = String(outcome.output.suffix(600))
        if c.succeeds {
            if outcome.signaled || outcome.status != 0 { problems.append("exit \(outcome.status) (expected 0): \(tail)") }
        } else if outcome.signaled || !(1...127).contains(outcome.status) {
            problems.append("exit \(outcome.signaled ? "by signal " : "")\(outcome.status) (expected 1…127): \(tail)")
        }
        if outcome.seconds > c.timeLimit { problems.append(String(format: "took %.1f s (limit %.0f s)", outcome.seconds, c.timeLimit)) }
        for m in c.mentions {
            let wanted = m.hasPrefix("@") ? folder.path + m.dropFirst() : m
            if !outcome.output.contains(wanted) { problems.append("message does not mention '\(wanted)': \(tail)") }
        }
        if outcome.output.contains("NSCocoaErrorDomain") || outcome.output.contains("Fatal error") {
            problems.append("raw runtime message: \(tail)")
        }
        for a in c.absent where FileManager.default.fileExists(atPath: folder.appendingPathComponent(a).path) {
            problems.append("\(a) was written")
        }
        let temps = Harness.temporaries(under: folder)
        if !temps.isEmpty { problems.append("temporary files left: \(temps)") }
        return problems
    }

    func testEveryBadInputFailsCleanly() throws {
        let cases = BadInputCases.all()
        XCTAssertGreaterThanOrEqual(cases.count, 150)
        XCTAssertEqual(Set(cases.map(\.name)).count, cases.count, "case names must be unique")
        let only = ProcessInfo.processInfo.environment["IDPO_BAD_INPUT_ONLY"]
        var failed = 0
        for c in cases where only == nil || c.name.contains(only!) {
            let problems = try check(c)
            if !problems.isEmpty {
                failed += 1
                XCTFail("[\(c.name)] " + problems.joined(separator: "\n    "))
            }
        }
        print("bad-input suite: \(cases.count - failed) passed, \(failed) failed")
    }

    /// A full disk while writing a checkpoint: exit 1 with a message naming the file, no partial file,
    /// and the same command succeeds once space is freed.
    func testFullDiskIsACleanErrorAndResumeWorks() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root") }
        let mount = try TinyModels.temporaryDirectory("bad-input-full")
        defer { _ = try? Harness.run([], timeLimit: 1, in: mount); unmount(mount); try? FileManager.default.removeItem(at: mount) }
        guard shell("mount -t tmpfs -o size=96k tmpfs '\(mount.path)'") == 0 else { throw XCTSkip("cannot mount a tmpfs here") }
        let out = mount.appendingPathComponent("out")
        let outcome = try Harness.run(["convert", "--from", Self.world.appendingPathComponent("model").path, "--to", out.path,
                                       "--format", "idpo"], timeLimit: 30, in: mount)
        XCTAssertFalse(outcome.signaled, outcome.output)
        XCTAssertEqual(outcome.status, 1, outcome.output)
        XCTAssertTrue(outcome.output.contains("model.h5") || outcome.output.contains(out.path), outcome.output)
        XCTAssertTrue(outcome.output.lowercased().contains("space"), outcome.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.h5").path))
        XCTAssertEqual(Harness.temporaries(under: mount), [])
        // Free space (a bigger filesystem at the same place) and run the same command again.
        unmount(mount)
        XCTAssertEqual(shell("mount -t tmpfs -o size=16m tmpfs '\(mount.path)'"), 0)
        let again = try Harness.run(["convert", "--from", Self.world.appendingPathComponent("model").path, "--to", out.path,
                                     "--format", "idpo"], timeLimit: 30, in: mount)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.h5").path))
    }

    func unmount(_ url: URL) { _ = shell("umount '\(url.path)' 2>/dev/null") }

    @discardableResult
    func shell(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try? p.run(); p.waitUntilExit()
        return p.terminationStatus
    }
}
