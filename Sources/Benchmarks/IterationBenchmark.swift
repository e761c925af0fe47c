// `idpo bench --workloads iteration`: one whole online-RLHF iteration (generate → judge → train →
// evaluate) on a real model, timed per stage — the figure a user feels. It writes a recipe and
// chat prompt files into a work folder, runs `RunDriver` for iteration 1 and reports each stage's
// seconds, the total and the peak resident memory. Scripts/bench_iteration_pytorch.py runs the same
// iteration with transformers + TRL on the same prompt files (the command is printed).

import Foundation
import Pipeline

public enum IterationBenchmark {
    public struct Settings: Sendable {
        /// The policy (and, unless `judge` is set, its own pairwise A/B judge): a model directory.
        public var policy: URL
        public var judge: URL?
        public var prompts = 32
        public var evaluationPrompts = 5
        public var k = 4
        public var maxNewTokens = 96
        /// DPO optimizer steps: `prompts / steps` pairs per step (one epoch).
        public var steps = 4
        public var seed: UInt64 = 42
        public init(policy: URL) { self.policy = policy }
    }

    public struct Result: Codable, Sendable {
        public var stages: [String: Double]
        public var total: Double
        public var peak_rss_bytes: Int
        public var pairs: Int?
        public var run_directory: String
    }

    /// Everyday chat instructions (the first `prompts` train, the last `evaluationPrompts` evaluate).
    static let instructions = [
        "Give me three tips for sleeping better.", "Explain what a prime number is to a ten-year-old.",
        "Write a short poem about the sea.", "How do I make a cup of green tea?",
        "What are the benefits of regular exercise?", "Summarize the plot of Cinderella in two sentences.",
        "Suggest a name for a friendly robot.", "How can I save money on groceries?",
        "Why is the sky blue?", "Write a polite email declining a meeting invitation.",
        "List five fruits that are high in vitamin C.", "What is the difference between weather and climate?",
        "Describe a cat to someone who has never seen one.", "How do plants make their food?",
        "Give me a simple recipe for pancakes.", "What should I pack for a weekend hiking trip?",
        "Explain how a bicycle works.", "Write a haiku about autumn leaves.",
        "What are good habits for studying?", "How do I politely ask my neighbor to be quieter?",
        "Tell me a fun fact about octopuses.", "What is 17 times 23? Show your steps.",
        "Explain what the internet is in simple words.", "Suggest three indoor activities for a rainy day.",
        "How do I start learning to play the guitar?", "What causes the seasons on Earth?",
        "Write a thank-you note to a teacher.", "How can I reduce stress at work?",
        "Describe the water cycle.", "What are the main colors of the rainbow?",
        "Give advice to someone starting their first job.", "Explain why we need to drink water.",
        "Write a two-line story about a dragon.", "How do I keep my houseplants healthy?",
        "What is the capital of France, and what is it famous for?", "Explain recycling to a child.",
        "Suggest a healthy breakfast.", "How does a rainbow form?",
    ]

    /// Writes the prompt files and recipe into `work` and runs iteration 1 there (a fresh run).
    public static func run(_ s: Settings, work: URL, quiet: Bool = false) throws -> Result {
        guard s.prompts + s.evaluationPrompts <= instructions.count else {
            throw RunError("the iteration benchmark has \(instructions.count) built-in prompts; ask for at most that many prompts + evaluation prompts")
        }
        guard s.steps >= 1, s.prompts % s.steps == 0 else { throw RunError("--iteration-prompts must be a multiple of --iteration-steps") }
        let fm = FileManager.default
        try? fm.removeItem(at: work.appendingPathComponent("run"))
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        func chat(_ i: Int) -> PromptRecord { PromptRecord(id: i, prompt: .messages([PromptMessage(role: "user", content: instructions[i])])) }
        let promptsURL = work.appendingPathComponent("prompts.jsonl"), evalURL = work.appendingPathComponent("eval-prompts.jsonl")
        try JSONLines.write((0..<s.prompts).map(chat), to: promptsURL)
        try JSONLines.write((instructions.count - s.evaluationPrompts..<instructions.count).map(chat), to: evalURL)
        let batch = s.prompts / s.steps
        let yaml = """
        run: {name: run, output_root: \(work.path), seed: \(s.seed)}
        policy: \(s.policy.path)
        reference: initial
        judge: {model: \((s.judge ?? s.policy).path), kind: pairwise, ranking: knockout, strip_bos: leading}
        prompts: {files: [\(promptsURL.path)], max_prompt_tokens: 256}
        iterations: 1
        generation: {k: \(s.k), temperature: 1.0, top_p: 1.0, max_new_tokens: \(s.maxNewTokens)}
        pairs: {selection: max_min}
        training: {loss: sigmoid, beta: 0.1, learning_rate: 1.0e-6, optimizer: adamw, scheduler: constant,
                   epochs: 1, batch_size: \(batch), micro_batch_size: \(batch),
                   max_length: \(256 + s.maxNewTokens), max_prompt_length: 256}
        evaluation: {prompts: \(evalURL.path), max_new_tokens: \(s.maxNewTokens)}
        """
        let recipeURL = work.appendingPathComponent("recipe.yaml")
        try Data(yaml.utf8).write(to: recipeURL)
        let recipe = try Recipe.load(url: recipeURL)
        let driver = try RunDriver(recipe: recipe, force: true, directory: work.appendingPathComponent("run"))
        driver.quiet = quiet
        let t0 = Date()
        try driver.run(iterations: 1...1)
        let total = Date().timeIntervalSince(t0)
        let summary = driver.allSummaries.first { $0.iteration == 1 }
        return Result(stages: summary?.seconds ?? [:], total: total, peak_rss_bytes: EngineBenchmark.peakRSS(),
                      pairs: summary?.pairs, run_directory: driver.directory.path)
    }
}
