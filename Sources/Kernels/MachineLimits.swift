// The SIMD path the kernels run (CSIMD, chosen at run time from the CPU's features): which one is in
// use, which ones this CPU can run, and forcing a narrower one for tests. The machine's measured
// ceilings that benchmark figures are reported against (FMA peak, streaming read bandwidth) live in
// the Benchmarks module (`KernelBenchmark`).

import Foundation
import CSIMD

public enum MachineLimits {
    /// The SIMD path chosen at run time ("avx512", "avx2", "sse2", "neon").
    public static var simdPath: String { String(cString: csimd_widest()) }

    /// Every path this CPU can run, widest first (tests force each in turn).
    public static var availableSIMDPaths: [String] {
        #if arch(x86_64)
        var paths = ["sse2"]
        if CPUInfo.current.hasAVX2FMA { paths.insert("avx2", at: 0) }
        if CPUInfo.current.flags.contains("avx512f") { paths.insert("avx512", at: 0) }
        return paths
        #else
        return [String(cString: csimd_widest())]
        #endif
    }

    /// Forces a narrower SIMD path (nil: the widest again). For tests and measurements only; the
    /// choice applies to the whole process.
    public static func forceSIMDPath(_ path: String?) {
        if let path { path.withCString { csimd_force($0) } } else { csimd_force(nil) }
    }
}
