// safetensors reading (F32, BF16, F16, I64, I32 → Float / Int64), validated before any tensor data
// is touched: the header is read with pread (its length checked against the file size and
// safetensors' 100 MB cap, so a hostile length allocates nothing), the data section is mapped, and
// a malformed file is a thrown error naming the file and the problem, never an out-of-bounds read.
// Model weights can be read with `requireFinite`, refusing NaN/±Inf in the same pass that converts.

import Foundation
import Kernels
import Support

/// A checkpoint or weights file that cannot be used: the file and what is wrong with it.
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
    let mapping: MappedFile  // whole file, read-only
    let dataStart: Int

    /// The largest header accepted (safetensors' own limit).
    public static let maximumHeaderBytes = 100_000_000

    public init(url: URL) throws {
        path = url.path
        let fail = { (why: String) in FileError(file: url.path, reason: why) }
        let file = try OpenedFile(url: url, what: "safetensors file")
        defer { file.close() }
        guard file.size >= 8 else { throw fail("file is \(file.size) bytes, too short for a safetensors header") }
        var lengthBytes: UInt64 = 0
        guard pread(file.descriptor, &lengthBytes, 8, 0) == 8 else { throw file.failure(errno) }
        let headerLength = UInt64(littleEndian: lengthBytes)
        guard headerLength <= UInt64(file.size - 8) else {
            throw fail("header length \(headerLength) runs beyond the end of the \(file.size)-byte file")
        }
        guard headerLength <= UInt64(Self.maximumHeaderBytes) else {
            throw fail("header length \(headerLength) is more than the \(Self.maximumHeaderBytes) bytes safetensors allows")
        }
        dataStart = 8 + Int(headerLength)
        var headerData = Data(count: Int(headerLength))
        var filled = 0
        try headerData.withUnsafeMutableBytes { buffer in
            while filled < buffer.count {
                let n = pread(file.descriptor, buffer.baseAddress! + filled, buffer.count - filled, off_t(8 + filled))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw n < 0 ? file.failure(errno) : fail("file ended inside its header") }
                filled += n
            }
        }
        mapping = try MappedFile(descriptor: file.descriptor, size: file.size, path: url.path)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw fail("header is not a JSON object") }
        let dataSize = mapping.size - dataStart
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
    ///
    /// - Parameter requireFinite: refuse NaN and ±Inf (checked in the same pass that copies or
    ///   converts), with an error naming the tensor, the file and the first offending element.
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int,
                           requireFinite: Bool = false) throws {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        guard info.count == count else {
            throw FileError(file: path, reason: "tensor '\(name)' has \(info.count) elements (shape \(info.shape)), expected \(count)")
        }
        let base = mapping.base + dataStart + info.dataRange.lowerBound
        // Every non-finite float has all exponent bits set: the smallest `exponent & ~bits` over the
        // tensor is 0 exactly when one is present (a branch-free reduction the compiler vectorises).
        let exponent: UInt32 = 0x7F80_0000
        var smallest = exponent
        let out = UnsafeMutableRawPointer(destination).assumingMemoryBound(to: UInt32.self)
        switch info.dtype {
        case .f32:
            for i in 0..<count {
                let bits = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                out[i] = bits
                smallest = min(smallest, exponent & ~bits)
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16
                out[i] = bits
                smallest = min(smallest, exponent & ~bits)
            }
        case .f16:
            for i in 0..<count {
                let value = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                destination[i] = value
                smallest = min(smallest, exponent & ~value.bitPattern)
            }
        case .i64:
            for i in 0..<count { destination[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0..<count { destination[i] = Float(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        }
        if requireFinite && smallest == 0 {
            try NonFiniteValues.check(UnsafePointer(destination), count: count, tensor: name, file: path)
        }
    }

    /// Tensor `name` kept as stored, for a frozen 16-bit model: a `WeightMatrix` over the mapped
    /// bytes of a BF16 or F16 tensor (after refusing NaN/±Inf in it), or nil for other dtypes. The
    /// pointer lives as long as this file object.
    public func sixteenBitMatrix(_ name: String, requireFinite: Bool = true) throws -> WeightMatrix? {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        let element: WeightMatrix.Element
        switch info.dtype {
        case .bf16: element = .bfloat16
        case .f16: element = .float16
        default: return nil
        }
        let base = mapping.base + dataStart + info.dataRange.lowerBound
        if requireFinite {
            // a non-finite bfloat16 has exponent bits 0x7F80 all set, a float16 0x7C00
            let exponent: UInt16 = element == .bfloat16 ? 0x7F80 : 0x7C00
            var smallest = exponent
            for i in 0..<info.count {
                smallest = min(smallest, exponent & ~base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
            if smallest == 0 {
                let first = (0..<info.count).first { exponent & ~base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) == 0 }!
                let bits = base.loadUnaligned(fromByteOffset: 2 * first, as: UInt16.self)
                let value = element == .bfloat16 ? Float(bitPattern: UInt32(bits) << 16) : Float(Float16(bitPattern: bits))
                throw FileError(file: path, reason: "tensor '\(name)' holds non-finite values (first at element \(first): \(value))")
            }
        }
        return WeightMatrix(base: base, element: element)
    }

    /// Tensor `name` as Floats (`requireFinite` as in `readFloats`).
    public func floats(_ name: String, requireFinite: Bool = false) throws -> [Float] {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        var out = [Float](repeating: 0, count: info.count)
        try out.withUnsafeMutableBufferPointer {
            try readFloats(name, into: $0.baseAddress!, count: info.count, requireFinite: requireFinite)
        }
        return out
    }

    /// Integer tensor `name` (I64 or I32) as Int64.
    public func integers(_ name: String) throws -> [Int64] {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        let base = mapping.base + dataStart + info.dataRange.lowerBound
        switch info.dtype {
        case .i64: return (0..<info.count).map { Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        case .i32: return (0..<info.count).map { Int64(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        default: throw FileError(file: path, reason: "tensor '\(name)' is \(info.dtype.rawValue), expected an integer type")
        }
    }
}

/// A read-only, private memory mapping of a whole file (unmapped on deinit). Mapping reads nothing:
/// pages are read when a tensor is converted.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer
    let size: Int
    private let mappedLength: Int

    /// Maps `size` bytes of the open file `descriptor` (which may be closed afterwards).
    init(descriptor: Int32, size: Int, path: String) throws {
        self.size = size
        mappedLength = max(size, 1)
        guard let address = mmap(nil, mappedLength, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw FileError(file: path, reason: "cannot map the file into memory: \(FileRead.describe(errno: errno))")
        }
        base = UnsafeRawPointer(address)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
}
