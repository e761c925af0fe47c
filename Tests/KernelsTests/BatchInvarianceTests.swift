// Batch invariance of the training path's products at the shapes real models use (stories15M:
// D 288, F 768, V 32000, whose lm_head splits by columns): a sequence's rows get the same bits alone
// and beside another sequence, and weight gradients accumulated call by call (micro-batches) equal
// one call over both segments — bit for bit — and agree with a Double reference.

import XCTest
import Kernels
import TestSupport

final class BatchInvarianceTests: XCTestCase {
    override class func setUp() { Parallel.setThreads(2) }

    func testOpenBLASRowTileIsFound() {
        // 12 with OpenBLAS's Haswell/Zen sgemm kernels; 1 would mean only rounding-level agreement.
        XCTAssertGreaterThan(Matmul.rowTile, 1)
        XCTAssertEqual(Matmul.paddedRows(1), Matmul.rowTile)
        XCTAssertEqual(Matmul.paddedRows(Matmul.rowTile), Matmul.rowTile)
        XCTAssertEqual(Matmul.paddedRows(0), 0)
    }

    func testASequenceGetsTheSameBitsAloneAndBesideAnother() {
        // (64, 64) and (64, 32): products small enough for OpenBLAS's AVX-512 "small matrix" kernel.
        for (I, O) in [(64, 64), (64, 32), (64, 128), (288, 768), (768, 288), (288, 32000)] {
            var r = TestRandom(seed: UInt64(I * 7 + O))
            let lenA = 7, lenB = 30
            let rowsA = Matmul.paddedRows(lenA), rowsB = Matmul.paddedRows(lenB), rowsAB = rowsB + rowsA
            let xA = r.gaussian(lenA * I), xB = r.gaussian(lenB * I), w = r.gaussian(O * I, std: 0.1)
            let gA = r.gaussian(lenA * O), gB = r.gaussian(lenB * O)
            // A alone at row 0; B alone; B then A (A starting at row rowsB, a multiple of the tile)
            func place(_ parts: [([Float], Int)], rows: Int, width: Int) -> [Float] {
                var out = [Float](repeating: 0, count: rows * width)
                for (values, row) in parts { out.replaceSubrange(row * width ..< row * width + values.count, with: values) }
                return out
            }
            let xAlone = place([(xA, 0)], rows: rowsA, width: I), xBAlone = place([(xB, 0)], rows: rowsB, width: I)
            let xBoth = place([(xB, 0), (xA, rowsB)], rows: rowsAB, width: I)
            let gAlone = place([(gA, 0)], rows: rowsA, width: O), gBAlone = place([(gB, 0)], rows: rowsB, width: O)
            let gBoth = place([(gB, 0), (gA, rowsB)], rows: rowsAB, width: O)

            var yAlone = [Float](repeating: 0, count: rowsA * O), yBoth = [Float](repeating: 0, count: rowsAB * O)
            Linear.batchInvariantForward(y: &yAlone, x: xAlone, weight: w, rows: rowsA, inFeatures: I, outFeatures: O)
            Linear.batchInvariantForward(y: &yBoth, x: xBoth, weight: w, rows: rowsAB, inFeatures: I, outFeatures: O)
            XCTAssertTrue(Array(yAlone[0 ..< lenA * O]) == Array(yBoth[rowsB * O ..< (rowsB + lenA) * O]), "forward \(I)→\(O)")

            // Backward: micro-batches (B, then A) against one call over both segments.
            var dxAlone = [Float](repeating: 0, count: rowsA * I), dxB = [Float](repeating: 0, count: rowsB * I)
            var dxBoth = [Float](repeating: 0, count: rowsAB * I)
            var dwMicro = [Float](repeating: 0, count: O * I), dwBoth = dwMicro
            Linear.batchInvariantBackward(dx: &dxB, dWeight: &dwMicro, dy: gBAlone, x: xBAlone, weight: w, rows: rowsB,
                                          segments: [0 ..< lenB], inFeatures: I, outFeatures: O)
            Linear.batchInvariantBackward(dx: &dxAlone, dWeight: &dwMicro, dy: gAlone, x: xAlone, weight: w, rows: rowsA,
                                          segments: [0 ..< lenA], inFeatures: I, outFeatures: O)
            Linear.batchInvariantBackward(dx: &dxBoth, dWeight: &dwBoth, dy: gBoth, x: xBoth, weight: w, rows: rowsAB,
                                          segments: [0 ..< lenB, rowsB ..< rowsB + lenA], inFeatures: I, outFeatures: O)
            XCTAssertTrue(Array(dxAlone[0 ..< lenA * I]) == Array(dxBoth[rowsB * I ..< (rowsB + lenA) * I]), "dx \(I)→\(O)")
            XCTAssertTrue(dwMicro == dwBoth, "dW \(I)→\(O): accumulated over two calls ≠ one call over both segments")

            // And the values are right: dW = Σ_n g[n]ᵀ x[n] in Double, on a sample of entries.
            var worst = 0.0
            for o in stride(from: 0, to: O, by: max(1, O / 37)) {
                for i in stride(from: 0, to: I, by: max(1, I / 11)) {
                    var s = 0.0, scale = 0.0
                    for n in 0..<lenB { s += Double(gB[n * O + o]) * Double(xB[n * I + i]); scale += abs(Double(gB[n * O + o]) * Double(xB[n * I + i])) }
                    for n in 0..<lenA { s += Double(gA[n * O + o]) * Double(xA[n * I + i]); scale += abs(Double(gA[n * O + o]) * Double(xA[n * I + i])) }
                    worst = max(worst, abs(Double(dwBoth[o * I + i]) - s) / scale)
                }
            }
            XCTAssertLessThan(worst, 1e-6, "dW \(I)→\(O) against Double")
        }
    }

    /// The decode product (`SmallMatmul`, register tiles of 4 × 6 on AVX-512): every row of
    /// x · Wᵀ has the same bits computed alone, among 1…128 other rows, at any position, and with
    /// beta = 1 — on every SIMD path — and is within float rounding of a Double product.
    func testSmallMatmulRowsDoNotDependOnTheBatch() {
        defer { MachineLimits.forceSIMDPath(nil) }
        var r = TestRandom(seed: 5)
        for path in MachineLimits.availableSIMDPaths {
            MachineLimits.forceSIMDPath(path)
            for (I, O) in [(37, 13), (64, 50), (576, 193)] {
                let M = SmallMatmul.maxRows
                let x = r.gaussian(M * I), w = r.gaussian(O * I)
                var all = [Float](repeating: 0, count: M * O)
                SmallMatmul.xWt(y: &all, x: x, weight: w, rows: M, inFeatures: I, outFeatures: O, beta: 0)
                for (rows, first) in [(1, 0), (1, 77), (5, 3), (7, 120), (13, 40), (M, 0)] where first + rows <= M {
                    var part = [Float](repeating: 0, count: rows * O)
                    x.withUnsafeBufferPointer { xp in
                        SmallMatmul.xWt(y: &part, x: xp.baseAddress! + first * I, weight: w, rows: rows, inFeatures: I, outFeatures: O, beta: 0)
                    }
                    for i in 0..<(rows * O) where part[i].bitPattern != all[first * O + i].bitPattern {
                        XCTFail("\(path) I \(I) O \(O): row \(first + i / O) column \(i % O) alone-in-\(rows) \(part[i]) vs \(all[first * O + i])")
                        return
                    }
                }
                var worst = 0.0
                for m in stride(from: 0, to: M, by: 9) {
                    for o in 0..<O {
                        var exact = 0.0, scale = 0.0
                        for i in 0..<I { exact += Double(x[m * I + i]) * Double(w[o * I + i]); scale += abs(Double(x[m * I + i]) * Double(w[o * I + i])) }
                        worst = max(worst, abs(Double(all[m * O + o]) - exact) / scale)
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "\(path) I \(I) O \(O)")
                // beta = 1 accumulates: y + x·Wᵀ
                var acc = all
                SmallMatmul.xWt(y: &acc, x: x, weight: w, rows: M, inFeatures: I, outFeatures: O, beta: 1)
                for i in stride(from: 0, to: M * O, by: 31) { XCTAssertEqual(acc[i], all[i] + all[i], "\(path) beta 1") }
            }
        }
    }

    func testRMSNormWeightGradientIsSummedSegmentBySegment() {
        var r = TestRandom(seed: 3)
        let D = 288, rows = 40
        let x = r.gaussian(rows * D), g = r.gaussian(rows * D), w = r.gaussian(D)
        var y = [Float](repeating: 0, count: rows * D), rstd = [Float](repeating: 0, count: rows)
        RMSNorm.forward(out: &y, rstd: &rstd, x: x, weight: w, rows: rows, dim: D, eps: 1e-5)
        var scratch = [Float](repeating: 0, count: Parallel.maxThreads * D)
        var dx = [Float](repeating: 0, count: rows * D)
        var dwBoth = [Float](repeating: 0, count: D), dwMicro = dwBoth
        RMSNorm.backward(dx: &dx, dWeight: &dwBoth, dOut: g, x: x, weight: w, rstd: rstd, rows: rows, dim: D,
                         segments: [0..<13, 24..<40], scratch: &scratch)
        // The same two segments in two calls (as two micro-batches would run them).
        RMSNorm.backward(dx: &dx, dWeight: &dwMicro, dOut: g, x: x, weight: w, rstd: rstd, rows: 13, dim: D,
                         segments: [0..<13], scratch: &scratch)
        x.withUnsafeBufferPointer { xp in
            g.withUnsafeBufferPointer { gp in
                rstd.withUnsafeBufferPointer { rp in
                    dx.withUnsafeMutableBufferPointer { dxp in
                        RMSNorm.backward(dx: dxp.baseAddress! + 24 * D, dWeight: &dwMicro, dOut: gp.baseAddress! + 24 * D,
                                         x: xp.baseAddress! + 24 * D, weight: w, rstd: rp.baseAddress! + 24, rows: 16, dim: D,
                                         segments: [0..<16], scratch: &scratch)
                    }
                }
            }
        }
        XCTAssertTrue(dwBoth == dwMicro)
    }
}
