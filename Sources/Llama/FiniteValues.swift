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

extension FiniteValues {
    /// "tensor 'NAME' (element I: VALUE)" for the first non-finite value of `buffer` laid out by
    /// `entries`, or nil when every value is finite.
    public static func firstNonFinite(in buffer: FloatBuffer, entries: [ParameterEntry]) -> String? {
        guard let i = firstNonFinite(buffer.pointer, count: buffer.count) else { return nil }
        let entry = entries.last(where: { $0.offset <= i }) ?? entries[0]
        return "tensor '\(entry.name)' (element \(i - entry.offset): \(buffer.pointer[i]))"
    }
}

extension ParameterLayout {
    /// The first non-finite value of `buffer` laid out by this layout, named, or nil.
    public func firstNonFinite(in buffer: FloatBuffer) -> String? { FiniteValues.firstNonFinite(in: buffer, entries: entries) }
}

extension LlamaModel {
    /// The first non-finite trained parameter (the adapter's when there is one), named, or nil.
    public func firstNonFiniteParameter() -> String? {
        FiniteValues.firstNonFinite(in: trainableParameters, entries: adapter?.layout.entries ?? layout.entries)
    }
}
