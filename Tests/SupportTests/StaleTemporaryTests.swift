// Temporary files of atomic writes left behind by killed processes (`.<name>.tmp-<pid>`) are found
// and removed when their process is gone (or is this one); everything else is kept.

import XCTest
import Foundation
@testable import Support

final class StaleTemporaryTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("idpo-stale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// The pid of a process that has exited (and been reaped).
    func deadPID() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exit 0"]
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func touch(_ relative: String) throws -> URL {
        let url = tmp.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: url)
        return url
    }

    func testStaleTemporariesAreRemovedAndEverythingElseKept() throws {
        let dead = try deadPID()
        let deadTemporary = try touch(".model.h5.tmp-\(dead)")
        let ownTemporary = try touch(".summary.json.tmp-\(getpid())")
        let nestedDead = try touch("iter-1/policy/.model.h5.tmp-\(dead)")
        let kept = [
            try touch("model.h5"),
            try touch(".model.h5.tmp-1"),               // pid 1 is alive
            try touch(".notes.tmp-abc"),                // not a pid
            try touch("visible.tmp-\(dead)"),           // not a hidden temporary
            try touch("..tmp-\(dead)"),                 // no target name
            try touch(".x.tmp-0"),                      // pid 0 is never a writer
            try touch(".y.tmp-99999999999999999999"),   // not a pid_t
        ]
        // A folder named like a temporary, and a symbolic link to a folder, are not touched.
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent(".dir.tmp-\(dead)"), withIntermediateDirectories: true)
        let outside = tmp.appendingPathComponent("outside")
        let outsideTemporary = try touch("outside/.z.tmp-\(dead)")
        try FileManager.default.createSymbolicLink(at: tmp.appendingPathComponent("iter-1/link"), withDestinationURL: outside)

        // Not recursive: only the top level.
        XCTAssertEqual(AtomicFile.removeStaleTemporaries(in: tmp, recursive: false).map(\.lastPathComponent).sorted(),
                       [deadTemporary.lastPathComponent, ownTemporary.lastPathComponent].sorted())
        XCTAssertTrue(FileManager.default.fileExists(atPath: nestedDead.path))
        // Recursive: the nested one (and the one in `outside`, reached as a real folder, not via the link).
        let removed = AtomicFile.removeStaleTemporaries(in: tmp, recursive: true).map(\.path)
        XCTAssertEqual(Set(removed), [nestedDead.path, outsideTemporary.path])
        for url in kept { XCTAssertTrue(FileManager.default.fileExists(atPath: url.path), url.lastPathComponent) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent(".dir.tmp-\(dead)").path))
        XCTAssertEqual(AtomicFile.removeStaleTemporaries(in: tmp, recursive: true), [])
        XCTAssertEqual(AtomicFile.removeStaleTemporaries(in: tmp.appendingPathComponent("absent"), recursive: true), [])
    }

    func testTemporaryNamesMatchWhatWriteCreates() {
        let url = URL(fileURLWithPath: "/runs/x/model.h5")
        let temporary = AtomicFile.temporaryURL(for: url)
        XCTAssertEqual(temporary.deletingLastPathComponent().path, "/runs/x")
        XCTAssertEqual(AtomicFile.temporaryOwner(temporary.lastPathComponent), getpid())
        XCTAssertNil(AtomicFile.temporaryOwner("model.h5"))
    }

    func testALiveWriterOfAnotherProcessIsKept() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        let live = try touch(".model.h5.tmp-\(p.processIdentifier)")
        XCTAssertEqual(AtomicFile.removeStaleTemporaries(in: tmp, recursive: true), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: live.path))
    }
}
