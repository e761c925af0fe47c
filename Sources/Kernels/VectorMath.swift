// SIMD helpers shared by the kernels: dot products, axpy, and a vectorised exp accurate to ~1 ulp.

public typealias F8 = SIMD8<Float>

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}
@inline(__always) func store8(_ p: UnsafeMutablePointer<Float>, _ v: F8) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

public enum VectorMath {
    /// Σ a[i]·b[i] over `n` elements.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = F8(), acc1 = F8()
        var i = 0
        while i + 16 <= n {
            acc0.addProduct(load8(a + i), load8(b + i))
            acc1.addProduct(load8(a + i + 8), load8(b + i + 8))
            i += 16
        }
        if i + 8 <= n { acc0.addProduct(load8(a + i), load8(b + i)); i += 8 }
        var s = (acc0 + acc1).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Σ x[i] over `n` elements (four independent accumulators: a streaming read).
    @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
        var i = 0
        while i + 32 <= n {
            a0 += load8(x + i); a1 += load8(x + i + 8); a2 += load8(x + i + 16); a3 += load8(x + i + 24)
            i += 32
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { s += x[i]; i += 1 }
        return s
    }

    /// y[i] += alpha · x[i] over `n` elements.
    @inline(__always)
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let a = F8(repeating: alpha)
        var i = 0
        while i + 8 <= n { var yv = load8(y + i); yv.addProduct(a, load8(x + i)); store8(y + i, yv); i += 8 }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// y[i] = alpha · y[i] over `n` elements.
    @inline(__always)
    public static func scale(_ alpha: Float, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let a = F8(repeating: alpha)
        var i = 0
        while i + 8 <= n { store8(y + i, load8(y + i) * a); i += 8 }
        while i < n { y[i] *= alpha; i += 1 }
    }

    /// max x[i] over `n` ≥ 1 elements.
    @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m = -Float.infinity
        if n >= 8 {
            var acc = load8(x)
            i = 8
            while i + 8 <= n { let v = load8(x + i); acc.replace(with: v, where: v .> acc); i += 8 }
            m = acc.max()
        }
        while i < n { m = Swift.max(m, x[i]); i += 1 }
        return m
    }

    /// e^x for 8 lanes (Cephes expf polynomial after reduction by ln 2; relative error ≈ 1 ulp).
    /// Inputs are clamped to [-87.3, 88.7]: e^-87.3 ≈ 1.2e-38 stands in for underflow.
    @inline(__always)
    public static func exp8(_ xIn: F8) -> F8 {
        var x = xIn
        x.replace(with: F8(repeating: -87.3), where: x .< F8(repeating: -87.3))
        x.replace(with: F8(repeating: 88.7), where: x .> F8(repeating: 88.7))
        let magic = F8(repeating: 12582912.0)  // 1.5 · 2^23: adding it rounds to an integer
        let t = x * F8(repeating: 1.44269504088896341) + magic
        let n = t - magic
        var r = x - n * F8(repeating: 0.693359375)
        r = r - n * F8(repeating: -2.12194440e-4)
        var p = F8(repeating: 1.9875691500e-4)
        p = p * r + F8(repeating: 1.3981999507e-3)
        p = p * r + F8(repeating: 8.3334519073e-3)
        p = p * r + F8(repeating: 4.1665795894e-2)
        p = p * r + F8(repeating: 1.6666665459e-1)
        p = p * r + F8(repeating: 5.0000001201e-1)
        let y = p * (r * r) + r + F8(repeating: 1)
        // 2^n from the integer sitting in t's low mantissa bits.
        let ti = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let pow2 = unsafeBitCast((ti &+ 127) &<< 23, to: F8.self)
        return y * pow2
    }

    /// Scalar e^x through the same polynomial (so scalar tails agree with vector bodies).
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp8(F8(repeating: x))[0] }

    /// x[i] = e^(x[i] − shift) in place; returns Σ of the results.
    @inline(__always)
    public static func expShiftedInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        let s = F8(repeating: shift)
        var acc = F8()
        var i = 0
        while i + 8 <= n {
            let e = exp8(load8(x + i) - s)
            store8(x + i, e)
            acc += e
            i += 8
        }
        var total = acc.sum()
        while i < n { let e = exp(x[i] - shift); x[i] = e; total += e; i += 1 }
        return total
    }
}
