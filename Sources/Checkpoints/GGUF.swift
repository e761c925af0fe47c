// GGUF reading (llama.cpp's single-file format, versions 2 and 3): the header, every metadata value
// type (nested arrays included, to a stated depth), the tensor directory and `general.alignment`,
// validated before any tensor data is touched. The file is memory-mapped and parsed with a cursor
// that checks every length against the bytes left, so a truncated or hostile file is a
// FileError naming the file and the field — never an out-of-bounds read, and no count from
// the file allocates more than the file itself could hold. Tensors are read as Float through
// `GGUFQuantization` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K); other types are refused
// by name when read.

import Foundation
import Support

/// A ggml tensor type (the `type` of a GGUF tensor). Every type ggml defines has a name and block
/// layout here, so sizes can be checked for any of them; `isSupported` says which ones idpo reads.
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0), f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2), q4_1 = GGMLType(rawValue: 3)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q4_K = GGMLType(rawValue: 12), q5_K = GGMLType(rawValue: 13), q6_K = GGMLType(rawValue: 14)
    public static let bf16 = GGMLType(rawValue: 30)

    /// (name, elements per block, bytes per block) of every type ggml defines (ggml.h / gguf-py's
    /// GGML_QUANT_SIZES); ids missing here (4, 5, 31–33, 36–38) were removed from ggml.
    static let table: [UInt32: (name: String, blockSize: Int, typeSize: Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
        26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
        30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
        40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    ]

    /// The types idpo converts to Float.
    public static let supported: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K]

    /// Whether ggml defines this type (its block layout is known).
    public var isKnown: Bool { Self.table[rawValue] != nil }
    public var isSupported: Bool { Self.supported.contains(self) }
    /// "Q4_K", or "type 99" for an id ggml does not define.
    public var name: String { Self.table[rawValue]?.name ?? "type \(rawValue)" }
    public var description: String { name }
    /// Elements per block (1 for plain types) and bytes per block; 0 for unknown types.
    public var blockSize: Int { Self.table[rawValue]?.blockSize ?? 0 }
    public var typeSize: Int { Self.table[rawValue]?.typeSize ?? 0 }

    /// The type named `name` ("q8_0", "F16"), case-insensitively.
    public init?(name: String) {
        guard let id = Self.table.first(where: { $0.value.name.lowercased() == name.lowercased() })?.key else { return nil }
        rawValue = id
    }
}

/// The type of a GGUF metadata value (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// Bytes one value of a fixed-size type takes; for strings and arrays the least a value can take.
    var minimumBytes: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string: return 8        // the length alone
        case .array: return 12        // element type + count
        }
    }
}

/// A metadata value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFArray)

    /// A scalar as the one-element array of its type; nil for an array. GGUF encodes an array's
    /// elements exactly as it encodes scalars, so the case-to-type table (`GGUFArray.elementType`)
    /// and the writer's encoding exist once, for arrays.
    public var asOneElementArray: GGUFArray? {
        switch self {
        case .uint8(let v): return .uint8([v])
        case .int8(let v): return .int8([v])
        case .uint16(let v): return .uint16([v])
        case .int16(let v): return .int16([v])
        case .uint32(let v): return .uint32([v])
        case .int32(let v): return .int32([v])
        case .uint64(let v): return .uint64([v])
        case .int64(let v): return .int64([v])
        case .float32(let v): return .float32([v])
        case .float64(let v): return .float64([v])
        case .bool(let v): return .bool([v])
        case .string(let v): return .string([v])
        case .array: return nil
        }
    }

    public var type: GGUFValueType { asOneElementArray?.elementType ?? .array }

    /// The value as an Int when it is an integer of any width that fits.
    public var integer: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a Double when it is a number (integer or float).
    public var number: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return integer.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: GGUFArray? { if case .array(let a) = self { return a } else { return nil } }

    /// "UINT32", "ARRAY of STRING", … for messages.
    public var typeDescription: String {
        if case .array(let a) = self { return "ARRAY of \(a.elementType.name)" }
        return type.name
    }
}

extension GGUFValueType {
    /// The name gguf-py uses ("UINT32", "STRING", …).
    public var name: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        }
    }
}

/// A metadata array, stored by element type (compactly: one Swift array of the element type).
public enum GGUFArray: Equatable, Sendable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    case uint64([UInt64]), int64([Int64]), float32([Float]), float64([Double]), bool([Bool]), string([String])
    case array([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    public var count: Int {
        switch self {
        case .uint8(let a): return a.count
        case .int8(let a): return a.count
        case .uint16(let a): return a.count
        case .int16(let a): return a.count
        case .uint32(let a): return a.count
        case .int32(let a): return a.count
        case .uint64(let a): return a.count
        case .int64(let a): return a.count
        case .float32(let a): return a.count
        case .float64(let a): return a.count
        case .bool(let a): return a.count
        case .string(let a): return a.count
        case .array(let a): return a.count
        }
    }

    public var strings: [String]? { if case .string(let a) = self { return a } else { return nil } }

    /// The elements as Int when this is an array of integers that all fit.
    public var integers: [Int]? {
        func convert<T: BinaryInteger>(_ a: [T]) -> [Int]? {
            var out: [Int] = []
            out.reserveCapacity(a.count)
            for v in a { guard let i = Int(exactly: v) else { return nil }; out.append(i) }
            return out
        }
        switch self {
        case .uint8(let a): return convert(a)
        case .int8(let a): return convert(a)
        case .uint16(let a): return convert(a)
        case .int16(let a): return convert(a)
        case .uint32(let a): return convert(a)
        case .int32(let a): return convert(a)
        case .uint64(let a): return convert(a)
        case .int64(let a): return convert(a)
        default: return nil
        }
    }

    /// The elements as Double when this is an array of numbers.
    public var numbers: [Double]? {
        switch self {
        case .float32(let a): return a.map(Double.init)
        case .float64(let a): return a
        default: return integers?.map(Double.init)
        }
    }
}

/// A tensor's entry in the GGUF directory.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let type: GGMLType
    /// ggml's `ne`: dimensions innermost first (ne0 is the number of columns of a matrix).
    public let dimensions: [Int]
    /// Byte offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int
    /// The row-major shape (numpy / PyTorch order): `dimensions` reversed.
    public var shape: [Int] { dimensions.reversed() }
    public var count: Int { dimensions.reduce(1, *) }
}

/// A validated, memory-mapped GGUF file.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata by key, and the keys in file order.
    public let metadata: [String: GGUFValue]
    public let metadataKeys: [String]
    /// Tensors by name, and the names in file order.
    public let tensors: [String: GGUFTensorInfo]
    public let tensorNames: [String]
    /// `general.alignment` (32 when absent) and where the data section starts in the file.
    public let alignment: Int
    public let dataStart: Int
    let mapping: MappedFile

    /// The GGUF versions read (version 1 used 32-bit counts and is long obsolete).
    public static let supportedVersions: ClosedRange<UInt32> = 2...3
    /// How deeply metadata arrays may nest (arrays of arrays of …).
    public static let maximumArrayDepth = 8
    /// The most dimensions a tensor has (ggml's GGML_MAX_DIMS).
    public static let maximumDimensions = 4
    public static let defaultAlignment = 32
    static let magic: [UInt8] = Array("GGUF".utf8)

    /// Opens, maps and validates `url`: header, metadata, tensor directory, and that every tensor's
    /// bytes lie inside the file, aligned and without overlapping another's.
    public init(url: URL) throws {
        path = url.path
        let fail = { (why: String) in FileError(file: url.path, reason: why) }
        let file = try OpenedFile(url: url, what: "GGUF file")
        defer { file.close() }
        guard file.size >= 24 else { throw fail("file is \(file.size) bytes, too short for a GGUF header (24 bytes)") }
        mapping = try MappedFile(descriptor: file.descriptor, size: file.size, path: url.path)
        var cursor = GGUFCursor(base: mapping.base, size: mapping.size, path: url.path)

        let magic = try cursor.bytes(4, "the magic number")
        guard Array(magic) == Self.magic else {
            let shown = magic.map { (32..<127).contains($0) ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined()
            throw fail("not a GGUF file: it starts with \"\(shown)\", expected \"GGUF\"")
        }
        version = try cursor.read(UInt32.self, "the version")
        guard Self.supportedVersions.contains(version) else {
            throw fail("GGUF version \(version) is not supported (supported: 2 and 3)")
        }
        let tensorCount = try cursor.read(UInt64.self, "the tensor count")
        let keyCount = try cursor.read(UInt64.self, "the metadata count")
        // Each key/value takes at least 13 bytes (key length, type, one byte), each tensor entry 32.
        guard keyCount <= UInt64(cursor.remaining / 13) else {
            throw fail("header claims \(keyCount) metadata entries, more than the \(file.size)-byte file can hold")
        }
        guard tensorCount <= UInt64(cursor.remaining / 32) else {
            throw fail("header claims \(tensorCount) tensors, more than the \(file.size)-byte file can hold")
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(keyCount))
        for index in 0..<Int(keyCount) {
            let key = try cursor.string("the key of metadata entry \(index)")
            guard metadata[key] == nil else { throw fail("metadata key '\(key)' appears twice") }
            let rawType = try cursor.read(UInt32.self, "the type of metadata '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw fail("metadata '\(key)' has unknown value type \(rawType) (known: 0–12)")
            }
            metadata[key] = try cursor.value(type, field: key, depth: 0)
            keys.append(key)
        }

        var alignment = Self.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value else {
                throw fail("metadata 'general.alignment' is \(value.typeDescription), expected UINT32")
            }
            guard a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw fail("metadata 'general.alignment' = \(a) is not a power of two up to 1 MiB")
            }
            alignment = Int(a)
        }

        var infos: [String: GGUFTensorInfo] = [:]
        var names: [String] = []
        names.reserveCapacity(Int(tensorCount))
        var seen: Set<String> = []
        var pending: [(name: String, type: GGMLType, dimensions: [Int], offset: UInt64, elements: Int)] = []
        pending.reserveCapacity(Int(tensorCount))
        for index in 0..<Int(tensorCount) {
            let name = try cursor.string("the name of tensor \(index)")
            guard seen.insert(name).inserted else { throw fail("tensor '\(name)' appears twice") }
            let dimensionCount = try cursor.read(UInt32.self, "the dimension count of tensor '\(name)'")
            guard (1...UInt32(Self.maximumDimensions)).contains(dimensionCount) else {
                throw fail("tensor '\(name)' has \(dimensionCount) dimensions (ggml allows 1 to \(Self.maximumDimensions))")
            }
            var dimensions: [Int] = []
            var elements = 1
            for d in 0..<Int(dimensionCount) {
                let n = try cursor.read(UInt64.self, "dimension \(d) of tensor '\(name)'")
                guard n <= UInt64(Int64.max) else { throw fail("tensor '\(name)' has dimensions too large to address") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(n))
                guard !overflow else { throw fail("tensor '\(name)' has dimensions too large to address") }
                elements = product
                dimensions.append(Int(n))
            }
            let rawType = try cursor.read(UInt32.self, "the type of tensor '\(name)'")
            let type = GGMLType(rawValue: rawType)
            guard type.isKnown else {
                throw fail("tensor '\(name)' has unknown ggml type \(rawType)")
            }
            let offset = try cursor.read(UInt64.self, "the data offset of tensor '\(name)'")
            pending.append((name, type, dimensions, offset, elements))
            names.append(name)
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, overflow) = cursor.offset.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw fail("header too large") }
        dataStart = padded / alignment * alignment
        let dataSize = max(0, file.size - dataStart)
        for t in pending {
            guard t.dimensions[0] % t.type.blockSize == 0 else {
                throw fail("tensor '\(t.name)' has \(t.dimensions[0]) columns, not a multiple of \(t.type.name)'s block of \(t.type.blockSize)")
            }
            let blocks = t.elements / t.type.blockSize
            let (bytes, tooMany) = blocks.multipliedReportingOverflow(by: t.type.typeSize)
            guard !tooMany, bytes <= dataSize else {
                throw fail("tensor '\(t.name)' (\(t.type.name), dimensions \(t.dimensions)) needs more bytes than the file's \(dataSize)-byte data section holds")
            }
            guard t.offset % UInt64(alignment) == 0 else {
                throw fail("tensor '\(t.name)' data offset \(t.offset) is not a multiple of the alignment \(alignment)")
            }
            guard t.offset <= UInt64(dataSize - bytes) else {
                throw fail("tensor '\(t.name)' data [\(t.offset), \(t.offset) + \(bytes)) runs past the end of the file (data section is \(dataSize) bytes from byte \(dataStart))")
            }
            infos[t.name] = GGUFTensorInfo(name: t.name, type: t.type, dimensions: t.dimensions, offset: Int(t.offset), byteCount: bytes)
        }
        let sorted = infos.values.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap in the data section")
        }
        self.metadata = metadata
        metadataKeys = keys
        tensors = infos
        tensorNames = names
        self.alignment = alignment
    }

    // MARK: Metadata access with errors naming the key

    /// The metadata value `key`, or nil when absent.
    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// An integer metadata value (any integer type); nil when absent, an error when of another type.
    public func integer(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let i = value.integer else {
            if case .uint64(let big) = value { throw FileError(file: path, reason: "metadata '\(key)' = \(big) is too large") }
            throw wrongType(key, value, "an integer")
        }
        return i
    }

    /// A number (integer or float); nil when absent.
    public func number(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let d = value.number else { throw wrongType(key, value, "a number") }
        return d
    }

    public func string(_ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard let s = value.string else { throw wrongType(key, value, "STRING") }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let b = value.bool else { throw wrongType(key, value, "BOOL") }
        return b
    }

    public func stringArray(_ key: String) throws -> [String]? {
        guard let value = metadata[key] else { return nil }
        guard let a = value.array?.strings else { throw wrongType(key, value, "ARRAY of STRING") }
        return a
    }

    public func integerArray(_ key: String) throws -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard let a = value.array?.integers else { throw wrongType(key, value, "ARRAY of integers") }
        return a
    }

    func wrongType(_ key: String, _ value: GGUFValue, _ expected: String) -> FileError {
        FileError(file: path, reason: "metadata '\(key)' is \(value.typeDescription), expected \(expected)")
    }

    // MARK: Tensor data

    /// The raw bytes of tensor `name` (inside the mapping; valid while this file is alive).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        return UnsafeRawBufferPointer(start: mapping.base + dataStart + info.offset, count: info.byteCount)
    }

    /// Throws unless tensor `name` has a type idpo converts to Float, naming the tensor and the type.
    public func requireSupportedType(_ name: String) throws {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        guard info.type.isSupported else {
            throw FileError(file: path, reason: "tensor '\(name)' is \(info.type.name), which idpo cannot convert (supported: \(GGMLType.supported.map(\.name).joined(separator: ", ")))")
        }
    }

    /// Converts tensor `name` to Float into `destination` (exactly `count` elements), bit for bit as
    /// llama.cpp's `dequantize_row_*` and gguf-py.
    ///
    /// - Parameter requireFinite: refuse NaN and ±Inf, naming the tensor and the first bad element.
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int,
                           requireFinite: Bool = false) throws {
        try requireSupportedType(name)
        let info = tensors[name]!
        guard info.count == count else {
            throw FileError(file: path, reason: "tensor '\(name)' has \(info.count) elements (dimensions \(info.dimensions)), expected \(count)")
        }
        GGUFQuantization.dequantize(info.type, from: mapping.base + dataStart + info.offset, count: count, into: destination)
        if requireFinite {
            try NonFiniteValues.check(UnsafePointer(destination), count: count, tensor: name, file: path)
        }
    }

    /// Tensor `name` as Floats, in row-major order of `shape` (`requireFinite` as in `readFloats`).
    public func floats(_ name: String, requireFinite: Bool = false) throws -> [Float] {
        guard let info = tensors[name] else { throw FileError(file: path, reason: "missing tensor '\(name)'") }
        try requireSupportedType(name)
        var out = [Float](repeating: 0, count: info.count)
        try out.withUnsafeMutableBufferPointer {
            try readFloats(name, into: $0.baseAddress!, count: info.count, requireFinite: requireFinite)
        }
        return out
    }

    /// Whether `url` is a file that starts with the GGUF magic number (false when unreadable).
    public static func hasMagic(_ url: URL) -> Bool {
        guard let file = try? OpenedFile(url: url, what: "GGUF file") else { return false }
        defer { file.close() }
        var bytes = [UInt8](repeating: 0, count: 4)
        return pread(file.descriptor, &bytes, 4, 0) == 4 && bytes == magic
    }
}

/// Reads little-endian values from the mapped file, checking each length against the bytes left.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    var offset = 0

    init(base: UnsafeRawPointer, size: Int, path: String) { self.base = base; self.size = size; self.path = path }

    var remaining: Int { size - offset }

    func ended(_ what: String) -> FileError {
        FileError(file: path, reason: "file ends inside \(what) (at byte \(offset) of \(size))")
    }

    mutating func bytes(_ count: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw ended(what) }
        defer { offset += count }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw ended(what) }
        defer { offset += size }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A gguf_string: a UInt64 length and that many bytes of UTF-8.
    mutating func string(_ what: String) throws -> String {
        let length = try read(UInt64.self, "the length of \(what)")
        guard length <= UInt64(remaining) else {
            throw FileError(file: path, reason: "\(what): string length \(length) runs past the end of the file (at byte \(offset) of \(size))")
        }
        let start = offset
        let raw = try bytes(Int(length), what)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw FileError(file: path, reason: "\(what) is not valid UTF-8 (at byte \(start))")
        }
        return s
    }

    /// One metadata value of `type` (`field` names it in errors: "tokenizer.ggml.tokens[17]").
    mutating func value(_ type: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        let what = "metadata '\(field)'"
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, what))
        case .int8: return .int8(try read(Int8.self, what))
        case .uint16: return .uint16(try read(UInt16.self, what))
        case .int16: return .int16(try read(Int16.self, what))
        case .uint32: return .uint32(try read(UInt32.self, what))
        case .int32: return .int32(try read(Int32.self, what))
        case .uint64: return .uint64(try read(UInt64.self, what))
        case .int64: return .int64(try read(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what)))
        case .bool: return .bool(try read(UInt8.self, what) != 0)
        case .string: return .string(try string(what))
        case .array: return .array(try array(field: field, depth: depth + 1))
        }
    }

    /// An array: element type, UInt64 count, elements. The count is checked against the bytes left
    /// (at the element type's least size) before anything is allocated.
    mutating func array(field: String, depth: Int) throws -> GGUFArray {
        guard depth <= GGUFFile.maximumArrayDepth else {
            throw FileError(file: path, reason: "metadata '\(field)': arrays nest more than \(GGUFFile.maximumArrayDepth) deep")
        }
        let rawType = try read(UInt32.self, "the element type of metadata '\(field)'")
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw FileError(file: path, reason: "metadata '\(field)' is an array of unknown value type \(rawType)")
        }
        let count = try read(UInt64.self, "the length of metadata '\(field)'")
        guard count <= UInt64(remaining / type.minimumBytes) else {
            throw FileError(file: path, reason: "metadata '\(field)' claims \(count) elements of \(type.name), more than the rest of the file holds")
        }
        let n = Int(count)
        func numbers<T: FixedWidthInteger>(_ t: T.Type) throws -> [T] {
            let raw = try bytes(n * MemoryLayout<T>.size, "metadata '\(field)'")
            return (0..<n).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch type {
        case .uint8: return .uint8(try numbers(UInt8.self))
        case .int8: return .int8(try numbers(Int8.self))
        case .uint16: return .uint16(try numbers(UInt16.self))
        case .int16: return .int16(try numbers(Int16.self))
        case .uint32: return .uint32(try numbers(UInt32.self))
        case .int32: return .int32(try numbers(Int32.self))
        case .uint64: return .uint64(try numbers(UInt64.self))
        case .int64: return .int64(try numbers(Int64.self))
        case .float32: return .float32(try numbers(UInt32.self).map(Float.init(bitPattern:)))
        case .float64: return .float64(try numbers(UInt64.self).map(Double.init(bitPattern:)))
        case .bool: return .bool(try numbers(UInt8.self).map { $0 != 0 })
        case .string:
            var out: [String] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try string("metadata '\(field)[\(i)]'")) }
            return .string(out)
        case .array:
            var out: [GGUFArray] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try array(field: "\(field)[\(i)]", depth: depth + 1)) }
            return .array(out)
        }
    }
}
