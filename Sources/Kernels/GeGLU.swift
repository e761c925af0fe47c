// The GeGLU gate of the Gemma MLP: h = gelu_tanh(g) ⊙ u, with PyTorch's tanh-approximated GELU
// (`gelu_pytorch_tanh`): gelu(g) = ½ g (1 + tanh(√(2/π) (g + 0.044715 g³))).

import Foundation

public enum GeGLU {
    static let c: Float = 0.7978845608028654   // √(2/π)
    static let a: Float = 0.044715

    /// out (N·F) = gelu_tanh(gate) ⊙ up, elementwise over `count` values.
    public static func forward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>,
                               up: UnsafePointer<Float>, count: Int) {
        Parallel.forEachChunk(count, minPerChunk: 4096) { range in
            for i in range {
                let g = gate[i], t = tanhf(c * (g + a * g * g * g))
                out[i] = 0.5 * g * (1 + t) * up[i]
            }
        }
    }

    /// Backward of `out = gelu_tanh(g) ⊙ u`, with t = tanh(√(2/π)(g + 0.044715 g³)):
    ///   gelu'(g) = ½ (1 + t) + ½ g (1 − t²) √(2/π) (1 + 3 · 0.044715 g²)
    ///   dGate += dOut · u · gelu'(g);   dUp += dOut · gelu(g)
    public static func backward(dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                count: Int) {
        Parallel.forEachChunk(count, minPerChunk: 4096) { range in
            for i in range {
                let g = gate[i], t = tanhf(c * (g + a * g * g * g))
                let derivative = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * c * (1 + 3 * a * g * g)
                dGate[i] += dOut[i] * up[i] * derivative
                dUp[i] += dOut[i] * 0.5 * g * (1 + t)
            }
        }
    }
}
