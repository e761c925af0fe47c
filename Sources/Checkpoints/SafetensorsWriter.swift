// safetensors writing (F32, BF16 or F16), in the layout Hugging Face writes: an 8-byte little-endian
// header length, a JSON header padded with spaces to 8 bytes, then the tensors back to back.

import Foundation
import Kernels
import Support

public enum SafetensorsWriter {
    public enum DType: String, Sendable { case f32 = "F32", bf16 = "BF16", f16 = "F16" }

    /// One tensor to write: its name, shape and `count` Floats at `data`.
    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let data: UnsafePointer<Float>
        public init(name: String, shape: [Int], data: UnsafePointer<Float>) {
            self.name = name; self.shape = shape; self.data = data
        }
    }

    /// Float → bfloat16 bits, rounding to nearest even (NaN stays NaN).
    @inline(__always)
    public static func bfloat16Bits(_ f: Float) -> UInt16 { WeightMatrix.bfloat16Bits(f) }

    /// Serialises `tensors` (written in the order given) with `metadata` (e.g. ["format": "pt"]).
    public static func data(_ tensors: [Tensor], dtype: DType, metadata: [String: String] = ["format": "pt"]) throws -> Data {
        let elementSize = dtype == .f32 ? 4 : 2
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            let n = t.shape.reduce(1, *) * elementSize
            header[t.name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + n]] as [String: Any]
            offset += n
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerData.count % 8 != 0 { headerData.append(0x20) }
        var out = Data(capacity: 8 + headerData.count + offset)
        var length = UInt64(headerData.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(headerData)
        for t in tensors {
            let count = t.shape.reduce(1, *)
            switch dtype {
            case .f32:
                out.append(UnsafeBufferPointer(start: t.data, count: count))
            case .bf16:
                var halves = [UInt16](repeating: 0, count: count)
                for i in 0..<count { halves[i] = bfloat16Bits(t.data[i]).littleEndian }
                halves.withUnsafeBytes { out.append(contentsOf: $0) }
            case .f16:
                // Round to nearest even (exact for weights that were float16 to begin with).
                var halves = [UInt16](repeating: 0, count: count)
                for i in 0..<count { halves[i] = Float16(t.data[i]).bitPattern.littleEndian }
                halves.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// Writes the file atomically.
    public static func write(_ tensors: [Tensor], dtype: DType, to url: URL, metadata: [String: String] = ["format": "pt"]) throws {
        try AtomicFile.write(try data(tensors, dtype: dtype, metadata: metadata), to: url)
    }
}
