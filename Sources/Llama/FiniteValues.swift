// Finding non-finite (NaN, ±Inf) values in parameter buffers: a diverged update or a damaged
// checkpoint must be named, never trained on or saved silently.

import Kernels

public enum FiniteValues {
    /// Index of the first NaN or ±Inf among `count` floats at `p`, or nil when all are finite.
    /// One branch-free pass over the exponent bits (vectorisable), then a second only to locate an
    /// offender: a float is non-finite exactly when its exponent bits are all ones.
    public static func firstNonFinite(_ p: UnsafePointer<Float>, count: Int) -> Int? {
        let exponent: UInt32 = 0x7F80_0000
        var smallest = exponent
        p.withMemoryRebound(to: UInt32.self, capacity: count) { bits in
            for i in 0..<count { smallest = min(smallest, exponent & ~bits[i]) }
        }
        guard smallest == 0 else { return nil }
        return (0..<count).first { !p[$0].isFinite }
    }
}

extension ParameterLayout {
    /// "tensor 'NAME' (element I: VALUE)" for the first non-finite value of `buffer` laid out by this
    /// layout, or nil when every value is finite.
    public func firstNonFinite(in buffer: FloatBuffer) -> String? {
        guard let i = FiniteValues.firstNonFinite(buffer.pointer, count: buffer.count) else { return nil }
        let entry = entries.last(where: { $0.offset <= i }) ?? entries[0]
        return "tensor '\(entry.name)' (element \(i - entry.offset): \(buffer.pointer[i]))"
    }
}

extension LlamaModel {
    /// The first non-finite parameter, named (see `ParameterLayout.firstNonFinite`), or nil.
    public func firstNonFiniteParameter() -> String? { layout.firstNonFinite(in: parameters) }
}
