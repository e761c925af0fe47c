// Every loss and its gradient against its paper formula evaluated by hand, and against finite
// differences of the formula.

import XCTest
@testable import Optimization

final class LossTests: XCTestCase {
    let pair = PairLogProbs(policyChosen: -12.0, policyRejected: -15.5, referenceChosen: -13.0, referenceRejected: -14.0,
                            chosenTokens: 4, rejectedTokens: 5, chosenTarget: 0.7, rejectedTarget: 0.3)
    // a = 1.0, b = −1.5, d = 2.5

    func value(_ kind: PreferenceLossKind, beta: Double = 0.1, eps: Double = 0, nll: Double = 0, _ p: PairLogProbs? = nil) throws -> PairLoss {
        var s = LossSettings(kind: kind, beta: beta, labelSmoothing: eps, nllWeight: nll)
        s.gpoClamp = 1000
        return try s.evaluate(p ?? pair)
    }

    func σ(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    func testHandComputedValues() throws {
        // sigmoid, ε = 0.1, β = 0.1: −0.9·log σ(0.25) − 0.1·log σ(−0.25)
        XCTAssertEqual(try value(.sigmoid, eps: 0.1).loss, -0.9 * log(σ(0.25)) - 0.1 * log(σ(-0.25)), accuracy: 1e-12)
        XCTAssertEqual(try value(.sigmoid).loss, 0.5759394198, accuracy: 1e-9)          // −log σ(0.25)
        XCTAssertEqual(try value(.robust, eps: 0.1).loss, (-0.9 * log(σ(0.25)) + 0.1 * log(σ(-0.25))) / 0.8, accuracy: 1e-12)
        XCTAssertEqual(try value(.hinge).loss, 0.75, accuracy: 1e-12)                    // 1 − 0.25
        XCTAssertEqual(try value(.hinge, beta: 1).loss, 0, accuracy: 1e-12)             // 1 − 2.5 < 0
        // ipo: d̄ = 1/4 − (−1.5)/5 = 0.55; (0.55 − 5)² = 19.8025
        XCTAssertEqual(try value(.ipo).loss, 19.8025, accuracy: 1e-9)
        // sppo_hard: (1 − 5)² + (−1.5 + 5)² = 16 + 12.25
        XCTAssertEqual(try value(.sppoHard).loss, 28.25, accuracy: 1e-9)
        // sppo: η = 10: ½[(1 − 10·0.2)² + (−1.5 − 10·(−0.2))²] = ½[1 + 0.25]
        XCTAssertEqual(try value(.sppo).loss, 0.625, accuracy: 1e-12)
        // gpo: ½[(1 − 10·0.7)² + (−1.5 − 10·0.3)²] = ½[36 + 20.25]
        XCTAssertEqual(try value(.gpo).loss, 28.125, accuracy: 1e-12)
        // sigmoid_norm: z = 1/4 + 1.5/5 = 0.55; −log σ(0.055)
        XCTAssertEqual(try value(.sigmoidNorm).loss, -log(σ(0.055)), accuracy: 1e-12)
        // RPO term: + α·12/4
        XCTAssertEqual(try value(.sigmoid, nll: 0.5).loss, 0.5759394198 + 1.5, accuracy: 1e-9)
        // Rewards are β·a and β·b.
        XCTAssertEqual(try value(.sigmoid).rewardChosen, 0.1, accuracy: 1e-12)
        XCTAssertEqual(try value(.sigmoid).rewardRejected, -0.15, accuracy: 1e-12)
    }

    func testGradientsMatchFiniteDifferencesOfTheFormula() throws {
        let h = 1e-6
        for kind in PreferenceLossKind.allCases {
            for (beta, eps, nll) in [(0.1, 0.0, 0.0), (0.1, 0.2, 0.0), (1e-3, 0.0, 0.3), (5.0, 0.1, 0.0)] {
                if eps > 0 && ![.sigmoid, .robust].contains(kind) { continue }
                let g = try value(kind, beta: beta, eps: eps, nll: nll)
                var up = pair, down = pair
                up.policyChosen += h; down.policyChosen -= h
                let fc = (try value(kind, beta: beta, eps: eps, nll: nll, up).loss - value(kind, beta: beta, eps: eps, nll: nll, down).loss) / (2 * h)
                up = pair; down = pair
                up.policyRejected += h; down.policyRejected -= h
                let fr = (try value(kind, beta: beta, eps: eps, nll: nll, up).loss - value(kind, beta: beta, eps: eps, nll: nll, down).loss) / (2 * h)
                let scale = max(1, abs(fc), abs(fr))
                XCTAssertEqual(g.dPolicyChosen, fc, accuracy: 1e-5 * scale, "\(kind) β=\(beta) ε=\(eps)")
                XCTAssertEqual(g.dPolicyRejected, fr, accuracy: 1e-5 * scale, "\(kind) β=\(beta) ε=\(eps)")
            }
        }
    }

    func testPolicyEqualsReferenceGivesLogTwoAndPushesTheRightWay() throws {
        let same = PairLogProbs(policyChosen: -7, policyRejected: -9, referenceChosen: -7, referenceRejected: -9,
                                chosenTokens: 3, rejectedTokens: 3)
        for eps in [0.0, 0.1, 0.3] {
            let l = try LossSettings(kind: .sigmoid, beta: 0.1, labelSmoothing: eps).evaluate(same)
            XCTAssertEqual(l.loss, log(2.0), "ε = \(eps)")
            XCTAssertLessThan(l.dPolicyChosen, 0, "descending raises log π(y_w)")
            XCTAssertGreaterThan(l.dPolicyRejected, 0)
        }
        XCTAssertEqual(try LossSettings(kind: .sigmoidNorm).evaluate(same).loss, log(2.0))
    }

    func testExtremeBetasStayFinite() throws {
        let far = PairLogProbs(policyChosen: -10, policyRejected: -2000, referenceChosen: -10, referenceRejected: -10,
                               chosenTokens: 3, rejectedTokens: 3)
        for kind in [PreferenceLossKind.sigmoid, .robust, .sigmoidNorm] {
            for beta in [1e-6, 1e3] {
                let l = try LossSettings(kind: kind, beta: beta).evaluate(far)
                XCTAssertTrue(l.loss.isFinite && l.dPolicyChosen.isFinite, "\(kind) β=\(beta)")
            }
        }
        // Very large negative margin: −log σ(−x) ≈ x, no overflow to inf.
        let wrong = PairLogProbs(policyChosen: -2000, policyRejected: -10, referenceChosen: -10, referenceRejected: -10,
                                 chosenTokens: 3, rejectedTokens: 3)
        XCTAssertEqual(try LossSettings(kind: .sigmoid, beta: 1).evaluate(wrong).loss, 1990, accuracy: 1e-9)
    }

    func testInvalidSettingsAndMissingTargets() {
        XCTAssertThrowsError(try LossSettings(kind: .sigmoid, beta: 0).validate())
        XCTAssertThrowsError(try LossSettings(kind: .sigmoid, beta: 0.1, labelSmoothing: 0.5).validate())
        XCTAssertThrowsError(try LossSettings(kind: .ipo, beta: 0.1, labelSmoothing: 0.1).validate())
        var p = pair
        p.chosenTarget = nil
        XCTAssertThrowsError(try LossSettings(kind: .sppo).evaluate(p)) { XCTAssertTrue("\($0)".contains("sppo")) }
    }

    func testSchedules() {
        var s = OptimizerSettings()
        s.learningRate = 1; s.warmupSteps = 2
        s.schedule = .linear
        XCTAssertEqual((0..<6).map { learningRate(s, step: $0, totalSteps: 6) }, [0, 0.5, 1, 0.75, 0.5, 0.25])
        s.schedule = .cosine
        XCTAssertEqual(learningRate(s, step: 4, totalSteps: 6), 0.5, accuracy: 1e-12)
        s.schedule = .constant; s.warmupSteps = nil; s.warmupRatio = 0.1
        XCTAssertEqual(learningRate(s, step: 0, totalSteps: 20), 0)
        XCTAssertEqual(learningRate(s, step: 2, totalSteps: 20), 1)
    }
}
