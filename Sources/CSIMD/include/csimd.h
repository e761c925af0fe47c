// SIMD code chosen at run time: each routine is compiled for several instruction sets (per-function
// target attributes) and dispatched on what the CPU reports (CPUID via __builtin_cpu_supports), so one
// binary runs on any x86-64 CPU and uses AVX-512 where it exists.
#ifndef CSIMD_H
#define CSIMD_H

/// The widest instruction set the dispatcher uses on this CPU: "avx512", "avx2", "sse2" or "neon".
const char *csimd_widest(void);

#include <stdint.h>

/// SHA-256 compression of `blocks` 64-byte blocks into `state` (a..h): with the CPU's SHA
/// extensions (returns 1), or portable code when the CPU has none or they are disabled (returns 0).
int csimd_sha256_blocks(uint32_t state[8], const uint8_t *data, long blocks);
/// Disables (1) or re-enables (0) the SHA-extension path (tests of the portable code).
void csimd_sha256_disable(int disabled);

/// Forces a narrower path for testing ("avx2", "sse2"; NULL or "" restores automatic choice).
void csimd_force(const char *isa);

/// Floating-point operations per second of fused multiply-adds in registers on the calling thread,
/// at the widest SIMD width (2 FLOP per lane per FMA), measured over about `milliseconds`.
double csimd_fma_flops(int milliseconds);

#endif

#ifndef CSIMD_KERNELS_H
#define CSIMD_KERNELS_H
// Vector primitives of the engine, each dispatched to the widest path (see csimd_widest). Every path
// computes in the same 16-lane order; results are deterministic for a given path.

/// Σ a[i]·b[i].
float csimd_dot(const float *a, const float *b, long n);
/// out[j] = a_j · v for four rows a_j (sharing the loads of v).
void csimd_dot4(const float *a0, const float *a1, const float *a2, const float *a3, const float *v, long n, float *out);
/// y[i] += alpha · x[i].
void csimd_axpy(float alpha, const float *x, float *y, long n);
/// y[i] *= alpha.
void csimd_scale(float alpha, float *y, long n);
/// max x[i] (n ≥ 1).
float csimd_max(const float *x, long n);
/// Σ x[i].
float csimd_sum(const float *x, long n);
/// e^x through the engine's polynomial (Cephes expf; ≈ 1 ulp), inputs clamped to [-87.3, 88.7].
float csimd_exp(float x);
/// x[i] = e^(x[i] − shift) in place; returns Σ of the results (blocks of 256 summed in double).
double csimd_exp_shifted_inplace(float *x, long n, float shift);
/// Σ e^(x[i] − shift), x unchanged (blocks of 256 summed in double).
double csimd_sum_exp_shifted(const float *x, long n, float shift);
/// out = silu(gate) ⊙ up.
void csimd_swiglu_forward(float *out, const float *gate, const float *up, long n);
/// dGate += dOut ⊙ up ⊙ σ(g)(1 + g(1 − σ(g)));  dUp += dOut ⊙ silu(g).
void csimd_swiglu_backward(float *dgate, float *dup, const float *gate, const float *up, const float *dout, long n);
/// d[j] = p[j] · (d[j] − c) · scale  (softmax backward row).
void csimd_softmax_backward_row(float *d, const float *p, float c, float scale, long n);
/// y[r·ldy + o] = beta·y + x_r · w_o for rows r < m of x (m, n) and rows o0 ≤ o < o1 of w (·, n), in
/// register tiles; every output is summed in the order of csimd_dot4 (independent of m and tiling).
void csimd_xwt(float *y, long ldy, const float *x, long m, const float *w, long n, long o0, long o1, float beta);

/// Weights stored in 16 bits, widened exactly to float32 as the kernels read them.
enum { CSIMD_BF16 = 1, CSIMD_F16 = 2 };
/// csimd_xwt over 16-bit weights (`kind` CSIMD_BF16 or CSIMD_F16): the bits of csimd_xwt over
/// float32 copies of w.
void csimd_xwt16(float *y, long ldy, const float *x, long m, const uint16_t *w, long n, long o0, long o1, float beta,
                 int kind);
/// dst[i] = src[i] widened to float32 (exact).
void csimd_widen16(float *dst, const uint16_t *src, long n, int kind);
#endif
