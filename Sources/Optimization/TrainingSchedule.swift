// What the preference and supervised trainers share: the seeded epoch order of their examples, and
// a training workspace that grows (rarely) to the largest batch seen.

import Kernels
import Llama
import Support

/// Epochs of `batchSize` examples: epoch e visits the examples in a permutation seeded by (seed, e),
/// the last batch of an epoch possibly short.
struct EpochSchedule {
    let batchSize: Int
    let epochs: Int
    let seed: UInt64

    func stepsPerEpoch(_ count: Int) -> Int { (count + batchSize - 1) / batchSize }
    func totalSteps(_ count: Int) -> Int { stepsPerEpoch(count) * epochs }

    /// The example indices of optimizer step `step` (0-based).
    func batchIndices(step: Int, count: Int) -> [Int] {
        let per = stepsPerEpoch(count)
        let epoch = step / per, within = step % per
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var order = Array(0..<count)
        order.shuffle(using: &rng)
        return Array(order[(within * batchSize)..<min(count, (within + 1) * batchSize)])
    }
}

/// A training workspace for one model (its adapter's rank; activation checkpointing or not) reused
/// across batches, reallocated with 25 % headroom only when a batch needs more tokens or a longer
/// sequence than it holds.
final class GrowingWorkspace {
    private var current: TrainingWorkspace?
    let model: LlamaModel
    let activationCheckpointing: Bool

    init(model: LlamaModel, activationCheckpointing: Bool) {
        self.model = model; self.activationCheckpointing = activationCheckpointing
    }

    /// Allocates once for the largest batch a run will see (a fresh workspace costs a page fault per
    /// 4 kB — seconds for a real model — so growing step by step is slow).
    func reserve(tokens need: Int, longest: Int) {
        if let ws = current, ws.capacity >= need, ws.maxSequenceLength >= longest { return }
        let capacity = max(need, current?.capacity ?? 0), length = max(longest, current?.maxSequenceLength ?? 0)
        current = nil   // freed before the new one is allocated
        current = TrainingWorkspace(model: model, capacity: capacity, maxSequenceLength: length,
                                    activationCheckpointing: activationCheckpointing)
    }

    func workspace(tokens need: Int, longest: Int) -> TrainingWorkspace {
        if let ws = current, ws.capacity >= need, ws.maxSequenceLength >= longest { return ws }
        let ws = TrainingWorkspace(model: model, capacity: max(need + need / 4, current?.capacity ?? 0),
                                   maxSequenceLength: max(longest + longest / 4, current?.maxSequenceLength ?? 0),
                                   activationCheckpointing: activationCheckpointing)
        current = ws
        return ws
    }
}
