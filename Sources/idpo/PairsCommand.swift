// `idpo pairs`: see what the loop trained on.

import ArgumentParser
import Foundation
import Pipeline

struct Pairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the preference pairs of a run (or of one pairs file).",
        subcommands: [List.self, Show.self, Stats.self, Report.self], defaultSubcommand: Stats.self)

    struct Source: ParsableArguments {
        @Argument(help: "A run directory (runs/<name>) or a pairs .jsonl file.") var path: String
        func inspector() throws -> PairsInspector { try PairsInspector(path: URL(fileURLWithPath: path)) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A table of pairs, filtered and sorted.")
        @OptionGroup var source: Source
        @Option(help: "Only this iteration.") var iteration: Int?
        @Option(name: .customLong("min-margin"), help: "Only pairs with at least this margin.") var minMargin: Double?
        @Option(help: "Only pairs whose prompt or responses contain this text.") var contains: String?
        @Option(help: "Sort by: id, iteration, margin (reward margin of a scoring judge), confidence (a pairwise judge's P(chosen ≻ rejected)), length (chosen − rejected words).") var sort: String = "iteration"
        @Flag(help: "Largest first.") var descending = false
        @Option(help: "Show at most this many rows.") var limit: Int = 50
        func validate() throws {
            guard PairsInspector.SortKey(rawValue: sort) != nil else { throw ValidationError("--sort must be one of id, iteration, margin, confidence, length") }
        }
        func run() throws {
            let ins = try source.inspector()
            // margins exist only for scoring judges (reward model, GPM): say so instead of sorting by nothing
            if (sort == "margin" || minMargin != nil) && !ins.pairs.contains(where: { $0.record.margin != nil }) {
                throw RunError("these pairs have no reward margin (a pairwise judge ranks by comparisons, not scores); use --sort confidence for its P(chosen ≻ rejected)")
            }
            if sort == "confidence" && !ins.pairs.contains(where: { $0.judgeConfidence != nil }) {
                throw RunError("no pairwise comparisons for these pairs (a scoring judge, or a bare pairs file without judgments.jsonl); use --sort margin")
            }
            let list = ins.filtered(iteration: iteration, minMargin: minMargin, contains: contains,
                                    sortBy: PairsInspector.SortKey(rawValue: sort)!, descending: descending)
            print(ins.listTable(Array(list.prefix(limit))))
            if list.count > limit { print("… \(list.count - limit) more (use --limit)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One pair in full: prompt, all k responses with scores, the comparisons that decided it.")
        @OptionGroup var source: Source
        @Argument(help: "Pair id (the prompt id).") var id: Int
        @Option(help: "Iteration (when ids repeat across iterations).") var iteration: Int?
        func run() throws { print(try source.inspector().show(id: id, iteration: iteration)) }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Prompts, pairs kept, drops, margin histogram, chosen vs rejected length.")
        @OptionGroup var source: Source
        @Option(help: "Only this iteration.") var iteration: Int?
        func run() throws { print(try source.inspector().statsText(iteration: iteration)) }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write one self-contained HTML report (pairs browser, training curves, per-iteration summary).")
        @OptionGroup var source: Source
        @Option(help: "Output file (default: <run>/report.html).") var out: String?
        func run() throws {
            let ins = try source.inspector()
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: source.path, isDirectory: &isDir)
            let url = URL(fileURLWithPath: out ?? (isDir.boolValue ? source.path + "/report.html" : source.path + ".html"))
            try ReportWriter.write(ins, to: url)
            print("wrote \(url.path)")
        }
    }
}
