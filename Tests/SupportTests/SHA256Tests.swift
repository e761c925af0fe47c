// SHA-256 against FIPS 180-4 / NIST test vectors, chunking independence, and the streamed file hash.

import Foundation
import XCTest
@testable import Support

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The portable code gives the same digests (the SHA-extension path is what the other tests
    /// run where the CPU has it), and both agree on random data of every length up to 3 blocks.
    func testPortableCodeAndCPUExtensionsAgree() {
        defer { SHA256.useCPUExtensions = true }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var withExtensions: [String] = []
        for n in 0...bytes.count { withExtensions.append(SHA256.hex(Data(bytes[0..<n]))) }
        SHA256.useCPUExtensions = false
        for n in 0...bytes.count { XCTAssertEqual(SHA256.hex(Data(bytes[0..<n])), withExtensions[n], "\(n) bytes") }
        testKnownVectors()
    }

    func testChunkingDoesNotChangeTheDigest() throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = SHA256.hex(Data(bytes))
        for step in [1, 3, 63, 64, 65, 1000] {
            var h = SHA256()
            var i = 0
            while i < bytes.count { let j = min(bytes.count, i + step); h.update(Data(bytes[i..<j])); i = j }
            XCTAssertEqual(h.finalize().hex, whole, "chunks of \(step)")
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(getpid()).bin")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(try SHA256.hex(file: url), whole)
        XCTAssertThrowsError(try SHA256.hex(file: url.appendingPathExtension("missing"))) {
            XCTAssertTrue("\($0)".contains("sha-"), "\($0)")
        }
    }
}
