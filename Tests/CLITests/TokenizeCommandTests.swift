// idpo tokenize encodes standard input exactly as given: a leading byte-order mark is text too.

import Foundation
import XCTest
import TestSupport

final class TokenizeCommandTests: XCTestCase {
    func testLeadingByteOrderMarkIsEncoded() throws {
        let tokenizer = Fixtures.url("tokenizers/llama3-tiny")
        func ids(_ text: String) throws -> [String] {
            let outcome = try Harness.run(["tokenize", "--model", tokenizer.path], stdin: text, timeLimit: 30,
                                          in: FileManager.default.temporaryDirectory)
            XCTAssertEqual(outcome.status, 0, outcome.output)
            return outcome.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        }
        let plain = try ids("hello"), marked = try ids("\u{FEFF}hello")
        XCTAssertGreaterThan(marked.count, plain.count, "the BOM must become tokens, not vanish: \(marked) vs \(plain)")
        XCTAssertEqual(Array(marked.suffix(plain.count)), plain)
    }
}
