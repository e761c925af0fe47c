// Finding non-finite (NaN, ±Inf) values in parameter buffers: a diverged update or a damaged
// checkpoint must be named, never trained on or saved silently.

import Kernels

public enum FiniteValues {
    /// Index of the first NaN or ±Inf among `count` floats at `p`, or nil when all are finite.
    /// (x − x is 0 for finite x and NaN otherwise; the loop runs without branches per element.)
    public static func firstNonFinite(_ p: UnsafePointer<Float>, count: Int) -> Int? {
        var start = 0
        while start < count {
            let n = min(4096, count - start)
            var acc: Float = 0
            for i in start..<(start + n) { acc += p[i] - p[i] }
            if !acc.isFinite || acc.isNaN {
                for i in start..<(start + n) where !p[i].isFinite { return i }
            }
            start += n
        }
        return nil
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
