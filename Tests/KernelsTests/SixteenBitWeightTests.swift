// 16-bit weights (bfloat16, float16) widened as the kernels read them give exactly the bits of the
// same op over float32 copies: the widening itself on every bit pattern, the decode tiles (xwt), the
// chunked sgemm products (inference and batch-invariant), the embedding lookup — on every SIMD path
// this CPU has and on 1 and 2 threads.

import XCTest
import Kernels
import TestSupport

final class SixteenBitWeightTests: XCTestCase {
    override func tearDown() { MachineLimits.forceSIMDPath(nil); Parallel.setThreads(2) }

    /// Random weights in both 16-bit forms and their exact float32 values.
    static func weights(_ count: Int, seed: UInt64) -> (bf16: [UInt16], f16: [UInt16], bf16Wide: [Float], f16Wide: [Float]) {
        var r = TestRandom(seed: seed)
        let values = r.gaussian(count, std: 0.05)
        let bf = values.map(WeightMatrix.bfloat16Bits), h = values.map { Float16($0).bitPattern }
        return (bf, h, bf.map { Float(bitPattern: UInt32($0) << 16) }, h.map { Float(Float16(bitPattern: $0)) })
    }

    func forEachPath(_ body: () throws -> Void) rethrows {
        for path in MachineLimits.availableSIMDPaths {
            MachineLimits.forceSIMDPath(path)
            try body()
        }
        MachineLimits.forceSIMDPath(nil)
    }

    func assertSameBits(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) of \(a.count) outputs differ", file: file, line: line)
    }

    /// Every one of the 65,536 patterns of each format widens exactly (NaNs stay NaN).
    func testWideningIsExactForEveryBitPattern() {
        let all = (0...0xFFFF).map { UInt16($0) }
        forEachPath {
            for element in [WeightMatrix.Element.bfloat16, .float16] {
                var out = [Float](repeating: 0, count: all.count)
                all.withUnsafeBytes { raw in
                    WeightMatrix(base: raw.baseAddress!, element: element).widen(into: &out, first: 0, count: all.count)
                }
                for (h, f) in zip(all, out) {
                    let expected = element == .bfloat16 ? Float(bitPattern: UInt32(h) << 16) : Float(Float16(bitPattern: h))
                    if expected.isNaN { XCTAssertTrue(f.isNaN, "\(element) \(h)"); continue }
                    XCTAssertEqual(f.bitPattern, expected.bitPattern, "\(element) \(String(h, radix: 16)) on \(MachineLimits.simdPath)")
                }
            }
        }
    }

    /// `Linear.forward` (decode tiles up to 128 rows, chunked sgemm beyond) and
    /// `Linear.batchInvariantForward` over 16-bit weights == the same calls over float32 copies.
    func testProductsHaveTheBitsOfTheFloat32Products() {
        // (in, out): a small matrix, a vocabulary-wide one (column split), one widened in several chunks
        // 88 = two pair-interleaved blocks of 32, one natural block of 16 and a scalar tail of 8
        let shapes = [(88, 40), (64, 2304), (1100, 4000)]
        for (shapeIndex, (I, O)) in shapes.enumerated() {
            let w = Self.weights(O * I, seed: UInt64(10 + shapeIndex))
            var r = TestRandom(seed: UInt64(20 + shapeIndex))
            let maxRows = 2 * Matmul.paddedRows(150)
            let x = r.gaussian(maxRows * I)
            for threads in [1, 2] {
                Parallel.setThreads(threads)
                forEachPath {
                    for (halves, wide, element) in [(w.bf16, w.bf16Wide, WeightMatrix.Element.bfloat16), (w.f16, w.f16Wide, .float16)] {
                        // the large matrix only through the chunked sgemm path (the tiles are shape-independent)
                        for rows in O * I > 1_000_000 ? [150] : [1, 5, 128, 150] {
                            var expected = [Float](repeating: 0.25, count: rows * O), actual = expected
                            wide.withUnsafeBufferPointer { wp in
                                Linear.forward(y: &expected, x: x, weight: wp.baseAddress!, rows: rows, inFeatures: I, outFeatures: O, beta: 1)
                            }
                            halves.withUnsafeBytes { raw in
                                Linear.forward(y: &actual, x: x, weight: WeightMatrix(base: raw.baseAddress!, element: element),
                                               rows: rows, inFeatures: I, outFeatures: O, beta: 1)
                            }
                            assertSameBits(actual, expected, "forward \(element) \(rows)×\(I)→\(O), \(threads) threads, \(MachineLimits.simdPath)")
                            if shapeIndex == 0 {   // and the products themselves are right (in Double)
                                for row in 0..<rows { for o in 0..<O {
                                    var d = 0.25
                                    for i in 0..<I { d += Double(x[row * I + i]) * Double(wide[o * I + i]) }
                                    XCTAssertEqual(Double(actual[row * O + o]), d, accuracy: 1e-5 * max(1, abs(d)))
                                } }
                            }
                        }
                        for rows in [Matmul.paddedRows(1), Matmul.paddedRows(150)] {
                            var expected = [Float](repeating: 0, count: rows * O), actual = expected
                            wide.withUnsafeBufferPointer { wp in
                                Linear.batchInvariantForward(y: &expected, x: x, weight: wp.baseAddress!, rows: rows, inFeatures: I, outFeatures: O)
                            }
                            halves.withUnsafeBytes { raw in
                                Linear.batchInvariantForward(y: &actual, x: x, weight: WeightMatrix(base: raw.baseAddress!, element: element),
                                                             rows: rows, inFeatures: I, outFeatures: O)
                            }
                            assertSameBits(actual, expected, "batch-invariant \(element) \(rows)×\(I)→\(O), \(threads) threads")
                        }
                    }
                }
            }
        }
    }

    func testEmbeddingLookupWidensRows() {
        let V = 50, D = 40
        let w = Self.weights(V * D, seed: 3)
        let tokens: [Int32] = [0, 49, 7, 7, 23]
        var expected = [Float](repeating: 0, count: tokens.count * D), actual = expected
        Embedding.forward(out: &expected, table: w.f16Wide, tokens: tokens, rows: tokens.count, dim: D)
        w.f16.withUnsafeBytes { raw in
            Embedding.forward(out: &actual, table: WeightMatrix(base: raw.baseAddress!, element: .float16),
                              tokens: tokens, rows: tokens.count, dim: D)
        }
        assertSameBits(actual, expected, "embedding")
    }
}
