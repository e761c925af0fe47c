// `idpo sweep RECIPE`: a β × learning-rate (× loss) grid of runs that share iteration-1 data.

import ArgumentParser
import Foundation
import Pipeline

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sweep beta and learning rate (and optionally the loss) from a recipe's sweep section.",
        discussion: """
        Each grid point is a child run <output_root>/<run.name>/beta=…,lr=…; iteration 1's samples, judgments, pairs and reference log-probs do not depend on the swept values, so the first point computes them and the others reuse them. Prints a comparison table (★ marks the best point:
        highest oracle accuracy, else win rate against π0) and writes sweep.csv and sweep.json. Resumable like `idpo iterate`.

        Example recipe section:
          sweep:
            beta: [0.05, 0.1]
            learning_rate: [5.0e-7, 1.0e-6]
        """)

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "Recipe file with a sweep section.") var recipe: String
    @Option(name: .customLong("output-root"), help: "Override run.output_root.") var outputRoot: String?
    @Flag(help: "Continue existing child runs even though their recipe changed.") var force = false
    @Flag(help: "No progress bars or per-stage messages.") var quiet = false

    func run() throws {
        compute.apply()
        var r = try Recipe.load(url: URL(fileURLWithPath: recipe))
        if let outputRoot { r.run.outputRoot = URL(fileURLWithPath: outputRoot).standardizedFileURL.path }
        let driver = SweepDriver(recipe: r)
        driver.quiet = quiet
        let results = try driver.run(force: force)
        print(SweepDriver.table(results))
        print("written: \(r.run.directory.appendingPathComponent("sweep.csv").path), sweep.json")
    }
}
