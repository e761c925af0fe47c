// `idpo validate RECIPE`: load and check a recipe without doing any work; print the resolved
// settings (defaults filled in, paths absolute) or every problem found, each with file:line:column.

import ArgumentParser
import Foundation
import Pipeline

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a recipe and print its resolved settings.",
        discussion: """
        Reads the YAML recipe, checks every key, type, range, file and cross-field rule, and prints the resolved recipe, one key path per line (defaults filled in, paths made absolute and taken relative to the recipe's folder). With a sweep section it also lists the sweep's runs. On error it prints every problem as file:line:column: message (with a hint) and exits with status 1; nothing is read besides the recipe and the existence of the files it names.

        Examples:
          idpo validate recipes/demo.yaml
          idpo validate recipes/rlhflow-llama3-8b.yaml --json
        """)

    @Argument(help: "The recipe (YAML) to check.")
    var recipe: String

    @Flag(help: "Print the resolved recipe as canonical JSON (as written into run directories) instead of the summary.")
    var json = false

    func run() throws {
        let url = URL(fileURLWithPath: recipe)
        let (resolved, errors) = Recipe.diagnose(url: url)
        guard let resolved, errors.isEmpty else {
            var stderr = StandardError()
            for error in errors { print(error, to: &stderr) }
            let count = errors.count
            print("\(recipe): \(count) problem\(count == 1 ? "" : "s") found; nothing was run", to: &stderr)
            throw ExitCode(1)
        }
        if json {
            FileHandle.standardOutput.write(try resolved.canonicalJSON())
            return
        }
        print("\(recipe): OK")
        print(resolved.summary)
        let points = resolved.sweepPoints()
        if resolved.sweep != nil {
            print("sweep: \(points.count) run\(points.count == 1 ? "" : "s")")
            for point in points { print("  \(point.run.name)") }
        }
    }
}

/// Standard error as a `TextOutputStream`, for `print(_:to:)`.
private struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
