// Vector helpers shared by the kernels: dot products, axpy, reductions and a vectorised exp accurate
// to ~1 ulp. The arithmetic lives in CSIMD (C), compiled for AVX-512, AVX2 + FMA and the x86-64
// baseline and chosen at run time from the CPU's features (`MachineLimits.simdPath`); these are thin
// Swift entry points with the same names the kernels always used.

import CSIMD

public enum VectorMath {
    /// Σ a[i]·b[i] over `n` elements.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float { csimd_dot(a, b, n) }

    /// Σ x[i] over `n` elements.
    @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float { csimd_sum(x, n) }

    /// y[i] += alpha · x[i] over `n` elements.
    @inline(__always)
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        csimd_axpy(alpha, x, y, n)
    }

    /// y[i] = alpha · y[i] over `n` elements.
    @inline(__always)
    public static func scale(_ alpha: Float, _ y: UnsafeMutablePointer<Float>, _ n: Int) { csimd_scale(alpha, y, n) }

    /// max x[i] over `n` ≥ 1 elements.
    @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float { csimd_max(x, n) }

    /// e^x (Cephes expf polynomial after reduction by ln 2; relative error ≈ 1 ulp). Inputs are
    /// clamped to [-87.3, 88.7]: e^-87.3 ≈ 1.2e-38 stands in for underflow.
    @inline(__always)
    public static func exp(_ x: Float) -> Float { csimd_exp(x) }

    /// x[i] = e^(x[i] − shift) in place; returns Σ of the results — float lanes within blocks of 256,
    /// the blocks summed in Double, so a 128k-term sum keeps float32 rounding accuracy.
    @inline(__always)
    public static func expShiftedInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Double {
        csimd_exp_shifted_inplace(x, n, shift)
    }

    /// Σ e^(x[i] − shift), x unchanged (the log-sum-exp of a row after its max is known), summed as
    /// `expShiftedInPlace` sums.
    @inline(__always)
    public static func sumExpShifted(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Double {
        csimd_sum_exp_shifted(x, n, shift)
    }
}
