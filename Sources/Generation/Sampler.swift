// Token sampling from logits: greedy, temperature, top-k and top-p (nucleus), in one screen.

import Foundation
import Kernels
import Llama
import Support

/// How to pick the next token.
public struct SamplingParameters: Codable, Equatable, Sendable {
    /// Softmax temperature; 0 means greedy (argmax).
    public var temperature: Double = 1.0
    /// Keep the smallest set of tokens whose probability reaches `topP` (1 keeps all).
    public var topP: Double = 1.0
    /// Keep the `topK` most likely tokens (0 keeps all).
    public var topK: Int = 0
    public init(temperature: Double = 1.0, topP: Double = 1.0, topK: Int = 0) {
        self.temperature = temperature; self.topP = topP; self.topK = topK
    }
}

/// Samples one token from a row of logits (V) with a caller-owned random stream.
/// Scratch buffers are allocated once per vocabulary size and reused.
public final class Sampler {
    public let parameters: SamplingParameters
    private var probs: [Float]
    private var order: [Int32]

    public init(parameters: SamplingParameters, vocabularySize: Int) {
        self.parameters = parameters
        probs = [Float](repeating: 0, count: vocabularySize)
        order = [Int32](repeating: 0, count: vocabularySize)
    }

    /// p_v = softmax(logits / T); restrict to top-k, then to the top-p nucleus; draw u ~ U[0, 1)
    /// from `rng` and return the first token whose cumulative (renormalised) probability exceeds u.
    public func sample(logits: UnsafePointer<Float>, count V: Int, rng: inout SplitMix64) -> Int32 {
        if parameters.temperature <= 0 { return argmax(logits, V) }
        let invT = Float(1 / parameters.temperature)
        let m = VectorMath.max(logits, V)
        // probs = exp(logits/T − max/T), vectorised
        let sum: Double = probs.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            for v in 0..<V { base[v] = logits[v] * invT }
            return VectorMath.expShiftedInPlace(base, V, shift: m * invT)
        }
        let u = Double(rng.nextUnitFloat())
        if parameters.topK <= 0 && parameters.topP >= 1 {
            // Plain multinomial over the full vocabulary.
            var acc: Double = 0
            let target = u * sum
            for v in 0..<V { acc += Double(probs[v]); if acc > target { return Int32(v) } }
            return Int32(V - 1)
        }
        // Tokens below (1 − top_p)/(V − 1) of the mass can never be inside the nucleus (llama2.c's
        // trick), so only the rest is sorted (ties: lower id first, so results are reproducible).
        let cutoff = parameters.topP < 1 ? Float((1 - parameters.topP) / Double(V - 1) * sum) : 0
        var n = 0
        for v in 0..<V where probs[v] >= cutoff { order[n] = Int32(v); n += 1 }
        let p = probs
        order[0..<n].sort { p[Int($0)] != p[Int($1)] ? p[Int($0)] > p[Int($1)] : $0 < $1 }
        let k = parameters.topK > 0 ? min(parameters.topK, n) : n
        var kept = k, mass: Double = 0
        for i in 0..<k {
            mass += Double(p[Int(order[i])])
            if mass >= parameters.topP * sum { kept = i + 1; break }
        }
        var total: Double = 0
        for i in 0..<kept { total += Double(p[Int(order[i])]) }
        var acc: Double = 0
        for i in 0..<kept {
            acc += Double(p[Int(order[i])])
            if acc > u * total { return order[i] }
        }
        return order[kept - 1]
    }

    func argmax(_ logits: UnsafePointer<Float>, _ V: Int) -> Int32 {
        var best = 0
        for v in 1..<V where logits[v] > logits[best] { best = v }
        return Int32(best)
    }
}
