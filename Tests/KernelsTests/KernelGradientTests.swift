// Every kernel's backward against central finite differences of an independent Double
// implementation of its forward, and every Float forward against that Double forward.

import XCTest
import Kernels
import Llama
import TestSupport

final class KernelGradientTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    /// Every kernel check again on each narrower SIMD path this CPU has (AVX2 + FMA, SSE2 baseline;
    /// the widest is what the other tests run on): the run-time dispatch is right on every path.
    func testEveryKernelOnEveryNarrowerSIMDPath() throws {
        defer { MachineLimits.forceSIMDPath(nil) }
        for path in MachineLimits.availableSIMDPaths.dropFirst() {
            MachineLimits.forceSIMDPath(path)
            XCTAssertEqual(MachineLimits.simdPath, path)
            try testAttentionBlockedLongSequences(); try testAttentionPackedGQA(); try testEmbedding()
            try testFastExpAccuracy(); try testLinear(); try testLoRALinear(); try testRMSNorm(); try testRoPE(); try testSwiGLU()
            try testTargetLogProbs()
        }
    }

    func assertClose<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B], _ tol: Double, _ what: String,
                                                                      file: StaticString = #filePath, line: UInt = #line) {
        let c = compare(a, b)
        XCTAssertLessThanOrEqual(c.relativeError, tol, "\(what): \(c)", file: file, line: line)
    }

    func testLinear() {
        var r = TestRandom(seed: 1)
        let N = 5, I = 7, O = 6
        let x = r.gaussian(N * I), w = r.gaussian(O * I), g = r.gaussian(N * O)
        func ref(_ p: [Double]) -> [Double] {   // y = x Wᵀ
            var y = [Double](repeating: 0, count: N * O)
            for n in 0..<N { for o in 0..<O { for i in 0..<I { y[n * O + o] += p[n * I + i] * p[N * I + o * I + i] } } }
            return y
        }
        var y = [Float](repeating: 0, count: N * O)
        Linear.forward(y: &y, x: x, weight: w, rows: N, inFeatures: I, outFeatures: O)
        assertClose(y, ref(x.doubles + w.doubles), 1e-6, "linear forward")
        // The training path's forward and backward, on rows padded to the row tile (padding rows zero)
        // and weight gradients formed over two segments of rows.
        let padded = Matmul.paddedRows(N)
        let xp = x + [Float](repeating: 0, count: (padded - N) * I), gp = g + [Float](repeating: 0, count: (padded - N) * O)
        var yp = [Float](repeating: 0, count: padded * O)
        Linear.batchInvariantForward(y: &yp, x: xp, weight: w, rows: padded, inFeatures: I, outFeatures: O)
        assertClose(Array(yp[0..<N * O]), ref(x.doubles + w.doubles), 1e-6, "batch-invariant linear forward")
        var dx = [Float](repeating: 0, count: padded * I), dw = [Float](repeating: 0, count: O * I)
        Linear.batchInvariantBackward(dx: &dx, dWeight: &dw, dy: gp, x: xp, weight: w, rows: padded, segments: [0..<2, 2..<N],
                                      inFeatures: I, outFeatures: O)
        let fd = finiteDifferences(x.doubles + w.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(Array(dx[0..<N * I]), Array(fd[0..<N * I]), 1e-6, "linear dx")
        assertClose(dw, Array(fd[(N * I)...]), 1e-6, "linear dW")
        // Single-row path (sgemv) equals the gemm path.
        var y1 = [Float](repeating: 0, count: O)
        Linear.forward(y: &y1, x: Array(x[0..<I]), weight: w, rows: 1, inFeatures: I, outFeatures: O)
        assertClose(y1, Array(y[0..<O]), 1e-6, "linear single row")
    }

    /// LoRA's low-rank path, y = x Wᵀ + s · (x Aᵀ) Bᵀ: forward (both product kinds) against a Double
    /// reference; backward's dx, dA, dB against finite differences, with a 16-bit frozen W (input
    /// gradient only) and weight gradients formed over two row segments.
    func testLoRALinear() {
        var r = TestRandom(seed: 11)
        let N = 5, I = 7, O = 6, R = 3, s: Float = 1.7
        let x = r.gaussian(N * I), a = r.gaussian(R * I), b = r.gaussian(O * R), g = r.gaussian(N * O)
        // W rounded to bf16 so the frozen base can be read as 16 bits and as float32 alike.
        let w = r.gaussian(O * I).map { Float(bitPattern: UInt32(WeightMatrix.bfloat16Bits($0)) << 16) }
        let w16 = w.map { WeightMatrix.bfloat16Bits($0) }
        func ref(_ p: [Double]) -> [Double] {   // p = x ‖ A ‖ B
            let pa = N * I, pb = pa + R * I
            var y = [Double](repeating: 0, count: N * O)
            for n in 0..<N {
                var u = [Double](repeating: 0, count: R)
                for k in 0..<R { for i in 0..<I { u[k] += p[n * I + i] * p[pa + k * I + i] } }
                for o in 0..<O {
                    var v = 0.0
                    for i in 0..<I { v += p[n * I + i] * Double(w[o * I + i]) }
                    for k in 0..<R { v += Double(s) * u[k] * p[pb + o * R + k] }
                    y[n * O + o] = v
                }
            }
            return y
        }
        let expected = ref(x.doubles + a.doubles + b.doubles)
        var y = [Float](repeating: 0, count: N * O), u = [Float](repeating: 0, count: N * R)
        Linear.forward(y: &y, x: x, weight: w, rows: N, inFeatures: I, outFeatures: O)
        LoRALinear.forward(y: &y, u: &u, x: x, a: a, b: b, scale: s, rows: N, inFeatures: I, outFeatures: O, rank: R, batchInvariant: false)
        assertClose(y, expected, 1e-6, "LoRA forward")
        let padded = Matmul.paddedRows(N)
        let xp = x + [Float](repeating: 0, count: (padded - N) * I), gp = g + [Float](repeating: 0, count: (padded - N) * O)
        var yp = [Float](repeating: 0, count: padded * O), up = [Float](repeating: 0, count: padded * R)
        w16.withUnsafeBufferPointer { wb in
            let frozen = WeightMatrix(base: UnsafeRawPointer(wb.baseAddress!), element: .bfloat16)
            Linear.batchInvariantForward(y: &yp, x: xp, weight: frozen, rows: padded, inFeatures: I, outFeatures: O)
            LoRALinear.forward(y: &yp, u: &up, x: xp, a: a, b: b, scale: s, rows: padded, inFeatures: I, outFeatures: O, rank: R,
                               batchInvariant: true)
            assertClose(Array(yp[0..<N * O]), expected, 1e-6, "batch-invariant LoRA forward")
            var dx = [Float](repeating: 0, count: padded * I), da = [Float](repeating: 0, count: R * I)
            var db = [Float](repeating: 0, count: O * R), du = [Float](repeating: 0, count: padded * R)
            Linear.batchInvariantInputGradient(dx: &dx, dy: gp, weight: frozen, rows: padded, inFeatures: I, outFeatures: O)
            LoRALinear.backward(dx: &dx, dA: &da, dB: &db, du: &du, dy: gp, x: xp, u: up, a: a, b: b, scale: s, rows: padded,
                                segments: [0..<2, 2..<N], inFeatures: I, outFeatures: O, rank: R)
            let fd = finiteDifferences(x.doubles + a.doubles + b.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
            assertClose(Array(dx[0..<N * I]), Array(fd[0..<N * I]), 1e-6, "LoRA dx")
            assertClose(da, Array(fd[(N * I)..<(N * I + R * I)]), 1e-6, "LoRA dA")
            assertClose(db, Array(fd[(N * I + R * I)...]), 1e-6, "LoRA dB")
        }
    }

    func testRMSNorm() {
        var r = TestRandom(seed: 2)
        let N = 4, D = 19
        let eps = 1e-5
        let x = r.gaussian(N * D), w = r.uniform(D, 0.5, 1.5), g = r.gaussian(N * D)
        func ref(_ p: [Double]) -> [Double] {
            var y = [Double](repeating: 0, count: N * D)
            for n in 0..<N {
                var ms = 0.0
                for d in 0..<D { ms += p[n * D + d] * p[n * D + d] }
                let rs = 1 / (ms / Double(D) + eps).squareRoot()
                for d in 0..<D { y[n * D + d] = p[n * D + d] * rs * p[N * D + d] }
            }
            return y
        }
        var y = [Float](repeating: 0, count: N * D), rstd = [Float](repeating: 0, count: N)
        RMSNorm.forward(out: &y, rstd: &rstd, x: x, weight: w, rows: N, dim: D, eps: Float(eps))
        assertClose(y, ref(x.doubles + w.doubles), 1e-6, "rmsnorm forward")
        var dx = [Float](repeating: 0, count: N * D), dw = [Float](repeating: 0, count: D)
        var scratch = [Float](repeating: 0, count: Parallel.maxThreads * D)
        RMSNorm.backward(dx: &dx, dWeight: &dw, dOut: g, x: x, weight: w, rstd: rstd, rows: N, dim: D, scratch: &scratch)
        let fd = finiteDifferences(x.doubles + w.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dx, Array(fd[0..<N * D]), 1e-5, "rmsnorm dx")
        assertClose(dw, Array(fd[(N * D)...]), 1e-5, "rmsnorm dW")
    }

    func testBias() {
        // y = x + b per row (the bias half of x Wᵀ + b); dB = Σ_n dy[n], summed by segment
        var r = TestRandom(seed: 12)
        let N = 5, O = 21
        let x = r.gaussian(N * O), b = r.gaussian(O), g = r.gaussian(N * O)
        func ref(_ p: [Double]) -> [Double] { (0..<N * O).map { p[$0] + p[N * O + $0 % O] } }
        var y = x
        Bias.forward(y: &y, bias: b, rows: N, outFeatures: O)
        assertClose(y, ref(x.doubles + b.doubles), 1e-6, "bias forward")
        var db = [Float](repeating: 0.5, count: O), scratch = [Float](repeating: 0, count: Parallel.maxThreads * O)
        Bias.backward(dBias: &db, dy: g, rows: N, outFeatures: O, segments: [0..<2, 2..<5], scratch: &scratch)
        let fd = finiteDifferences(x.doubles + b.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(db.map { $0 - 0.5 }, Array(fd[(N * O)...]), 1e-5, "bias dB (accumulated)")
    }

    func testRoPE() throws {
        var r = TestRandom(seed: 3)
        let config = try LlamaConfig(hiddenSize: 16, intermediateSize: 8, numHiddenLayers: 1, numAttentionHeads: 2,
                                     ropeTheta: 500000, ropeScaling: RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                                                                  originalMaxPositionEmbeddings: 16),
                                     maxPositionEmbeddings: 32, vocabSize: 4)
        let table = RoPETable(inverseFrequencies: config.inverseFrequencies(), positions: 32)
        let heads = 2, hd = 8, half = 4
        let positions: [Int32] = [0, 3, 5, 31]
        let N = positions.count
        let x = r.gaussian(N * heads * hd), g = r.gaussian(N * heads * hd)
        func ref(_ p: [Double]) -> [Double] {
            var y = p
            for n in 0..<N { for h in 0..<heads { for i in 0..<half {
                let pos = Int(positions[n])
                let c = Double(table.cos[pos * half + i]), s = Double(table.sin[pos * half + i])
                let a = p[n * heads * hd + h * hd + i], b = p[n * heads * hd + h * hd + i + half]
                y[n * heads * hd + h * hd + i] = a * c - b * s
                y[n * heads * hd + h * hd + i + half] = b * c + a * s
            } } }
            return y
        }
        var y = x
        RoPE.apply(&y, positions: positions, rows: N, heads: heads, table: table)
        assertClose(y, ref(x.doubles), 1e-6, "rope forward")
        var dx = g
        RoPE.apply(&dx, positions: positions, rows: N, heads: heads, table: table, inverse: true)
        let fd = finiteDifferences(x.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dx, fd, 1e-6, "rope backward")
        // Position 0 is the identity.
        XCTAssertEqual(Array(y[0..<heads * hd]), Array(x[0..<heads * hd]))
    }

    func testSwiGLU() {
        var r = TestRandom(seed: 4)
        let n = 37   // not a multiple of 8: exercises the scalar tail
        let gate = r.gaussian(n, std: 3), up = r.gaussian(n), g = r.gaussian(n)
        func ref(_ p: [Double]) -> [Double] { (0..<n).map { i in p[i] / (1 + exp(-p[i])) * p[n + i] } }
        var y = [Float](repeating: 0, count: n)
        SwiGLU.forward(out: &y, gate: gate, up: up, count: n)
        assertClose(y, ref(gate.doubles + up.doubles), 1e-6, "swiglu forward")
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        SwiGLU.backward(dGate: &dg, dUp: &du, dOut: g, gate: gate, up: up, count: n)
        let fd = finiteDifferences(gate.doubles + up.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dg, Array(fd[0..<n]), 1e-5, "swiglu dGate")
        assertClose(du, Array(fd[n...]), 1e-5, "swiglu dUp")
    }

    func testGeGLUAndTheOffsetNorm() {
        var r = TestRandom(seed: 14)
        let n = 37
        let g = r.gaussian(n), u = r.gaussian(n), d = r.gaussian(n)
        func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
        func ref(_ p: [Double]) -> [Double] { (0..<n).map { gelu(p[$0]) * p[n + $0] } }
        var out = [Float](repeating: 0, count: n)
        GeGLU.forward(out: &out, gate: g, up: u, count: n)
        assertClose(out, ref(g.doubles + u.doubles), 1e-6, "geglu forward")
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        GeGLU.backward(dGate: &dg, dUp: &du, dOut: d, gate: g, up: u, count: n)
        let fd = finiteDifferences(g.doubles + u.doubles) { p in zip(ref(p), d).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dg, Array(fd[0..<n]), 1e-5, "geglu dGate")
        assertClose(du, Array(fd[n...]), 1e-5, "geglu dUp")
        // Gemma's norm: x · rstd · (1 + w)
        let N = 3, D = 11, eps = 1e-6
        let x = r.gaussian(N * D), w = r.gaussian(D), gy = r.gaussian(N * D)
        func norm(_ p: [Double]) -> [Double] {
            var y = [Double](repeating: 0, count: N * D)
            for i in 0..<N {
                let ms = (0..<D).reduce(0.0) { $0 + p[i * D + $1] * p[i * D + $1] } / Double(D)
                for e in 0..<D { y[i * D + e] = p[i * D + e] / (ms + eps).squareRoot() * (1 + p[N * D + e]) }
            }
            return y
        }
        var y = [Float](repeating: 0, count: N * D), rstd = [Float](repeating: 0, count: N)
        RMSNorm.forward(out: &y, rstd: &rstd, x: x, weight: w, rows: N, dim: D, eps: Float(eps), weightOffset: 1)
        assertClose(y, norm(x.doubles + w.doubles), 1e-6, "(1 + w) norm forward")
        var dx = [Float](repeating: 0, count: N * D), dw = [Float](repeating: 0, count: D)
        var scratch = [Float](repeating: 0, count: Parallel.maxThreads * D)
        RMSNorm.backward(dx: &dx, dWeight: &dw, dOut: gy, x: x, weight: w, rstd: rstd, rows: N, dim: D, scratch: &scratch, weightOffset: 1)
        let fdn = finiteDifferences(x.doubles + w.doubles) { p in zip(norm(p), gy).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dx, Array(fdn[0..<N * D]), 1e-5, "(1 + w) norm dx")
        assertClose(dw, Array(fdn[(N * D)...]), 1e-5, "(1 + w) norm dW")
    }

    func testEmbedding() {
        var r = TestRandom(seed: 5)
        let V = 10, D = 6
        let table = r.gaussian(V * D), tokens: [Int32] = [3, 7, 3, 0, 9], g = r.gaussian(tokens.count * D)
        var out = [Float](repeating: 0, count: tokens.count * D)
        Embedding.forward(out: &out, table: table, tokens: tokens, rows: tokens.count, dim: D)
        XCTAssertEqual(Array(out[D..<2 * D]), Array(table[7 * D..<8 * D]))
        var dt = [Float](repeating: 0, count: V * D)
        // Two owners of table rows, as threads run it in the training pass.
        for owned in [0..<5, 5..<V] { Embedding.backward(dTable: &dt, dOut: g, tokens: tokens, rows: 0..<tokens.count, tableRows: owned, dim: D) }
        let fd = finiteDifferences(table.doubles) { p in
            var s = 0.0
            for (n, t) in tokens.enumerated() { for d in 0..<D { s += p[Int(t) * D + d] * Double(g[n * D + d]) } }
            return s
        }
        assertClose(dt, fd, 1e-6, "embedding backward (repeated token 3 accumulates)")
    }

    func testTargetLogProbs() {
        var r = TestRandom(seed: 6)
        let N = 4, V = 37
        let logits = r.gaussian(N * V, std: 4), targets: [Int32] = [0, 36, 5, 5], g = r.gaussian(N)
        func ref(_ p: [Double]) -> [Double] {
            (0..<N).map { n in
                let row = p[n * V..<(n + 1) * V]
                let m = row.max()!
                let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
                return p[n * V + Int(targets[n])] - lse
            }
        }
        var lp = [Float](repeating: 0, count: N)
        var probs = logits
        TargetLogProbs.forward(logp: &lp, logitsToProbs: &probs, targets: targets, rows: N, vocab: V)
        assertClose(lp, ref(logits.doubles), 1e-6, "log-probs forward")
        var lp2 = [Float](repeating: 0, count: N)
        TargetLogProbs.scores(logp: &lp2, logits: logits, targets: targets, rows: N, vocab: V)
        assertClose(lp2, lp, 1e-6, "scores() equals forward()")
        TargetLogProbs.backwardInPlace(probsToDLogits: &probs, dLogp: g, targets: targets, rows: N, vocab: V)
        let fd = finiteDifferences(logits.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(probs, fd, 1e-5, "log-probs backward")
    }

    /// Double reference of causal GQA attention over packed sequences.
    static func attentionReference(_ p: [Double], lengths: [Int], shape: AttentionShape) -> [Double] {
        let N = lengths.reduce(0, +), qDim = shape.qDim, kvDim = shape.kvDim, hd = shape.headDim
        var offsets = [0]
        for l in lengths { offsets.append(offsets.last! + l) }
        var out = [Double](repeating: 0, count: N * qDim)
        let scale = Double(shape.scale)
        let cap = shape.softcap.map(Double.init)
        let kOff = N * qDim, vOff = N * qDim + N * kvDim
        for b in 0..<lengths.count { for h in 0..<shape.heads { let kvh = h / shape.groupSize
            for i in 0..<lengths[b] {
                let row = offsets[b] + i, lo = shape.firstKey(position: i)
                var s = (lo...i).map { j -> Double in
                    var d = 0.0
                    for e in 0..<hd { d += p[row * qDim + h * hd + e] * p[kOff + (offsets[b] + j) * kvDim + kvh * hd + e] }
                    return cap.map { c in c * tanh(d * scale / c) } ?? d * scale
                }
                let m = s.max()!
                s = s.map { exp($0 - m) }
                let z = s.reduce(0, +)
                for j in lo...i { for e in 0..<hd {
                    out[row * qDim + h * hd + e] += s[j - lo] / z * p[vOff + (offsets[b] + j) * kvDim + kvh * hd + e]
                } }
            }
        } }
        return out
    }

    /// Runs forward + backward of `Attention` on packed sequences; returns (out, dq, dk, dv).
    static func runAttention(q: [Float], k: [Float], v: [Float], g: [Float], lengths: [Int], shape: AttentionShape)
        -> (out: [Float], dq: [Float], dk: [Float], dv: [Float]) {
        let N = lengths.reduce(0, +), qDim = shape.qDim, kvDim = shape.kvDim
        var offsets = [0]
        for l in lengths { offsets.append(offsets.last! + l) }
        let maxKeys = lengths.max()!
        var km = k, vm = v
        var out = [Float](repeating: 0, count: N * qDim), lse = [Float](repeating: 0, count: N * shape.heads)
        var scratch = [Float](repeating: 0, count: Attention.scratchCount(maxKeys: maxKeys))
        var dq = [Float](repeating: 0, count: N * qDim), dk = [Float](repeating: 0, count: N * kvDim)
        var dv = [Float](repeating: 0, count: N * kvDim)
        km.withUnsafeMutableBufferPointer { kp in vm.withUnsafeMutableBufferPointer { vp in
            dk.withUnsafeMutableBufferPointer { dkp in dv.withUnsafeMutableBufferPointer { dvp in
                let spans = (0..<lengths.count).map { b in
                    AttentionSpan(queryRow: offsets[b], queryCount: lengths[b], start: 0,
                                  keys: kp.baseAddress! + offsets[b] * kvDim, values: vp.baseAddress! + offsets[b] * kvDim)
                }
                Attention.forward(out: &out, lse: &lse, q: q, spans: spans, shape: shape, scratch: &scratch, maxKeys: maxKeys)
                Attention.backward(dq: &dq, dKeys: (0..<lengths.count).map { dkp.baseAddress! + offsets[$0] * kvDim },
                                   dValues: (0..<lengths.count).map { dvp.baseAddress! + offsets[$0] * kvDim },
                                   dOut: g, out: out, lse: lse, q: q, spans: spans, shape: shape,
                                   scratch: &scratch, maxKeys: maxKeys)
            } }
        } }
        return (out, dq, dk, dv)
    }

    /// Attention over packed sequences of unequal lengths (padding never exists in the kernel) with
    /// grouped-query heads, against a Double reference and finite differences (every coordinate).
    func testAttentionPackedGQA() {
        var r = TestRandom(seed: 7)
        let shape = AttentionShape(heads: 4, kvHeads: 2, headDim: 8)
        let lengths = [5, 3, 1, 9], N = 18
        let qDim = shape.qDim, kvDim = shape.kvDim, hd = 8
        let q = r.gaussian(N * qDim), k = r.gaussian(N * kvDim), v = r.gaussian(N * kvDim), g = r.gaussian(N * qDim)
        let (out, dq, dk, dv) = Self.runAttention(q: q, k: k, v: v, g: g, lengths: lengths, shape: shape)
        let all = q.doubles + k.doubles + v.doubles
        let ref = { (p: [Double]) in Self.attentionReference(p, lengths: lengths, shape: shape) }
        assertClose(out, ref(all), 1e-6, "attention forward")
        let fd = finiteDifferences(all) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dq, Array(fd[0..<N * qDim]), 1e-5, "attention dq")
        assertClose(dk, Array(fd[N * qDim..<N * qDim + N * kvDim]), 1e-5, "attention dk")
        assertClose(dv, Array(fd[(N * qDim + N * kvDim)...]), 1e-5, "attention dv")
        // Sequences never see each other: the single-token sequence's output is its own value row.
        for h in 0..<4 {
            let o = Array(out[8 * qDim + h * hd..<8 * qDim + (h + 1) * hd]), vv = Array(v[8 * kvDim + (h / 2) * hd..<8 * kvDim + (h / 2 + 1) * hd])
            assertClose(o, vv, 1e-6, "length-1 sequence attends only to itself")
        }
    }

    /// Sliding-window attention (Mistral): query t sees keys t − 3 < j ≤ t, on the one-query path
    /// (sequences under 8 tokens) and the blocked one (the 12-token sequence).
    func testAttentionSlidingWindow() {
        var r = TestRandom(seed: 17)
        let shape = AttentionShape(heads: 4, kvHeads: 2, headDim: 8, window: 3)
        let lengths = [5, 12, 2], N = 19
        let qDim = shape.qDim, kvDim = shape.kvDim
        let q = r.gaussian(N * qDim), k = r.gaussian(N * kvDim), v = r.gaussian(N * kvDim), g = r.gaussian(N * qDim)
        let (out, dq, dk, dv) = Self.runAttention(q: q, k: k, v: v, g: g, lengths: lengths, shape: shape)
        let all = q.doubles + k.doubles + v.doubles
        let ref = { (p: [Double]) in Self.attentionReference(p, lengths: lengths, shape: shape) }
        assertClose(out, ref(all), 1e-6, "windowed attention forward")
        let full = Self.attentionReference(all, lengths: lengths, shape: AttentionShape(heads: 4, kvHeads: 2, headDim: 8))
        XCTAssertGreaterThan(compare(out, full).relativeError, 1e-3, "the window changes the result")
        let fd = finiteDifferences(all) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(dq, Array(fd[0..<N * qDim]), 1e-5, "windowed attention dq")
        assertClose(dk, Array(fd[N * qDim..<N * qDim + N * kvDim]), 1e-5, "windowed attention dk")
        assertClose(dv, Array(fd[(N * qDim + N * kvDim)...]), 1e-5, "windowed attention dv")
    }

    /// Gemma 2's attention: scores scaled by 1/√query_pre_attn_scalar and soft-capped, s ← c·tanh(s/c),
    /// with a window, on both the one-query path and the blocked one (the 70-token sequence spans two
    /// 64-query blocks); forward against the Double reference, backward against finite differences.
    func testAttentionSoftcapAndQueryScalar() {
        var r = TestRandom(seed: 23)
        let shape = AttentionShape(heads: 4, kvHeads: 2, headDim: 8, window: 40, scaleDenominator: 5, softcap: 1.5)
        let lengths = [5, 70, 3], N = 78
        let qDim = shape.qDim, kvDim = shape.kvDim
        let q = r.gaussian(N * qDim), k = r.gaussian(N * kvDim), v = r.gaussian(N * kvDim), g = r.gaussian(N * qDim)
        let (out, dq, dk, dv) = Self.runAttention(q: q, k: k, v: v, g: g, lengths: lengths, shape: shape)
        let all = q.doubles + k.doubles + v.doubles
        let ref = { (p: [Double]) in Self.attentionReference(p, lengths: lengths, shape: shape) }
        assertClose(out, ref(all), 1e-6, "soft-capped attention forward")
        let uncapped = Self.attentionReference(all, lengths: lengths, shape: AttentionShape(heads: 4, kvHeads: 2, headDim: 8, window: 40, scaleDenominator: 5))
        XCTAssertGreaterThan(compare(out, uncapped).relativeError, 1e-2, "the cap bends these scores")
        var picks = TestRandom(seed: 24)
        let coordinates = picks.tokens(150, below: all.count).map(Int.init)
        let fd = finiteDifferences(all, at: coordinates) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        let analytic = (dq + dk + dv).doubles
        for (i, c) in coordinates.enumerated() {
            XCTAssertEqual(analytic[c], fd[i], accuracy: 1e-5 * max(1, abs(fd[i])), "soft-capped attention gradient at \(c)")
        }
    }

    /// Gemma 2's final-logit soft-cap l = c·tanh(r/c) before the log-softmax: the soft-capped backward
    /// (which recovers l from the probabilities and lse) against finite differences in the raw logits.
    func testTargetLogProbsThroughTheSoftcap() {
        var r = TestRandom(seed: 26)
        let N = 4, V = 37, cap: Float = 3
        let raw = r.gaussian(N * V, std: 4), targets: [Int32] = [0, 36, 5, 5], g = r.gaussian(N)
        func ref(_ p: [Double]) -> [Double] {
            (0..<N).map { n in
                let row = p[n * V..<(n + 1) * V].map { Double(cap) * tanh($0 / Double(cap)) }
                let m = row.max()!
                return row[Int(targets[n])] - (m + log(row.reduce(0) { $0 + exp($1 - m) }))
            }
        }
        var probs = raw, lp = [Float](repeating: 0, count: N), lse = [Float](repeating: 0, count: N)
        LogitSoftcap.forward(&probs, count: N * V, cap: cap)
        TargetLogProbs.forward(logp: &lp, logitsToProbs: &probs, targets: targets, rows: N, vocab: V, lse: &lse)
        assertClose(lp, ref(raw.doubles), 1e-6, "soft-capped log-probs forward")
        TargetLogProbs.backwardInPlaceSoftcapped(probsToDLogits: &probs, dLogp: g, targets: targets, lse: lse, rows: N, vocab: V, cap: cap)
        let fd = finiteDifferences(raw.doubles) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        assertClose(probs, fd, 1e-5, "soft-capped log-probs backward")
    }

    /// Long sequences go through the blocked sgemm path (several 64-query blocks): forward against
    /// the Double reference, backward against finite differences at 120 random coordinates.
    func testAttentionBlockedLongSequences() {
        var r = TestRandom(seed: 8)
        let shape = AttentionShape(heads: 2, kvHeads: 1, headDim: 16)
        let lengths = [70, 12], N = 82
        let qDim = shape.qDim, kvDim = shape.kvDim
        let q = r.gaussian(N * qDim), k = r.gaussian(N * kvDim), v = r.gaussian(N * kvDim), g = r.gaussian(N * qDim)
        let (out, dq, dk, dv) = Self.runAttention(q: q, k: k, v: v, g: g, lengths: lengths, shape: shape)
        let all = q.doubles + k.doubles + v.doubles
        let ref = { (p: [Double]) in Self.attentionReference(p, lengths: lengths, shape: shape) }
        assertClose(out, ref(all), 1e-5, "blocked attention forward")
        let picks = (0..<120).map { _ in Int(r.rng.next() % UInt64(all.count)) }
        let fd = finiteDifferences(all, at: picks) { p in zip(ref(p), g).reduce(0) { $0 + $1.0 * Double($1.1) } }
        let analytic = dq + dk + dv
        assertClose(picks.map { analytic[$0] }, fd, 1e-4, "blocked attention backward (sampled)")
    }

    func testFastExpAccuracy() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let e = Double(VectorMath.exp(x)), t = exp(Double(x))
            worst = max(worst, abs(e - t) / t)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7, "vectorised exp relative error")
        XCTAssertEqual(VectorMath.exp(0), 1)
    }
}

/// Log-probabilities at real vocabulary sizes: the log-sum-exp over 128k logits must keep float32
/// rounding accuracy (a sum accumulated in 8 float lanes in sequence came out ≈ 1.8e-5 nats per
/// token high on a 49k vocabulary).
final class VocabularyScaleTests: XCTestCase {
    func testSummedLogProbsOnA128kVocabularyMatchFloat64() {
        // 2,000 tokens: 40 sets of targets over the same 50 rows of 128,256 logits (std 3, like a
        // real model's); the float64 log-sum-exp of each row is computed once.
        let V = 128_256, rows = 50, sets = 40
        var rng = TestRandom(seed: 77)
        let logits = rng.gaussian(rows * V, std: 3)
        let lse: [Double] = (0..<rows).map { r in
            logits.withUnsafeBufferPointer { p in
                let row = p.baseAddress! + r * V
                var m = -Double.infinity
                for v in 0..<V { m = max(m, Double(row[v])) }
                var s = 0.0
                for v in 0..<V { s += Foundation.exp(Double(row[v]) - m) }
                return m + Foundation.log(s)
            }
        }
        var logp = [Float](repeating: 0, count: rows)
        var ours = 0.0, reference = 0.0, worstToken = 0.0
        for set in 0..<sets {
            let targets = (0..<rows).map { Int32((set * 7919 + $0 * 104_729) % V) }
            logits.withUnsafeBufferPointer { l in
                targets.withUnsafeBufferPointer { t in
                    logp.withUnsafeMutableBufferPointer { TargetLogProbs.scores(logp: $0.baseAddress!, logits: l.baseAddress!, targets: t.baseAddress!, rows: rows, vocab: V) }
                }
            }
            for r in 0..<rows {
                let exact = Double(logits[r * V + Int(targets[r])]) - lse[r]
                reference += exact; ours += Double(logp[r])
                worstToken = max(worstToken, abs(Double(logp[r]) - exact))
            }
        }
        XCTAssertLessThanOrEqual(abs(ours - reference) / abs(reference), 1e-6, "summed \(ours) vs float64 \(reference)")
        XCTAssertLessThanOrEqual(worstToken, 4e-6, "worst token error \(worstToken)")
    }
}
