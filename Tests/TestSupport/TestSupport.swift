// Shared test helpers: fixture paths, tolerant comparisons reporting the worst element,
// Double finite differences, and seeded random data.

import Foundation
import Kernels
import Llama
import Support

public enum Fixtures {
    /// `Tests/Fixtures` of this checkout (located from this source file, so no bundle is needed).
    public static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }
    public static func url(_ name: String) -> URL { root.appendingPathComponent(name) }
}

/// Result of comparing two arrays: max |a − b| relative to max |b| (per tensor), and where.
public struct Comparison: CustomStringConvertible {
    public let relativeError: Double
    public let worstIndex: Int
    public let actual: Double
    public let expected: Double
    public var description: String {
        String(format: "rel err %.3e (worst element %d: got %.8g, expected %.8g)", relativeError, worstIndex, actual, expected)
    }
}

public func compare<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ actual: [A], _ expected: [B]) -> Comparison {
    precondition(actual.count == expected.count, "compare: \(actual.count) vs \(expected.count) elements")
    var scale = 0.0, worst = 0.0, at = 0
    for i in 0..<expected.count { scale = max(scale, abs(Double(expected[i]))) }
    for i in 0..<expected.count {
        let d = abs(Double(actual[i]) - Double(expected[i]))
        if d > worst || d.isNaN { worst = d; at = i }
    }
    let rel = scale > 0 ? worst / scale : worst
    return Comparison(relativeError: rel, worstIndex: at, actual: Double(actual.isEmpty ? 0 : actual[at]),
                      expected: Double(expected.isEmpty ? 0 : expected[at]))
}

/// Central finite differences of a Double function: ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h.
public func finiteDifferences(_ x: [Double], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var g = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let orig = x[i]
        x[i] = orig + h; let fp = f(x)
        x[i] = orig - h; let fm = f(x)
        x[i] = orig
        g[i] = (fp - fm) / (2 * h)
    }
    return g
}

/// Central finite differences at the listed coordinates only (for large inputs).
public func finiteDifferences(_ x: [Double], at indices: [Int], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    return indices.map { i in
        let orig = x[i]
        x[i] = orig + h; let fp = f(x)
        x[i] = orig - h; let fm = f(x)
        x[i] = orig
        return (fp - fm) / (2 * h)
    }
}

/// Seeded random arrays.
public struct TestRandom {
    public var rng: SplitMix64
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    public mutating func gaussian(_ n: Int, std: Float = 1) -> [Float] { (0..<n).map { _ in std * rng.nextGaussian() } }
    public mutating func uniform(_ n: Int, _ lo: Float, _ hi: Float) -> [Float] {
        (0..<n).map { _ in lo + (hi - lo) * rng.nextUnitFloat() }
    }
    public mutating func tokens(_ n: Int, below v: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(v)) } }
}

extension Array where Element == Float {
    public var doubles: [Double] { map(Double.init) }
}
extension Array where Element == Double {
    public var floats: [Float] { map(Float.init) }
}

/// A JSON Lines file as raw objects with their line numbers (see `TestJSON`: exact numbers).
public enum RawJSONLines {
    public static func read(_ url: URL) throws -> [(line: Int, object: [String: Any])] {
        try TestJSON.lines(url).enumerated().map { ($0.offset + 1, $0.element) }
    }
}
