// Program judges (`judge: {kind: command, command: [...]}`): a user program scores each response —
// rule-based or verifiable rewards, as TRL's reward functions. It reads sample records (the samples
// JSONL format, one prompt with its k responses per line) on stdin and writes, for each input line,
// one line holding a JSON array of k finite numbers: the scores of that prompt's responses in order.
// The judging stage runs it once per batch of prompts (`prefetch`); every failure — a program that
// cannot start, exits non-zero, prints too few or too many lines, or a line that is not k numbers —
// is an error naming the command and the prompt id.

import Foundation
import Preference
import Support

public final class CommandJudge: Judge {
    public var kind: JudgeKind { .command }
    /// The program and its arguments; a program name without "/" is looked up on PATH, a relative
    /// path is resolved against `workingDirectory`.
    public let command: [String]
    /// Where the program runs (a recipe's folder; the current directory for `idpo judge`).
    public let workingDirectory: URL
    public var directory: URL { workingDirectory }
    public var inputSummary: String {
        "command: \(command.joined(separator: " ")) in \(workingDirectory.path) (sample records on stdin, one JSON array of scores per line on stdout)"
    }
    /// Scores the last `prefetch` computed, by prompt content.
    private var prefetched: [String: [Double]] = [:]
    /// Program runs so far (tests check that a stage runs it once per batch).
    public private(set) var runs = 0

    public init(command: [String], workingDirectory: URL) throws {
        guard let program = command.first, !program.isEmpty else {
            throw JudgeError("a command judge needs a command: a list whose first item is the program, e.g. [python3, score.py]")
        }
        self.command = command
        self.workingDirectory = workingDirectory
        // a program that exits without reading all its input must not kill idpo with SIGPIPE
        signal(SIGPIPE, SIG_IGN)
    }

    static func key(_ messages: [PromptMessage], _ responses: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode([messages.map { [$0.role, $0.content] }, [responses]])) ?? Data(), as: UTF8.self)
    }

    /// Runs the program once over `samples` and keeps their scores for `judge`.
    public func prefetch(_ samples: [SampleRecord]) throws {
        let scores = try score(samples)
        prefetched = [:]
        for (s, row) in zip(samples, scores) { prefetched[Self.key(s.prompt.messages, s.responses)] = row }
    }

    public func judge(messages: [PromptMessage], responses: [String], method: RankingMethod) throws -> JudgedPrompt {
        guard method == .scores else { throw JudgeError("a command judge ranks by 'scores', not '\(method.rawValue)'") }
        let scores = try prefetched[Self.key(messages, responses)]
            ?? score([SampleRecord(id: 0, prompt: .messages(messages), responses: responses, responseTokens: [], finishReasons: [])])[0]
        return JudgedPrompt(ranking: Ranking.fromScores(scores), targets: nil)
    }

    /// The program's scores for `samples`, one row of `responses.count` numbers per record.
    public func score(_ samples: [SampleRecord]) throws -> [[Double]] {
        guard !samples.isEmpty else { return [] }
        let input = try JSONFormat.lines(samples)
        let shown = "`\(command.joined(separator: " "))`"
        let ids = samples.count == 1 ? "prompt \(samples[0].id)" : "prompts \(samples[0].id)…\(samples[samples.count - 1].id)"
        let (status, stdout, stderr) = try run(input, shown: shown)
        runs += 1
        guard status == 0 else {
            let tail = String(decoding: stderr.suffix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw JudgeError("the judge command \(shown) exited with status \(status) on \(ids)\(tail.isEmpty ? "" : ": \(tail)")")
        }
        var lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count == samples.count else {
            let first = lines.count < samples.count ? "the first without scores is prompt \(samples[lines.count].id)"
                : "one line per input record is expected"
            throw JudgeError("the judge command \(shown) printed \(lines.count) score line\(lines.count == 1 ? "" : "s") for \(samples.count) prompt\(samples.count == 1 ? "" : "s") (\(ids)); \(first)")
        }
        return try zip(samples, lines).map { sample, line in
            let k = sample.responses.count
            let shownLine = line.count > 120 ? String(line.prefix(120)) + "…" : line
            guard let array = try? JSONDecoder().decode([Score].self, from: Data(line.utf8)) else {
                throw JudgeError("the judge command \(shown), prompt \(sample.id): expected a JSON array of \(k) numbers, got `\(shownLine)`")
            }
            guard array.count == k else {
                throw JudgeError("the judge command \(shown), prompt \(sample.id): \(k) responses but \(array.count) score\(array.count == 1 ? "" : "s") (`\(shownLine)`)")
            }
            return try array.enumerated().map { i, score in
                guard let v = score.value, v.isFinite else {
                    throw JudgeError("the judge command \(shown), prompt \(sample.id), response \(i): the score is not a finite number (`\(shownLine)`)")
                }
                return v
            }
        }
    }

    /// One element of a score line: a number, or nil for anything else (a string, a bool, null).
    struct Score: Decodable {
        let value: Double?
        init(from decoder: Decoder) throws { value = try? decoder.singleValueContainer().decode(Double.self) }
    }

    /// Runs the program with `input` on stdin; returns its exit status, stdout and stderr.
    private func run(_ input: Data, shown: String) throws -> (Int32, Data, Data) {
        let process = Process()
        var argv = command
        if argv[0].contains("/") && !argv[0].hasPrefix("/") {
            argv[0] = workingDirectory.appendingPathComponent(argv[0]).standardizedFileURL.path
        }
        // /usr/bin/env looks a bare program name up on PATH (and says so when it is not there)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        process.currentDirectoryURL = workingDirectory
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin; process.standardOutput = stdout; process.standardError = stderr
        do { try process.run() } catch {
            throw JudgeError("the judge command \(shown) could not start in \(workingDirectory.path): \(error.localizedDescription)")
        }
        // write and read concurrently so a program that answers as it reads never blocks on a full pipe
        let group = DispatchGroup()
        nonisolated(unsafe) var err = Data()
        group.enter()
        DispatchQueue.global().async {
            err = stderr.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            // a program that exits without reading its input closes the pipe: ignore the write error
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
            group.leave()
        }
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, out, err)
    }
}
