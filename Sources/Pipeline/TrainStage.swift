// The training stage on files: TRL pairs → token ids (TRL's conversational tokenization), cached
// reference log-probs (computed once, the reference model then released), the preference trainer
// with a resumable checkpoint after every `checkpointEvery` steps, metrics.jsonl, and the trained
// policy written as a model directory.

import Foundation
import Kernels
import Llama
import Checkpoints
import Optimization

public struct TrainStageOptions {
    public var settings = TrainerSettings()
    /// Save the resumable state every this many optimizer steps (0: never).
    public var checkpointEvery = 1
    /// Also write model.safetensors (the output directory then holds both).
    public var exportHuggingFace = false
    public var quiet = false
    /// Write tokens_per_s into metrics.jsonl (the driver turns this off so that its outputs are
    /// byte-identical between an interrupted and an uninterrupted run; timings go to its event log).
    public var recordTimings = true
    public init() {}
}

public struct TrainStageResult {
    public var steps: [StepMetrics]
    public var truncation: TruncationCounts
    public var referenceSeconds: Double
}

public enum TrainStage {
    /// Tokenizes pairs the way TRL's DPOTrainer does for conversational data with an explicit prompt.
    public static func tokenize(_ pairs: [PairRecord], with model: ChatModel) throws -> [TokenizedPair] {
        try pairs.map { p in
            let ids = try model.pairTokens(prompt: .messages(p.prompt), chosen: p.chosen, rejected: p.rejected)
            return TokenizedPair(id: String(p.id), prompt: ids.prompt, chosen: ids.chosen, rejected: ids.rejected,
                                 chosenTarget: p.chosenTarget, rejectedTarget: p.rejectedTarget)
        }
    }

    /// A fingerprint of the token ids (the reference cache is only reused for the same pairs).
    static func fingerprint(_ pairs: [TokenizedPair], referenceDirectory: URL) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ x: UInt64) { h = (h ^ x) &* 0x0000_0100_0000_01B3 }
        for p in pairs {
            for t in p.prompt { mix(UInt64(UInt32(bitPattern: t))) }; mix(0xFFFF_FFFF)
            for t in p.chosen { mix(UInt64(UInt32(bitPattern: t))) }; mix(0xFFFF_FFFE)
            for t in p.rejected { mix(UInt64(UInt32(bitPattern: t))) }; mix(0xFFFF_FFFD)
        }
        let attributes = ["model.h5", "model.safetensors", "model.safetensors.index.json"].compactMap { name -> String? in
            let path = referenceDirectory.appendingPathComponent(name).path
            guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
            return "\(name):\((a[.size] as? Int) ?? 0)"
        }
        return String(format: "%016llx", h) + "|" + attributes.joined(separator: ",")
    }

    /// Reference log-probs for `pairs`: read from `cache` when it matches, else computed with the
    /// model at `referenceDirectory` (loaded, used, released) and written to `cache`.
    public static func referenceLogProbs(pairs: [TokenizedPair], referenceDirectory: URL, cache: URL,
                                         microBatch: Int, quiet: Bool) throws -> [(chosen: Double, rejected: Double)] {
        let key = fingerprint(pairs, referenceDirectory: referenceDirectory)
        func cached() -> [(chosen: Double, rejected: Double)]? {
            guard let lines = try? JSONLines.read(cache), let header = lines.first?.object,
                  header["fingerprint"] as? String == key, lines.count == pairs.count + 1 else { return nil }
            return lines.dropFirst().map { (number($0.object["chosen_logp"]) ?? .nan, number($0.object["rejected_logp"]) ?? .nan) }
        }
        if let values = cached() { return values }
        let reference = try ModelDirectory.load(referenceDirectory)
        let bar = quiet ? nil : ProgressBar("reference log-probs", total: pairs.count, unit: "pairs")
        let values = try SequenceScoring.logProbs(model: reference, pairs: pairs, microBatch: microBatch) { bar?.update($0) }
        var objects: [[String: Any]] = [["fingerprint": key, "reference": referenceDirectory.path, "pairs": pairs.count]]
        for (p, v) in zip(pairs, values) { objects.append(["id": p.id, "chosen_logp": v.chosen, "rejected_logp": v.rejected]) }
        try JSONLines.write(objects, to: cache)
        // Train on the values as stored, so a run that resumes from the cache computes the same bits.
        guard let stored = cached() else { throw TrainingError.invalid("cannot read back \(cache.path)") }
        return stored
    }

    /// Trains the policy at `policyDirectory` on `pairs`, writing metrics to `metricsOut`, a resumable
    /// state under `stateDirectory`, and the final policy to `outDirectory`.
    public static func run(policyDirectory: URL, referenceDirectory: URL, pairs records: [PairRecord],
                           options: TrainStageOptions, referenceCache: URL, metricsOut: URL,
                           stateDirectory: URL, outDirectory: URL) throws -> TrainStageResult {
        let policy = try ChatModel(directory: policyDirectory)
        guard !records.isEmpty else { throw TrainingError.invalid("no preference pairs to train on") }
        let pairs = try tokenize(records, with: policy)
        let s = options.settings
        try s.validate()
        if s.loss.kind.needsTargets, let bad = pairs.first(where: { $0.chosenTarget == nil || $0.rejectedTarget == nil }) {
            throw TrainingError.invalid("loss '\(s.loss.kind.rawValue)' needs chosen_target/rejected_target in every pair (first missing: pair \(bad.id)); judge with round-robin (sppo) or a GPM (gpo)")
        }
        let t0 = Date()
        let reference = try referenceLogProbs(pairs: pairs, referenceDirectory: referenceDirectory, cache: referenceCache,
                                              microBatch: s.microBatchSize, quiet: options.quiet)
        let referenceSeconds = Date().timeIntervalSince(t0)
        let trainer = try PreferenceTrainer(policy: policy.model, settings: s)
        // Resume from the last saved step, if any.
        let stateFile = stateDirectory.appendingPathComponent("state.h5")
        var metrics: [StepMetrics] = []
        if FileManager.default.fileExists(atPath: stateFile.path) {
            let state = try NativeCheckpoint.read(from: stateFile)
            guard state.model.config == policy.model.config, let opt = state.optimizer else {
                throw TrainingError.invalid("\(stateFile.path) does not belong to this training run; remove it to start over")
            }
            policy.model.parameters.copy(from: state.model.parameters)
            try trainer.optimizer.restore(opt)
            if let lines = try? JSONLines.read(metricsOut) {
                let decoder = JSONDecoder()
                for (_, o) in lines.filter({ $0.object["step"] != nil }).prefix(opt.step) {
                    metrics.append(try decoder.decode(StepMetrics.self, from: JSONSerialization.data(withJSONObject: o)))
                }
            }
        }
        let total = trainer.totalSteps(pairCount: pairs.count)
        let bar = options.quiet ? nil : ProgressBar("train", total: total, unit: "steps")
        bar?.update(trainer.optimizer.step)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try trainer.train(pairs: pairs, reference: reference) { measured in
            var m = measured
            if !options.recordTimings { m.tokensPerSecond = 0 }
            metrics.append(m)
            try AtomicFile.write(Data(try metrics.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined().utf8), to: metricsOut)
            if options.checkpointEvery > 0 && (m.step % options.checkpointEvery == 0) && m.step < total {
                try NativeCheckpoint(model: policy.model, optimizer: trainer.optimizer.state(),
                                     metadataJSON: "{\"step\":\(m.step)}").write(to: stateFile)
                FaultInjection.checkpoint("train-step")
            }
            bar?.update(m.step, extra: String(format: "loss %.4f  margin %.3f  acc %.2f  %.0f tok/s", m.loss, m.rewardsMargins,
                                               m.rewardsAccuracies, measured.tokensPerSecond))
        }
        // A final summary line (as TRL logs train_runtime etc. at the end).
        let runtime = options.recordTimings ? Date().timeIntervalSince(t0) : 0
        var summary: [String: Any] = ["summary": true, "steps": metrics.count, "pairs": pairs.count,
                                      "prompts_truncated": trainer.truncation.promptsTruncated,
                                      "responses_truncated": trainer.truncation.responsesTruncated,
                                      "train_runtime": runtime,
                                      "reference_runtime": options.recordTimings ? referenceSeconds : 0]
        if let last = metrics.last {
            summary["final_loss"] = last.loss
            summary["final_rewards/accuracies"] = last.rewardsAccuracies
            summary["final_rewards/margins"] = last.rewardsMargins
        }
        var lines = try metrics.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
        lines += String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self) + "\n"
        try AtomicFile.write(Data(lines.utf8), to: metricsOut)
        try ModelDirectory.saveNative(NativeCheckpoint(model: policy.model, optimizer: trainer.optimizer.state(),
                                                       metadataJSON: "{\"steps\":\(total)}"),
                                      to: outDirectory, tokenizerSource: policyDirectory)
        if options.exportHuggingFace {
            let tensors = policy.model.layout.entries.map {
                SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: policy.model.parameters.pointer + $0.offset)
            }
            try SafetensorsWriter.write(tensors, dtype: .f32, to: outDirectory.appendingPathComponent("model.safetensors"))
        }
        try? FileManager.default.removeItem(at: stateFile)
        return TrainStageResult(steps: metrics, truncation: trainer.truncation, referenceSeconds: referenceSeconds)
    }
}
