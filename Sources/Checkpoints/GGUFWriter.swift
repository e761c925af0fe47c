// GGUF writing (version 3): metadata in the order given, the tensor directory, and each tensor's
// bytes at a multiple of the alignment (32 unless `general.alignment` says otherwise), as llama.cpp
// and gguf-py write them. `GGUFWriter.llama` lays out a Llama model the way convert_hf_to_gguf.py
// does: llama.* metadata, llama.cpp tensor names and reversed dimensions, q/k rows permuted for
// llama.cpp's RoPE, norms kept in F32, matrices in F32, F16, BF16 or Q8_0 (rounded exactly as
// ggml's reference quantizer), and the tokenizer's metadata from tokenizer.json and
// tokenizer_config.json (GGUFTokenizerExport.swift).

import Foundation
import Llama
import Support

public struct GGUFWriter {
    /// One tensor: its name, ggml type, dimensions (ne0 first) and encoded bytes.
    public struct Tensor {
        public var name: String
        public var type: GGMLType
        public var dimensions: [Int]
        public var bytes: [UInt8]
        public init(name: String, type: GGMLType, dimensions: [Int], bytes: [UInt8]) {
            self.name = name; self.type = type; self.dimensions = dimensions; self.bytes = bytes
        }
    }

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [Tensor] = []

    public init() {}

    /// The alignment `general.alignment` asks for, or 32.
    public var alignment: Int {
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value, case .uint32(let a) = value { return Int(a) }
        return GGUFFile.defaultAlignment
    }

    /// The file's bytes.
    public func data() throws -> Data {
        let alignment = self.alignment
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw FileError(file: "GGUF", reason: "general.alignment \(alignment) is not a power of two")
        }
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func pad() { while out.count % alignment != 0 { out.append(0) } }

        out.append(contentsOf: GGUFFile.magic)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            u32(value.type.rawValue)
            Self.append(value, to: &out)
        }
        var offset = 0
        for t in tensors {
            let elements = t.dimensions.reduce(1, *)
            guard t.type.isKnown, t.dimensions[0] % t.type.blockSize == 0,
                  t.bytes.count == elements / t.type.blockSize * t.type.typeSize else {
                throw FileError(file: "GGUF", reason: "tensor '\(t.name)': \(t.bytes.count) bytes do not match \(t.type.name) dimensions \(t.dimensions)")
            }
            string(t.name)
            u32(UInt32(t.dimensions.count))
            for d in t.dimensions { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        pad()
        out.reserveCapacity(out.count + offset)
        for t in tensors {
            out.append(contentsOf: t.bytes)
            pad()
        }
        return out
    }

    /// Writes the file atomically (no partial file on failure).
    public func write(to url: URL) throws {
        try AtomicFile.write(try data(), to: url)
    }

    /// A value's bytes after its type tag: a scalar as the one element of its array type.
    static func append(_ value: GGUFValue, to out: inout Data) {
        if let one = value.asOneElementArray {
            appendElements(one, to: &out)
        } else if case .array(let a) = value {
            appendArray(a, to: &out)
        }
    }

    /// An array's bytes: element type, count, elements.
    static func appendArray(_ array: GGUFArray, to out: inout Data) {
        func raw<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        raw(array.elementType.rawValue)
        raw(UInt64(array.count))
        appendElements(array, to: &out)
    }

    /// The elements of an array, each encoded as the scalar of its type.
    static func appendElements(_ array: GGUFArray, to out: inout Data) {
        func raw<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        switch array {
        case .uint8(let a): out.append(contentsOf: a)
        case .int8(let a): a.forEach { raw($0) }
        case .uint16(let a): a.forEach { raw($0) }
        case .int16(let a): a.forEach { raw($0) }
        case .uint32(let a): a.forEach { raw($0) }
        case .int32(let a): a.forEach { raw($0) }
        case .uint64(let a): a.forEach { raw($0) }
        case .int64(let a): a.forEach { raw($0) }
        case .float32(let a): a.forEach { raw($0.bitPattern) }
        case .float64(let a): a.forEach { raw($0.bitPattern) }
        case .bool(let a): a.forEach { raw(UInt8($0 ? 1 : 0)) }
        case .string(let a): for s in a { raw(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        case .array(let a): a.forEach { appendArray($0, to: &out) }
        }
    }

    // MARK: Llama models

    /// The weight types `llama(_:…)` writes matrices in (norms stay F32, as llama.cpp keeps them).
    public enum WeightType: String, CaseIterable, Sendable { case f32, f16, bf16, q8_0 }

    /// Encodes `count` floats as `type` (F32, F16, BF16 or Q8_0).
    public static func encode(_ values: UnsafePointer<Float>, count: Int, as type: GGMLType) -> [UInt8] {
        var out: [UInt8] = []
        switch type {
        case .f32:
            out.reserveCapacity(4 * count)
            for i in 0..<count { withUnsafeBytes(of: values[i].bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        case .f16:
            out.reserveCapacity(2 * count)
            for i in 0..<count { withUnsafeBytes(of: GGUFQuantization.halfBits(values[i]).littleEndian) { out.append(contentsOf: $0) } }
        case .bf16:
            out.reserveCapacity(2 * count)
            for i in 0..<count { withUnsafeBytes(of: SafetensorsWriter.bfloat16Bits(values[i]).littleEndian) { out.append(contentsOf: $0) } }
        case .q8_0:
            GGUFQuantization.quantizeQ8_0(values, count: count, into: &out)
        default:
            preconditionFailure("GGUFWriter.encode: \(type.name) is not written")
        }
        return out
    }

    /// A GGUF of a Llama model as convert_hf_to_gguf.py writes one: `llama.*` metadata from the
    /// config, tensors under llama.cpp's names with q/k rows permuted, matrices as `weights`
    /// (Q8_0 falls back to F16 for a matrix whose rows are not a multiple of 32, as llama.cpp's
    /// converter does), norms F32, then the tokenizer's metadata when `tokenizer` is given.
    ///
    /// - Throws: `FileError` for a configuration llama.cpp's llama architecture cannot
    ///   express (RoPE scaling), or a tokenizer it cannot take (see `GGUFTokenizerExport`).
    public static func llama(_ model: LlamaModel, weights: WeightType, name: String? = nil,
                             tokenizer: GGUFTokenizerExport? = nil) throws -> GGUFWriter {
        let c = model.config
        guard c.architecture == .llama else {
            throw FileError(file: "GGUF", reason: "model_type '\(c.architecture.rawValue)' is not exported to GGUF (only llama); serve the Hugging Face directory instead")
        }
        guard c.ropeScaling == nil else {
            throw FileError(file: "GGUF", reason: "rope_scaling (llama3) is not exported to GGUF: llama.cpp stores it as a rope_freqs tensor idpo does not read back")
        }
        var w = GGUFWriter()
        let fileType: UInt32
        switch weights { case .f32: fileType = 0; case .f16: fileType = 1; case .q8_0: fileType = 7; case .bf16: fileType = 32 }
        w.metadata = [
            ("general.architecture", .string("llama")),
            ("general.type", .string("model")),
        ]
        if let name { w.metadata.append(("general.name", .string(name))) }
        /// llama.cpp reads these keys as UINT32.
        func u32(_ value: Int, _ field: String) throws -> GGUFValue {
            guard let v = UInt32(exactly: value) else {
                throw FileError(file: "GGUF", reason: "\(field) = \(value) does not fit the UINT32 llama.cpp reads")
            }
            return .uint32(v)
        }
        w.metadata += [
            ("general.file_type", .uint32(fileType)),
            ("llama.block_count", try u32(c.numHiddenLayers, "num_hidden_layers")),
            ("llama.context_length", try u32(c.maxPositionEmbeddings, "max_position_embeddings")),
            ("llama.embedding_length", try u32(c.hiddenSize, "hidden_size")),
            ("llama.feed_forward_length", try u32(c.intermediateSize, "intermediate_size")),
            ("llama.attention.head_count", try u32(c.numAttentionHeads, "num_attention_heads")),
            ("llama.attention.head_count_kv", try u32(c.numKeyValueHeads, "num_key_value_heads")),
            ("llama.rope.freq_base", .float32(Float(c.ropeTheta))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Float(c.rmsNormEps))),
            ("llama.vocab_size", try u32(c.vocabSize, "vocab_size")),
            ("llama.rope.dimension_count", try u32(c.headDim, "head_dim")),
        ]
        if weights == .q8_0 { w.metadata.append(("general.quantization_version", .uint32(2))) }
        if let tokenizer { w.metadata += try tokenizer.metadata(vocabularySize: c.vocabSize, config: c) }

        var scratch: [Float] = []
        for entry in model.layout.entries {
            guard let ggufName = GGUFFile.llamaTensorName(ofHuggingFace: entry.name) else { continue }
            let dimensions = Array(entry.shape.reversed())
            let source = UnsafePointer(model.parameters.pointer + entry.offset)
            let heads = entry.name.hasSuffix("q_proj.weight") ? c.numAttentionHeads : entry.name.hasSuffix("k_proj.weight") ? c.numKeyValueHeads : 0
            if heads > 0 {
                if scratch.count < entry.count { scratch = [Float](repeating: 0, count: entry.count) }
                scratch.withUnsafeMutableBufferPointer {
                    LlamaRowPermutation.permute(source, into: $0.baseAddress!, heads: heads, headDim: c.headDim, columns: c.hiddenSize)
                }
            }
            let type: GGMLType
            if entry.shape.count < 2 {
                type = .f32
            } else {
                switch weights {
                case .f32: type = .f32
                case .f16: type = .f16
                case .bf16: type = .bf16
                case .q8_0: type = dimensions[0] % 32 == 0 ? .q8_0 : .f16
                }
            }
            let bytes: [UInt8] = heads > 0
                ? scratch.withUnsafeBufferPointer { encode($0.baseAddress!, count: entry.count, as: type) }
                : encode(source, count: entry.count, as: type)
            w.tensors.append(Tensor(name: ggufName, type: type, dimensions: dimensions, bytes: bytes))
        }
        return w
    }
}
