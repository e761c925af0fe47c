// Optimizers (AdamW, RMSProp, SGD) over one flat parameter buffer, their moments in the same
// ParameterLayout, learning-rate schedules with warmup, and global-norm gradient clipping.

import Foundation
import Kernels
import Llama

public enum OptimizerKind: String, Codable, CaseIterable, Sendable { case adamw, rmsprop, sgd }
public enum ScheduleKind: String, Codable, CaseIterable, Sendable { case constant, linear, cosine }

public struct OptimizerSettings: Codable, Equatable, Sendable {
    public var kind: OptimizerKind = .adamw
    public var learningRate: Double = 5e-7
    public var weightDecay: Double = 0
    /// AdamW β1, β2; RMSProp uses `beta2` as its smoothing constant α (set by `init(kind:)`).
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    /// SGD momentum (0: plain SGD).
    public var momentum: Double = 0
    public var schedule: ScheduleKind = .cosine
    /// Warmup as a fraction of total steps (used when `warmupSteps` is nil).
    public var warmupRatio: Double = 0
    public var warmupSteps: Int? = nil
    /// Clip the global gradient norm to this (0 disables).
    public var maxGradNorm: Double = 1.0
    /// PyTorch's defaults for `kind`: β2 = 0.999 for AdamW; α = 0.99 for RMSProp.
    public init(kind: OptimizerKind = .adamw) {
        self.kind = kind
        if kind == .rmsprop { beta2 = 0.99 }
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total`, as transformers' schedulers give it:
/// warmup: lr·step/warmup; then constant: lr; linear: lr·(total − step)/(total − warmup);
/// cosine: lr·½(1 + cos(π·(step − warmup)/(total − warmup))).
public func learningRate(_ s: OptimizerSettings, step: Int, totalSteps: Int) -> Double {
    let warmup = s.warmupSteps ?? Int((s.warmupRatio * Double(totalSteps)).rounded(.up))
    if step < warmup { return s.learningRate * Double(step) / Double(max(1, warmup)) }
    let span = Double(max(1, totalSteps - warmup))
    let progress = Double(step - warmup) / span
    switch s.schedule {
    case .constant: return s.learningRate
    case .linear: return s.learningRate * max(0, (Double(totalSteps - step)) / span)
    case .cosine: return s.learningRate * max(0, 0.5 * (1 + cos(Double.pi * progress)))
    }
}

public final class Optimizer {
    public let settings: OptimizerSettings
    /// Number of parameters it updates (a model's, or its adapter's).
    public let parameterCount: Int
    /// Moments, each in the parameter layout: AdamW exp_avg, exp_avg_sq; RMSProp square_avg; SGD momentum_buffer.
    public private(set) var moments: [(name: String, values: FloatBuffer)]
    /// Optimizer steps taken.
    public private(set) var step: Int = 0

    public init(settings: OptimizerSettings, parameterCount: Int) {
        self.settings = settings
        self.parameterCount = parameterCount
        let names: [String]
        switch settings.kind {
        case .adamw: names = ["exp_avg", "exp_avg_sq"]
        case .rmsprop: names = ["square_avg"]
        case .sgd: names = settings.momentum > 0 ? ["momentum_buffer"] : []
        }
        moments = names.map { ($0, FloatBuffer(count: parameterCount)) }
    }

    /// Restores moments and step from a checkpoint (names must match this optimizer).
    public func restore(_ state: OptimizerState) throws {
        guard state.name == settings.kind.rawValue, state.moments.map(\.name) == moments.map(\.name) else {
            throw LossError.invalid("checkpoint optimizer '\(state.name)' with moments \(state.moments.map(\.name)) does not match '\(settings.kind.rawValue)'")
        }
        for (i, m) in state.moments.enumerated() { moments[i].values.copy(from: m.values) }
        step = state.step
    }

    public func state() -> OptimizerState {
        let json = (try? String(decoding: JSONEncoder.sortedCompact.encode(settings), as: UTF8.self)) ?? "{}"
        return OptimizerState(name: settings.kind.rawValue, step: step, hyperparametersJSON: json, moments: moments)
    }

    /// ‖g‖₂ over the whole buffer (accumulated in Double).
    public static func globalNorm(_ g: FloatBuffer) -> Double {
        var total = 0.0
        let p = g.pointer
        var i = 0
        while i < g.count {
            let n = min(4096, g.count - i)
            total += Double(VectorMath.dot(p + i, p + i, n))
            i += n
        }
        return total.squareRoot()
    }

    /// Clips (if configured) and applies one update with learning rate `lr`; returns the gradient
    /// norm before clipping. Non-finite gradients are refused (nothing is changed).
    @discardableResult
    public func apply(parameters: FloatBuffer, gradients: FloatBuffer, lr: Double, gradientNorm: Double? = nil) throws -> Double {
        let norm = gradientNorm ?? Self.globalNorm(gradients)
        guard norm.isFinite else { throw TrainingError.diverged("gradient norm is \(norm)") }
        var scale: Float = 1
        if settings.maxGradNorm > 0 && norm > settings.maxGradNorm {
            scale = Float(settings.maxGradNorm / (norm + 1e-6))   // PyTorch clip_grad_norm_
        }
        step += 1
        let θ = parameters.pointer, g = gradients.pointer, n = parameters.count
        let lrF = Float(lr), wd = Float(settings.weightDecay), eps = Float(settings.epsilon)
        switch settings.kind {
        case .adamw:
            /// θ ← θ·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
            /// θ ← θ − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
            let b1 = Float(settings.beta1), b2 = Float(settings.beta2)
            let c1 = Float(1 - pow(settings.beta1, Double(step))), c2 = Float(1 - pow(settings.beta2, Double(step)))
            let m = moments[0].values.pointer, v = moments[1].values.pointer
            let stepSize = lrF / c1, c2Root = c2.squareRoot()
            Parallel.forEachChunk(n, minPerChunk: 16384) { r in
                for i in r {
                    let gi = g[i] * scale
                    θ[i] *= 1 - lrF * wd
                    m[i] = b1 * m[i] + (1 - b1) * gi
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    θ[i] -= stepSize * m[i] / (v[i].squareRoot() / c2Root + eps)
                }
            }
        case .rmsprop:
            /// v ← α·v + (1−α)·g²;  θ ← θ − lr · g / (√v + ε)   (weight decay added to g, as PyTorch)
            let α = Float(settings.beta2)
            let v = moments[0].values.pointer
            Parallel.forEachChunk(n, minPerChunk: 16384) { r in
                for i in r {
                    let gi = g[i] * scale + wd * θ[i]
                    v[i] = α * v[i] + (1 - α) * gi * gi
                    θ[i] -= lrF * gi / (v[i].squareRoot() + eps)
                }
            }
        case .sgd:
            /// b ← μ·b + g (b = g at the first step);  θ ← θ − lr · b   (weight decay added to g)
            let μ = Float(settings.momentum)
            let buf = moments.first?.values.pointer
            let first = step == 1
            Parallel.forEachChunk(n, minPerChunk: 16384) { r in
                for i in r {
                    var gi = g[i] * scale + wd * θ[i]
                    if let buf { buf[i] = first ? gi : μ * buf[i] + gi; gi = buf[i] }
                    θ[i] -= lrF * gi
                }
            }
        }
        return norm
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case diverged(String)
    case invalid(String)
    public var description: String {
        switch self {
        case .diverged(let s): return "training diverged: \(s)"
        case .invalid(let s): return s
        }
    }
}

extension JSONEncoder {
    static var sortedCompact: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
