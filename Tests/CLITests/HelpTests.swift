// The help of every idpo command: compared with a golden file under Tests/CLITests/Help/, no line
// wider than 80 columns, and help texts written as single-line paragraphs (ArgumentParser wraps
// them itself; a hard line break inside a paragraph comes out as a ragged line).
//
// To regenerate the golden files after changing a help text: IDPO_UPDATE_HELP=1 swift test --filter HelpTests

import XCTest
import ArgumentParser
@testable import idpo

final class HelpTests: XCTestCase {
    static let width = 80

    /// Every command, by the name of its golden file.
    static let commands: [(name: String, type: ParsableCommand.Type)] = [
        ("idpo", IDPO.self), ("iterate", Iterate.self), ("sweep", Sweep.self), ("pairs", Pairs.self),
        ("pairs-list", Pairs.List.self), ("pairs-show", Pairs.Show.self), ("pairs-stats", Pairs.Stats.self),
        ("pairs-report", Pairs.Report.self), ("generate", Generate.self), ("judge", Judge.self), ("train", Train.self),
        ("validate", Validate.self), ("convert", Convert.self), ("tokenize", Tokenize.self), ("sft", SFT.self),
        ("train-judge", TrainJudge.self), ("demo-world", DemoWorldCommand.self), ("demo-eval", DemoEval.self),
        ("bench", Bench.self), ("doctor", Doctor.self), ("inspect", Inspect.self),
    ]

    static let helpFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Help")

    /// Every subcommand idpo lists (nested ones included) has a golden file here.
    func testEveryCommandIsCovered() {
        func all(_ type: ParsableCommand.Type) -> [ParsableCommand.Type] {
            [type] + type.configuration.subcommands.flatMap(all)
        }
        let covered = Set(Self.commands.map { ObjectIdentifier($0.type) })
        for type in all(IDPO.self) { XCTAssertTrue(covered.contains(ObjectIdentifier(type)), "no help snapshot for \(type)") }
    }

    func testHelpMatchesTheGoldenFiles() throws {
        let update = ProcessInfo.processInfo.environment["IDPO_UPDATE_HELP"] == "1"
        for (name, type) in Self.commands {
            let help = IDPO.helpMessage(for: type, columns: Self.width) + "\n"
            let golden = Self.helpFolder.appendingPathComponent("\(name).txt")
            if update {
                try FileManager.default.createDirectory(at: Self.helpFolder, withIntermediateDirectories: true)
                try help.write(to: golden, atomically: true, encoding: .utf8)
                continue
            }
            let expected = try? String(contentsOf: golden, encoding: .utf8)
            XCTAssertEqual(help, expected, "help of \(name) differs from Help/\(name).txt; if the change is intended, regenerate the golden files with IDPO_UPDATE_HELP=1 swift test --filter HelpTests")
        }
    }

    func testHelpLinesFitTheWidth() {
        for (name, type) in Self.commands {
            // (ArgumentParser writes the USAGE line unwrapped, whatever its length.)
            for line in IDPO.helpMessage(for: type, columns: Self.width).split(separator: "\n")
            where line.count > Self.width && !line.hasPrefix("USAGE: ") {
                XCTFail("help of \(name) has a line of \(line.count) columns: \(line)")
            }
        }
    }

    /// Discussions: paragraphs separated by a blank line, each on one line; only preformatted lines
    /// (indented: examples, lists) follow another line directly, and they fit the width as they are.
    func testDiscussionsAreSingleLineParagraphs() {
        for (name, type) in Self.commands {
            let lines = type.configuration.discussion.components(separatedBy: "\n")
            for (i, line) in lines.enumerated() {
                XCTAssertFalse(type.configuration.abstract.contains("\n"), "abstract of \(name) has a line break")
                if line.hasPrefix(" ") {
                    XCTAssertLessThanOrEqual(line.count, Self.width, "preformatted line of \(name) wider than the help: \(line)")
                } else if i > 0, !line.isEmpty, !lines[i - 1].isEmpty, !lines[i - 1].hasSuffix(":") {
                    XCTFail("discussion of \(name) breaks a paragraph before: \(line)")
                }
            }
        }
    }

    /// Option help strings in the sources: one line each (no "\n" escape inside `help:` or `abstract:`).
    func testOptionHelpHasNoLineBreaks() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/idpo")
        let pattern = try NSRegularExpression(pattern: #"(help|abstract): "((?:[^"\\]|\\.)*)""#)
        for file in try FileManager.default.contentsOfDirectory(atPath: sources.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let literal = String(text[Range(match.range(at: 2), in: text)!])
                XCTAssertFalse(literal.replacingOccurrences(of: #"\\"#, with: "").contains(#"\n"#), "\(file): line break in \(literal)")
            }
        }
    }
}
