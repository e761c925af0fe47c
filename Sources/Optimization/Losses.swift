// Preference losses on sequence log-probabilities, each with its gradient written by hand.
//
// Notation (sums over response tokens): a = log πθ(y_w) − log πref(y_w), b = log πθ(y_l) − log πref(y_l),
// d = a − b, β > 0, ε = label smoothing, |y| = response tokens, σ = logistic function.
// Every loss returns ∂L/∂log πθ(y_w) and ∂L/∂log πθ(y_l) (the reference log-probs are constants).

import Foundation

public enum PreferenceLossKind: String, Codable, CaseIterable, Sendable {
    case sigmoid, robust, hinge, ipo
    case sppoHard = "sppo_hard"
    case sppo, gpo
    case sigmoidNorm = "sigmoid_norm"

    /// Whether the loss needs per-response targets (SPPO probabilities / GPO scores).
    public var needsTargets: Bool { self == .sppo || self == .gpo }
}

public struct LossSettings: Codable, Equatable, Sendable {
    public var kind: PreferenceLossKind = .sigmoid
    public var beta: Double = 0.1
    public var labelSmoothing: Double = 0
    /// α of the RPO term α · (−log πθ(y_w) / |y_w|); 0 disables it.
    public var nllWeight: Double = 0
    /// Bound on GPO's score targets.
    public var gpoClamp: Double = 1000
    public init(kind: PreferenceLossKind = .sigmoid, beta: Double = 0.1, labelSmoothing: Double = 0, nllWeight: Double = 0) {
        self.kind = kind; self.beta = beta; self.labelSmoothing = labelSmoothing; self.nllWeight = nllWeight
    }
}

/// One pair's sequence log-probabilities (summed over response tokens) and what the loss may need.
public struct PairLogProbs: Sendable, Equatable {
    public var policyChosen: Double
    public var policyRejected: Double
    public var referenceChosen: Double
    public var referenceRejected: Double
    public var chosenTokens: Int
    public var rejectedTokens: Int
    /// SPPO: p̂(y) = mean_j P(y ≻ y_j) over the k samples (self included). GPO: mean_j s(y ≻ y_j)/τ.
    public var chosenTarget: Double?
    public var rejectedTarget: Double?
    public init(policyChosen: Double, policyRejected: Double, referenceChosen: Double, referenceRejected: Double,
                chosenTokens: Int, rejectedTokens: Int, chosenTarget: Double? = nil, rejectedTarget: Double? = nil) {
        self.policyChosen = policyChosen; self.policyRejected = policyRejected
        self.referenceChosen = referenceChosen; self.referenceRejected = referenceRejected
        self.chosenTokens = chosenTokens; self.rejectedTokens = rejectedTokens
        self.chosenTarget = chosenTarget; self.rejectedTarget = rejectedTarget
    }
}

public struct PairLoss: Sendable, Equatable {
    public var loss: Double
    /// ∂L/∂ log πθ(y_w), ∂L/∂ log πθ(y_l)
    public var dPolicyChosen: Double
    public var dPolicyRejected: Double
    /// β·a and β·b (TRL's rewards/chosen, rewards/rejected)
    public var rewardChosen: Double
    public var rewardRejected: Double
}

public enum LossError: Error, CustomStringConvertible {
    case missingTargets(PreferenceLossKind)
    case invalid(String)
    public var description: String {
        switch self {
        case .missingTargets(let k):
            return "loss '\(k.rawValue)' needs per-response targets (\(k == .sppo ? "round-robin preference probabilities" : "general-preference scores")), which these pairs do not carry"
        case .invalid(let s): return s
        }
    }
}

@inline(__always) func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
/// log σ(x), stable for large |x|.
@inline(__always) func logSigmoid(_ x: Double) -> Double { x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)) }

extension LossSettings {
    /// The loss of one pair and its gradient with respect to the policy's sequence log-probs.
    public func evaluate(_ p: PairLogProbs) throws -> PairLoss {
        let a = p.policyChosen - p.referenceChosen, b = p.policyRejected - p.referenceRejected, d = a - b
        let β = beta, ε = labelSmoothing
        var loss: Double, dc: Double, dr: Double
        switch kind {
        case .sigmoid:
            /// L = −(1−ε)·log σ(βd) − ε·log σ(−βd);   ∂L/∂d = −(1−ε)·β·σ(−βd) + ε·β·σ(βd)
            loss = -(1 - ε) * logSigmoid(β * d) - ε * logSigmoid(-β * d)
            let g = -(1 - ε) * β * sigmoid(-β * d) + ε * β * sigmoid(β * d)
            dc = g; dr = -g
        case .robust:
            /// L = [−(1−ε)·log σ(βd) + ε·log σ(−βd)] / (1 − 2ε);   ∂L/∂d = [−(1−ε)·β·σ(−βd) − ε·β·σ(βd)] / (1 − 2ε)
            loss = (-(1 - ε) * logSigmoid(β * d) + ε * logSigmoid(-β * d)) / (1 - 2 * ε)
            let g = (-(1 - ε) * β * sigmoid(-β * d) - ε * β * sigmoid(β * d)) / (1 - 2 * ε)
            dc = g; dr = -g
        case .hinge:
            /// L = max(0, 1 − βd);   ∂L/∂d = −β where 1 − βd > 0, else 0
            loss = max(0, 1 - β * d)
            let g = 1 - β * d > 0 ? -β : 0
            dc = g; dr = -g
        case .ipo:
            /// d̄ = a/|y_w| − b/|y_l| (per-token averaged log-ratios);  L = (d̄ − 1/(2β))²
            /// ∂L/∂log πθ(y_w) = 2(d̄ − 1/(2β))/|y_w|,  ∂L/∂log πθ(y_l) = −2(d̄ − 1/(2β))/|y_l|
            let dBar = a / Double(p.chosenTokens) - b / Double(p.rejectedTokens)
            let r = dBar - 1 / (2 * β)
            loss = r * r
            dc = 2 * r / Double(p.chosenTokens); dr = -2 * r / Double(p.rejectedTokens)
        case .sppoHard:
            /// L = (a − 1/(2β))² + (b + 1/(2β))²
            let rw = a - 1 / (2 * β), rl = b + 1 / (2 * β)
            loss = rw * rw + rl * rl
            dc = 2 * rw; dr = 2 * rl
        case .sppo, .gpo:
            /// SPPO: L = ½[(a − η(p̂_w − ½))² + (b − η(p̂_l − ½))²], η = 1/β
            /// GPO:  L = ½[(a − η·ĝ_w)² + (b − η·ĝ_l)²], ĝ = clamp(mean_j s(y ≻ y_j)/τ, ±clamp)
            guard let tw = p.chosenTarget, let tl = p.rejectedTarget else { throw LossError.missingTargets(kind) }
            let η = 1 / β
            let targetW = kind == .sppo ? η * (tw - 0.5) : η * min(max(tw, -gpoClamp), gpoClamp)
            let targetL = kind == .sppo ? η * (tl - 0.5) : η * min(max(tl, -gpoClamp), gpoClamp)
            let rw = a - targetW, rl = b - targetL
            loss = 0.5 * (rw * rw + rl * rl)
            dc = rw; dr = rl
        case .sigmoidNorm:
            /// z = a/|y_w| − b/|y_l|;  L = −log σ(βz);  ∂L/∂z = −β·σ(−βz)
            let z = a / Double(p.chosenTokens) - b / Double(p.rejectedTokens)
            loss = -logSigmoid(β * z)
            let g = -β * sigmoid(-β * z)
            dc = g / Double(p.chosenTokens); dr = -g / Double(p.rejectedTokens)
        }
        if nllWeight > 0 {
            /// RPO: + α · (−log πθ(y_w) / |y_w|)
            loss += nllWeight * (-p.policyChosen / Double(p.chosenTokens))
            dc += -nllWeight / Double(p.chosenTokens)
        }
        return PairLoss(loss: loss, dPolicyChosen: dc, dPolicyRejected: dr, rewardChosen: β * a, rewardRejected: β * b)
    }
}
