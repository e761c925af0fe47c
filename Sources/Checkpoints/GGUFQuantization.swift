// ggml's block formats ↔ Float, written from the layouts of llama.cpp's ggml-quants.c and checked
// bit for bit against gguf-py's numpy reference (which mirrors `dequantize_row_*`): every product
// and sum is one float32 operation in the reference's order — (d·scale)·q − dmin·m, q·d + m — with
// no fused multiply-add, so the results are identical, not merely close.
//
// Block layouts (little-endian; d, dmin, m are fp16):
//   Q8_0  32 values, 34 bytes: d, qs[32] int8                         y = qs·d
//   Q4_0  32 values, 18 bytes: d, qs[16] (low nibbles first)         y = (nibble − 8)·d
//   Q4_1  32 values, 20 bytes: d, m, qs[16]                          y = nibble·d + m
//   Q4_K 256 values, 144 bytes: d, dmin, scales[12] (8 × 6-bit scale and min), qs[128]
//   Q5_K 256 values, 176 bytes: d, dmin, scales[12], qh[32] (fifth bits), qs[128]
//   Q6_K 256 values, 210 bytes: ql[128], qh[64], scales[16] int8, d

import Foundation

public enum GGUFQuantization {
    /// fp16 bits → Float (exact).
    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    /// Converts `count` elements of `type` stored at `source` to Float. `count` must be a multiple of
    /// the type's block size (GGUFFile checks this when it reads the directory).
    public static func dequantize(_ type: GGMLType, from source: UnsafeRawPointer, count: Int,
                                  into y: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            let out = UnsafeMutableRawPointer(y)
            for i in 0..<count {
                out.storeBytes(of: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)),
                               toByteOffset: 4 * i, as: UInt32.self)
            }
        case .f16:
            for i in 0..<count { y[i] = half(source, 2 * i) }
        case .bf16:
            for i in 0..<count {
                y[i] = Float(bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
        case .q8_0:
            for b in 0..<count / 32 {
                let block = source + 34 * b, out = y + 32 * b
                let d = half(block, 0)
                for j in 0..<32 { out[j] = Float(Int8(bitPattern: block.load(fromByteOffset: 2 + j, as: UInt8.self))) * d }
            }
        case .q4_0:
            for b in 0..<count / 32 {
                let block = source + 18 * b, out = y + 32 * b
                let d = half(block, 0)
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
                    out[j] = Float(Int(q & 0x0F) - 8) * d
                    out[j + 16] = Float(Int(q >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<count / 32 {
                let block = source + 20 * b, out = y + 32 * b
                let d = half(block, 0), m = half(block, 2)
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 4 + j, as: UInt8.self)
                    out[j] = Float(q & 0x0F) * d + m
                    out[j + 16] = Float(q >> 4) * d + m
                }
            }
        case .q4_K:
            for b in 0..<count / 256 {
                let block = source + 144 * b
                var out = y + 256 * b
                let d = half(block, 0), dmin = half(block, 2)
                let scales = block + 4
                var q = block + 16
                for group in 0..<4 {
                    let (sc1, m1) = scaleMin(2 * group, scales), (sc2, m2) = scaleMin(2 * group + 1, scales)
                    let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                    let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                    for l in 0..<32 { out[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0x0F) - min1 }
                    for l in 0..<32 { out[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - min2 }
                    out += 64
                    q += 32
                }
            }
        case .q5_K:
            for b in 0..<count / 256 {
                let block = source + 176 * b
                var out = y + 256 * b
                let d = half(block, 0), dmin = half(block, 2)
                let scales = block + 4, qh = block + 16
                var ql = block + 48
                var u1: UInt8 = 1, u2: UInt8 = 2
                for group in 0..<4 {
                    let (sc1, m1) = scaleMin(2 * group, scales), (sc2, m2) = scaleMin(2 * group + 1, scales)
                    let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                    let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                    for l in 0..<32 {
                        let low = ql.load(fromByteOffset: l, as: UInt8.self), high = qh.load(fromByteOffset: l, as: UInt8.self)
                        out[l] = d1 * Float((low & 0x0F) + (high & u1 != 0 ? 16 : 0)) - min1
                        out[32 + l] = d2 * Float((low >> 4) + (high & u2 != 0 ? 16 : 0)) - min2
                    }
                    out += 64
                    ql += 32
                    u1 = u1 &<< 2
                    u2 = u2 &<< 2
                }
            }
        case .q6_K:
            for b in 0..<count / 256 {
                let block = source + 210 * b
                var out = y + 256 * b
                let d = half(block, 208)
                var ql = block, qh = block + 128, sc = block + 192
                for _ in 0..<2 {
                    for l in 0..<32 {
                        let scale = l / 16
                        let a = ql.load(fromByteOffset: l, as: UInt8.self), c = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                        let h = qh.load(fromByteOffset: l, as: UInt8.self)
                        let q1 = Int((a & 0x0F) | ((h >> 0) & 3) << 4) - 32
                        let q2 = Int((c & 0x0F) | ((h >> 2) & 3) << 4) - 32
                        let q3 = Int((a >> 4) | ((h >> 4) & 3) << 4) - 32
                        let q4 = Int((c >> 4) | ((h >> 6) & 3) << 4) - 32
                        func s(_ k: Int) -> Float { Float(Int8(bitPattern: sc.load(fromByteOffset: k, as: UInt8.self))) }
                        out[l] = d * s(scale) * Float(q1)
                        out[l + 32] = d * s(scale + 2) * Float(q2)
                        out[l + 64] = d * s(scale + 4) * Float(q3)
                        out[l + 96] = d * s(scale + 6) * Float(q4)
                    }
                    out += 128
                    ql += 64
                    qh += 32
                    sc += 8
                }
            }
        default:
            preconditionFailure("GGUFQuantization.dequantize: \(type.name) is not supported (callers check isSupported)")
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0–7) packed in a K-quant's 12 `scales` bytes
    /// (ggml's `get_scale_min_k4`).
    @inline(__always) static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func byte(_ k: Int) -> UInt8 { q.load(fromByteOffset: k, as: UInt8.self) }
        if j < 4 { return (byte(j) & 63, byte(j + 4) & 63) }
        return ((byte(j + 4) & 0x0F) | ((byte(j - 4) >> 6) << 4), (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4))
    }

    /// Quantizes `count` floats (a multiple of 32) to Q8_0 blocks appended to `out`, exactly as
    /// llama.cpp's `quantize_row_q8_0_ref`: d = max|x| / 127 stored as fp16 (round to nearest even),
    /// q = roundf(x · (1/d)) with halves rounded away from zero, computed with the float32 d.
    public static func quantizeQ8_0(_ x: UnsafePointer<Float>, count: Int, into out: inout [UInt8]) {
        precondition(count % 32 == 0, "Q8_0 rows are a multiple of 32 values")
        out.reserveCapacity(out.count + count / 32 * 34)
        for b in 0..<count / 32 {
            let block = x + 32 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(block[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            let bits = Float16(d).bitPattern
            out.append(UInt8(bits & 0xFF))
            out.append(UInt8(bits >> 8))
            for j in 0..<32 {
                let q = (block[j] * id).rounded(.toNearestOrAwayFromZero)
                out.append(UInt8(bitPattern: q.isNaN ? 0 : Int8(Swift.max(-128, Swift.min(127, q)))))
            }
        }
    }

    /// fp16 bits of `x`, rounded to nearest even (ggml's GGML_FP32_TO_FP16).
    @inline(__always) public static func halfBits(_ x: Float) -> UInt16 { Float16(x).bitPattern }
}
