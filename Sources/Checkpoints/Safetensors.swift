// safetensors reading (F32, BF16, F16, I64, I32 → Float / Int64), memory-mapped and validated:
// a malformed file is a thrown error naming the file and the problem, never an out-of-bounds read.

import Foundation

public struct CheckpointError: Error, CustomStringConvertible {
    public let file: String
    public let reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

public enum SafetensorsDType: String, Sendable {
    case f32 = "F32", bf16 = "BF16", f16 = "F16", i64 = "I64", i32 = "I32"
    var size: Int {
        switch self { case .f32, .i32: return 4; case .bf16, .f16: return 2; case .i64: return 8 }
    }
}

/// A tensor's entry in the header: dtype, shape and byte range in the data section.
public struct SafetensorsTensorInfo: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let dataRange: Range<Int>
    public var count: Int { shape.reduce(1, *) }
}

/// A validated, memory-mapped safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [String: SafetensorsTensorInfo]
    public let metadata: [String: String]
    let data: Data          // whole file, memory-mapped
    let dataStart: Int

    public init(url: URL) throws {
        path = url.path
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw CheckpointError(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        let fail = { (why: String) in CheckpointError(file: url.path, reason: why) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, too short for a safetensors header") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLength) runs beyond the end of the \(data.count)-byte file")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = data.subdata(in: 8..<dataStart)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw fail("header is not a JSON object") }
        let dataSize = data.count - dataStart
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in m { metadata[k] = (v as? String) ?? "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any] else { throw fail("tensor '\(name)': entry is not an object") }
            guard let dtypeName = entry["dtype"] as? String else { throw fail("tensor '\(name)': missing dtype") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)': unsupported dtype '\(dtypeName)' (supported: F32, BF16, F16, I64, I32)")
            }
            guard let shapeAny = entry["shape"] as? [Any] else { throw fail("tensor '\(name)': missing shape") }
            var shape: [Int] = []
            var elements = 1
            for s in shapeAny {
                guard let n = s as? Int, n >= 0 else { throw fail("tensor '\(name)': shape entries must be non-negative integers") }
                let (p, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, p <= dataSize else { throw fail("tensor '\(name)': shape \(shapeAny) is larger than the file") }
                elements = p
                shape.append(n)
            }
            guard let offs = entry["data_offsets"] as? [Any], offs.count == 2,
                  let begin = offs[0] as? Int, let end = offs[1] as? Int else {
                throw fail("tensor '\(name)': data_offsets must be two integers")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] out of range (data section is \(dataSize) bytes)")
            }
            guard end - begin == elements * dtype.size else {
                throw fail("tensor '\(name)': \(end - begin) bytes do not match shape \(shape) of \(dtypeName) (\(elements * dtype.size) bytes)")
            }
            tensors[name] = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
        }
        // Byte ranges must not overlap.
        let sorted = tensors.values.filter { !$0.dataRange.isEmpty }.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.dataRange.lowerBound < a.dataRange.upperBound {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap in the data section")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Copies tensor `name` converted to Float into `destination` (exactly `count` elements).
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        guard let info = tensors[name] else { throw CheckpointError(file: path, reason: "missing tensor '\(name)'") }
        guard info.count == count else {
            throw CheckpointError(file: path, reason: "tensor '\(name)' has \(info.count) elements (shape \(info.shape)), expected \(count)")
        }
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + info.dataRange.lowerBound
            switch info.dtype {
            case .f32:
                memcpy(destination, base, count * 4)
            case .bf16:
                for i in 0..<count {
                    let bits = UInt32(base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                    destination[i] = Float(bitPattern: bits)
                }
            case .f16:
                for i in 0..<count {
                    destination[i] = Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            case .i64:
                for i in 0..<count { destination[i] = Float(base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32:
                for i in 0..<count { destination[i] = Float(base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            }
        }
    }

    /// Tensor `name` as Floats.
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw CheckpointError(file: path, reason: "missing tensor '\(name)'") }
        var out = [Float](repeating: 0, count: info.count)
        try out.withUnsafeMutableBufferPointer { try readFloats(name, into: $0.baseAddress!, count: info.count) }
        return out
    }

    /// Integer tensor `name` (I64 or I32) as Int64.
    public func integers(_ name: String) throws -> [Int64] {
        guard let info = tensors[name] else { throw CheckpointError(file: path, reason: "missing tensor '\(name)'") }
        return try data.withUnsafeBytes { raw -> [Int64] in
            let base = raw.baseAddress! + dataStart + info.dataRange.lowerBound
            switch info.dtype {
            case .i64: return (0..<info.count).map { base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
            case .i32: return (0..<info.count).map { Int64(base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            default: throw CheckpointError(file: path, reason: "tensor '\(name)' is \(info.dtype.rawValue), expected an integer type")
            }
        }
    }
}
