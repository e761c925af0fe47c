// Rotary position embedding in the Hugging Face "rotate-half" layout.

import Foundation

/// cos/sin tables, (positions, headDim/2) each, built from inverse frequencies as transformers does:
/// freqs = Float(pos) · invFreq[i] (a Float product), cos/sin evaluated on that Float.
public struct RoPETable: @unchecked Sendable {
    public let headDim: Int
    public let positions: Int
    public let cos: FloatBuffer
    public let sin: FloatBuffer

    public init(inverseFrequencies invFreq: [Float], positions: Int) {
        let half = invFreq.count
        headDim = half * 2
        self.positions = positions
        cos = FloatBuffer(count: positions * half)
        sin = FloatBuffer(count: positions * half)
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                cos[p * half + i] = Float(Foundation.cos(Double(angle)))
                sin[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
    }
}

public enum RoPE {
    /// In place, for each row n at position pos[n] and each head, with half = headDim/2:
    ///   x1' = x1·cos − x2·sin,  x2' = x2·cos + x1·sin        (x1 = x[i], x2 = x[i+half])
    /// i.e. HF's `q·cos + rotate_half(q)·sin`.  x is (N, heads·headDim).
    ///
    /// Backward: the rotation is orthogonal, so the gradient is the inverse rotation of dOut
    /// (`inverse: true`, sin → −sin), applied in place on the gradient buffer:
    ///   dx1 = dx1'·cos + dx2'·sin,  dx2 = dx2'·cos − dx1'·sin
    public static func apply(_ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>,
                             rows: Int, heads: Int, table: RoPETable, inverse: Bool = false) {
        let hd = table.headDim, half = hd / 2
        let cosT = table.cos.pointer, sinT = table.sin.pointer
        let sign: Float = inverse ? -1 : 1
        Parallel.forEachChunk(rows, minPerChunk: 32) { range in
            for n in range {
                let p = Int(positions[n])
                let c = cosT + p * half, s = sinT + p * half
                for h in 0..<heads {
                    let x1 = x + n * heads * hd + h * hd, x2 = x1 + half
                    for i in 0..<half {
                        let a = x1[i], b = x2[i], sn = sign * s[i]
                        x1[i] = a * c[i] - b * sn
                        x2[i] = b * c[i] + a * sn
                    }
                }
            }
        }
    }
}
