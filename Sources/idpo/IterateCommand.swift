// `idpo iterate RECIPE`: online RLHF end to end, resumable.

import ArgumentParser
import Foundation
import Pipeline

struct Iterate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run online RLHF iterations from a recipe: generate → judge → pairs → train → evaluate.",
        discussion: """
        Each iteration t samples k responses per prompt of its own prompt split from π(t−1), ranks them with the judge, keeps best-vs-worst pairs, trains π(t) from π(t−1) with reference log-probs computed once, saves π(t) and evaluates it on held-out prompts (win rate against π(0) and π(t−1); oracle accuracy when the recipe names an oracle). Everything lands in <output_root>/<run.name>/ (see README). Interrupt it at any moment (Ctrl-C, kill -9) and run the same command again: it continues where it stopped and ends with the same files. A changed recipe under an existing run is refused (naming the changed keys) unless --force.

        Examples:
          idpo iterate recipes/demo.yaml
          idpo iterate recipes/rlhflow-llama3-8b.yaml --iterations 1   # one iteration
          idpo iterate recipes/demo.yaml --only-iteration 2
        """)

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "Recipe file (YAML).") var recipe: String
    @Option(help: "Run only the first N iterations.") var iterations: Int?
    @Option(name: .customLong("only-iteration"), help: "Run only iteration t (π(t−1) must exist).") var onlyIteration: Int?
    @Option(name: .customLong("output-root"), help: "Override run.output_root.") var outputRoot: String?
    @Flag(help: "Continue an existing run even though its recipe changed.") var force = false
    @Flag(help: "No progress bars or per-stage messages (results and errors only).") var quiet = false

    func validate() throws {
        if let n = iterations, n < 1 { throw ValidationError("--iterations must be ≥ 1") }
        if let t = onlyIteration, t < 1 { throw ValidationError("--only-iteration must be ≥ 1") }
        if iterations != nil && onlyIteration != nil { throw ValidationError("give --iterations or --only-iteration, not both") }
    }

    func run() throws {
        compute.apply()
        var r = try Recipe.load(url: URL(fileURLWithPath: recipe))
        if let outputRoot { r.run.outputRoot = URL(fileURLWithPath: outputRoot).standardizedFileURL.path }
        let driver = try RunDriver(recipe: r, force: force)
        driver.quiet = quiet
        if let t = onlyIteration { try driver.run(iterations: t...t) }
        else { try driver.run(iterations: 1...min(iterations ?? r.iterations, r.iterations)) }
        print("run directory: \(driver.directory.path)")
    }
}
