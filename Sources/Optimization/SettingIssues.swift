// The rules every training setting must satisfy, stated once: each settings type lists the
// settings that break its rules as `SettingIssue`s, named by the caller's spelling of the key
// (`training.beta` in a recipe, `--beta` on the command line), so that the recipe reader can report
// them at file:line:column and the commands as usage errors, with the same words.

/// One setting that breaks a rule: which setting (its key, as the caller names it), what is wrong,
/// and a hint. The settings types name their keys in the recipes' snake_case (`micro_batch_size`).
public struct SettingIssue: Error, Equatable, Sendable, CustomStringConvertible {
    /// The key the rule is about, as named by the caller (`training.beta`, `--beta`).
    public var setting: String
    /// The whole message, naming the setting(s) the caller's way.
    public var message: String
    public var hint: String?
    public var description: String { message }
    public init(setting: String, message: String, hint: String? = nil) {
        self.setting = setting; self.message = message; self.hint = hint
    }
}

/// Collects `SettingIssue`s, naming each snake_case key through `name`.
public struct SettingIssues {
    public private(set) var list: [SettingIssue] = []
    public let name: (String) -> String

    public init(naming name: @escaping (String) -> String) { self.name = name }

    /// `key must be <rule> (got value)` unless `value` is finite and `ok(value)`.
    public mutating func require(_ key: String, _ value: Double, _ rule: String, hint: String? = nil, _ ok: (Double) -> Bool) {
        guard !(value.isFinite && ok(value)) else { return }
        let what = value.isFinite ? "must be \(rule)" : "must be a finite number"
        add(key, "\(name(key)) \(what) (got \(value))", hint: hint)
    }

    /// `key must be <rule> (got value)` unless `ok(value)`.
    public mutating func require(_ key: String, _ value: Int, _ rule: String, hint: String? = nil, _ ok: (Int) -> Bool) {
        if !ok(value) { add(key, "\(name(key)) must be \(rule) (got \(value))", hint: hint) }
    }

    /// An issue about `key` in words of its own (a rule that ties settings together).
    public mutating func add(_ key: String, _ message: String, hint: String? = nil) {
        list.append(SettingIssue(setting: name(key), message: message, hint: hint))
    }

    public mutating func append(contentsOf other: [SettingIssue]) { list += other }
}

extension OptimizerSettings {
    /// Each optimizer setting on its own.
    public func rangeIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.require("learning_rate", learningRate, "> 0", hint: "RLHFlow uses 5.0e-7") { $0 > 0 }
        issues.require("weight_decay", weightDecay, "≥ 0") { $0 >= 0 }
        issues.require("warmup_ratio", warmupRatio, "in [0, 1)", hint: "a fraction of all optimizer steps, e.g. 0.1") { $0 >= 0 && $0 < 1 }
        if let warmupSteps { issues.require("warmup_steps", warmupSteps, "≥ 0") { $0 >= 0 } }
        issues.require("max_grad_norm", maxGradNorm, "≥ 0", hint: "0 disables gradient clipping") { $0 >= 0 }
        return issues.list
    }
}

extension LossSettings {
    /// Each loss setting on its own.
    public func rangeIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.require("beta", beta, "> 0", hint: "β weighs the implicit KL penalty; RLHFlow uses 0.1, SPPO/GPO 0.001") { $0 > 0 }
        issues.require("label_smoothing", labelSmoothing, "in [0, 0.5)",
                       hint: "ε is the assumed fraction of flipped labels; 0.5 would make the loss flat") { $0 >= 0 && $0 < 0.5 }
        issues.require("nll_weight", nllWeight, "≥ 0") { $0 >= 0 }
        return issues.list
    }

    /// Rules that tie the loss settings together (run once each setting is valid on its own).
    public func combinationIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        if labelSmoothing > 0 && kind != .sigmoid && kind != .robust {
            issues.add("label_smoothing", "\(name("label_smoothing")) applies only to the sigmoid and robust losses, not '\(kind.rawValue)'",
                       hint: "remove label_smoothing (or set it to 0), or use loss sigmoid or robust")
        }
        return issues.list
    }

    /// Checks the settings before any work starts.
    public func validate() throws {
        if let first = (rangeIssues(naming: { $0 }) + combinationIssues(naming: { $0 })).first { throw LossError.invalid(first.message) }
    }
}

extension TrainerSettings {
    /// Each setting on its own: loss, optimizer, batching, epochs, sequence limits.
    public func rangeIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.append(contentsOf: loss.rangeIssues(naming: name) + optimizer.rangeIssues(naming: name))
        issues.require("epochs", epochs, "≥ 1") { $0 >= 1 }
        issues.require("batch_size", batchSize, "≥ 1") { $0 >= 1 }
        issues.require("micro_batch_size", microBatchSize, "≥ 1") { $0 >= 1 }
        issues.require("max_length", limits.maxLength, "≥ 1") { $0 >= 1 }
        issues.require("max_prompt_length", limits.maxPromptLength, "≥ 1") { $0 >= 1 }
        return issues.list
    }

    /// Rules that tie settings together (run once each setting is valid on its own).
    public func combinationIssues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.append(contentsOf: loss.combinationIssues(naming: name))
        if microBatchSize > batchSize {
            issues.add("micro_batch_size", "\(name("micro_batch_size")) (\(microBatchSize)) must not exceed \(name("batch_size")) (\(batchSize))",
                       hint: "micro_batch_size pairs go through one forward/backward; batch_size pairs make one optimizer step")
        }
        if limits.maxLength <= limits.maxPromptLength {
            issues.add("max_length", "\(name("max_length")) (\(limits.maxLength)) must exceed \(name("max_prompt_length")) (\(limits.maxPromptLength))",
                       hint: "a response needs room after the prompt")
        }
        return issues.list
    }

    /// Every issue: first the settings on their own, then the rules that tie them together.
    public func issues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        let alone = rangeIssues(naming: name)
        return alone.isEmpty ? combinationIssues(naming: name) : alone
    }

    public func validate() throws {
        if let first = issues(naming: { $0 }).first { throw TrainingError.invalid(first.message) }
    }
}

extension SupervisedSettings {
    /// Every issue: optimizer, batching, epochs and the sequence limit.
    public func issues(naming name: @escaping (String) -> String) -> [SettingIssue] {
        var issues = SettingIssues(naming: name)
        issues.append(contentsOf: optimizer.rangeIssues(naming: name))
        issues.require("epochs", epochs, "≥ 1") { $0 >= 1 }
        issues.require("batch_size", batchSize, "≥ 1") { $0 >= 1 }
        issues.require("micro_batch_size", microBatchSize, "≥ 1") { $0 >= 1 }
        issues.require("max_length", maxLength, "≥ 2") { $0 >= 2 }
        if issues.list.isEmpty && microBatchSize > batchSize {
            issues.add("micro_batch_size", "\(name("micro_batch_size")) (\(microBatchSize)) must not exceed \(name("batch_size")) (\(batchSize))")
        }
        return issues.list
    }

    public func validate() throws {
        if let first = issues(naming: { $0 }).first { throw TrainingError.invalid(first.message) }
    }
}
