// SIMD code chosen at run time: each routine is compiled for several instruction sets (per-function
// target attributes) and dispatched on what the CPU reports (CPUID via __builtin_cpu_supports), so one
// binary runs on any x86-64 CPU and uses AVX-512 where it exists.
#ifndef CSIMD_H
#define CSIMD_H

/// The widest instruction set the dispatcher uses on this CPU: "avx512", "avx2", "sse2" or "neon".
const char *csimd_widest(void);

/// Forces a narrower path for testing ("avx2", "sse2"; NULL or "" restores automatic choice).
void csimd_force(const char *isa);

/// Floating-point operations per second of fused multiply-adds in registers on the calling thread,
/// at the widest SIMD width (2 FLOP per lane per FMA), measured over about `milliseconds`.
double csimd_fma_flops(int milliseconds);

#endif
