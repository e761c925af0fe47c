// The engine's vector primitives (csimd.h), written once over 16-lane vectors (clang vector
// extensions) and compiled three times — AVX-512, AVX2 + FMA, and the x86-64 baseline (SSE2) —
// with a dispatch table chosen on first use from what the CPU reports (csimd_widest). Every path
// performs the same lane-wise arithmetic in the same order; AVX2 and AVX-512 fuse multiply-adds,
// the baseline does not, so bits may differ between paths but never between runs on one machine.
#include "csimd.h"
#include <string.h>
#include <stdlib.h>
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int i16v __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v2 __attribute__((vector_size(8)));

#define BODY(SUFFIX, ATTR)                                                                          \
ATTR static inline __attribute__((always_inline)) v16 ld_##SUFFIX(const float *p) { v16 v; memcpy(&v, p, 64); return v; }          \
ATTR static inline __attribute__((always_inline)) void st_##SUFFIX(float *p, v16 v) { memcpy(p, &v, 64); }                         \
ATTR static inline __attribute__((always_inline)) v16 splat_##SUFFIX(float x) { return (v16){x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x}; }  \
/* Horizontal sum as a fixed tree (halves added lane-wise): log-depth, the same order on every path. */ \
ATTR static inline __attribute__((always_inline)) float hsum_##SUFFIX(v16 v) {                    \
    v8 h8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)                                   \
          + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);                            \
    v4 h4 = __builtin_shufflevector(h8, h8, 0, 1, 2, 3) + __builtin_shufflevector(h8, h8, 4, 5, 6, 7); \
    v2 h2 = __builtin_shufflevector(h4, h4, 0, 1) + __builtin_shufflevector(h4, h4, 2, 3);          \
    return h2[0] + h2[1]; }                                                                         \
ATTR static inline __attribute__((always_inline)) v16 vmax_##SUFFIX(v16 a, v16 b) {                                                \
    i16v m = a > b; return (v16)(((i16v)a & m) | ((i16v)b & ~m)); }                                 \
ATTR static inline __attribute__((always_inline)) v16 vmin_##SUFFIX(v16 a, v16 b) {                                                \
    i16v m = a < b; return (v16)(((i16v)a & m) | ((i16v)b & ~m)); }                                 \
/* Cephes expf: reduce by ln 2 (two-part constant), degree-5 polynomial, scale by 2^n from the   \
   integer that adding 1.5·2^23 leaves in the low mantissa bits. */                                \
ATTR static inline __attribute__((always_inline)) v16 vexp_##SUFFIX(v16 x) {                                                      \
    x = vmin_##SUFFIX(vmax_##SUFFIX(x, splat_##SUFFIX(-87.3f)), splat_##SUFFIX(88.7f));             \
    const v16 magic = splat_##SUFFIX(12582912.0f);                                                  \
    v16 t = x * 1.44269504088896341f + magic;                                                       \
    v16 n = t - magic;                                                                              \
    v16 r = x - n * 0.693359375f;                                                                   \
    r = r - n * -2.12194440e-4f;                                                                    \
    v16 p = splat_##SUFFIX(1.9875691500e-4f);                                                       \
    p = p * r + 1.3981999507e-3f;                                                                   \
    p = p * r + 8.3334519073e-3f;                                                                   \
    p = p * r + 4.1665795894e-2f;                                                                   \
    p = p * r + 1.6666665459e-1f;                                                                   \
    p = p * r + 5.0000001201e-1f;                                                                   \
    v16 y = p * (r * r) + r + 1.0f;                                                                 \
    i16v ti = (i16v)t - (i16v)magic;                                                                \
    v16 pow2 = (v16)((ti + 127) << 23);                                                             \
    return y * pow2;                                                                                \
}                                                                                                   \
ATTR static float exp1_##SUFFIX(float x) { return vexp_##SUFFIX(splat_##SUFFIX(x))[0]; }           \
ATTR static float dot_##SUFFIX(const float *a, const float *b, long n) {                            \
    v16 s0 = splat_##SUFFIX(0), s1 = s0; long i = 0;                                                \
    for (; i + 32 <= n; i += 32) {                                                                  \
        s0 = s0 + ld_##SUFFIX(a + i) * ld_##SUFFIX(b + i);                                          \
        s1 = s1 + ld_##SUFFIX(a + i + 16) * ld_##SUFFIX(b + i + 16); }                              \
    if (i + 16 <= n) { s0 = s0 + ld_##SUFFIX(a + i) * ld_##SUFFIX(b + i); i += 16; }                \
    float s = hsum_##SUFFIX(s0 + s1);                                                               \
    for (; i < n; i++) s += a[i] * b[i];                                                            \
    return s; }                                                                                     \
ATTR static void dot4_##SUFFIX(const float *a0, const float *a1, const float *a2, const float *a3,   \
                               const float *v, long n, float *out) {                                \
    v16 s0 = splat_##SUFFIX(0), s1 = s0, s2 = s0, s3 = s0; long i = 0;                              \
    for (; i + 16 <= n; i += 16) {                                                                  \
        v16 w = ld_##SUFFIX(v + i);                                                                 \
        s0 = s0 + ld_##SUFFIX(a0 + i) * w; s1 = s1 + ld_##SUFFIX(a1 + i) * w;                       \
        s2 = s2 + ld_##SUFFIX(a2 + i) * w; s3 = s3 + ld_##SUFFIX(a3 + i) * w; }                     \
    float r0 = hsum_##SUFFIX(s0), r1 = hsum_##SUFFIX(s1), r2 = hsum_##SUFFIX(s2), r3 = hsum_##SUFFIX(s3); \
    for (; i < n; i++) { r0 += a0[i] * v[i]; r1 += a1[i] * v[i]; r2 += a2[i] * v[i]; r3 += a3[i] * v[i]; } \
    out[0] = r0; out[1] = r1; out[2] = r2; out[3] = r3; }                                           \
ATTR static void axpy_##SUFFIX(float alpha, const float *x, float *y, long n) {                    \
    long i = 0;                                                                                     \
    for (; i + 16 <= n; i += 16) st_##SUFFIX(y + i, ld_##SUFFIX(y + i) + alpha * ld_##SUFFIX(x + i)); \
    for (; i < n; i++) y[i] += alpha * x[i]; }                                                      \
ATTR static void scale_##SUFFIX(float alpha, float *y, long n) {                                   \
    long i = 0;                                                                                     \
    for (; i + 16 <= n; i += 16) st_##SUFFIX(y + i, ld_##SUFFIX(y + i) * alpha);                    \
    for (; i < n; i++) y[i] *= alpha; }                                                             \
ATTR static float max_##SUFFIX(const float *x, long n) {                                           \
    float m = -INFINITY; long i = 0;                                                                \
    if (n >= 16) { v16 acc = ld_##SUFFIX(x); for (i = 16; i + 16 <= n; i += 16) acc = vmax_##SUFFIX(ld_##SUFFIX(x + i), acc); \
        for (int j = 0; j < 16; j++) m = acc[j] > m ? acc[j] : m; }                                 \
    for (; i < n; i++) m = x[i] > m ? x[i] : m;                                                     \
    return m; }                                                                                     \
ATTR static float sum_##SUFFIX(const float *x, long n) {                                           \
    v16 a = splat_##SUFFIX(0), b = a; long i = 0;                                                   \
    for (; i + 32 <= n; i += 32) { a = a + ld_##SUFFIX(x + i); b = b + ld_##SUFFIX(x + i + 16); }   \
    float s = hsum_##SUFFIX(a + b);                                                                 \
    for (; i < n; i++) s += x[i];                                                                   \
    return s; }                                                                                     \
/* Sums of exponentials over a vocabulary (up to 128k terms): float lanes within blocks of 256   \
   elements, block sums added in double, so the error stays at float rounding of 256-term partial \
   sums instead of growing with the vocabulary. */                                                \
ATTR static double expsh_##SUFFIX(float *x, long n, float shift) {                                 \
    double total = 0; long i = 0;                                                                   \
    while (i + 16 <= n) {                                                                           \
        v16 acc = splat_##SUFFIX(0); long end = i + 256 < n ? i + 256 : n;                          \
        for (; i + 16 <= end; i += 16) { v16 e = vexp_##SUFFIX(ld_##SUFFIX(x + i) - shift); st_##SUFFIX(x + i, e); acc = acc + e; } \
        total += (double)hsum_##SUFFIX(acc); }                                                      \
    for (; i < n; i++) { float e = exp1_##SUFFIX(x[i] - shift); x[i] = e; total += (double)e; }     \
    return total; }                                                                                 \
ATTR static double sumexp_##SUFFIX(const float *x, long n, float shift) {                          \
    double total = 0; long i = 0;                                                                   \
    while (i + 16 <= n) {                                                                           \
        v16 acc = splat_##SUFFIX(0); long end = i + 256 < n ? i + 256 : n;                          \
        for (; i + 16 <= end; i += 16) acc = acc + vexp_##SUFFIX(ld_##SUFFIX(x + i) - shift);       \
        total += (double)hsum_##SUFFIX(acc); }                                                      \
    for (; i < n; i++) total += (double)exp1_##SUFFIX(x[i] - shift);                                \
    return total; }                                                                                 \
ATTR static void swf_##SUFFIX(float *out, const float *gate, const float *up, long n) {            \
    long i = 0;                                                                                     \
    for (; i + 16 <= n; i += 16) { v16 g = ld_##SUFFIX(gate + i);                                   \
        st_##SUFFIX(out + i, g / (1.0f + vexp_##SUFFIX(-g)) * ld_##SUFFIX(up + i)); }               \
    for (; i < n; i++) { float g = gate[i]; out[i] = g / (1 + exp1_##SUFFIX(-g)) * up[i]; } }       \
ATTR static void swb_##SUFFIX(float *dgate, float *dup, const float *gate, const float *up,        \
                              const float *dout, long n) {                                          \
    long i = 0;                                                                                     \
    for (; i + 16 <= n; i += 16) {                                                                  \
        v16 g = ld_##SUFFIX(gate + i), u = ld_##SUFFIX(up + i), d = ld_##SUFFIX(dout + i);          \
        v16 sig = 1.0f / (1.0f + vexp_##SUFFIX(-g));                                                \
        st_##SUFFIX(dgate + i, ld_##SUFFIX(dgate + i) + d * u * sig * (1.0f + g * (1.0f - sig)));   \
        st_##SUFFIX(dup + i, ld_##SUFFIX(dup + i) + d * g * sig); }                                 \
    for (; i < n; i++) { float g = gate[i], sig = 1 / (1 + exp1_##SUFFIX(-g));                      \
        dgate[i] += dout[i] * up[i] * sig * (1 + g * (1 - sig)); dup[i] += dout[i] * g * sig; } }   \
ATTR static void smb_##SUFFIX(float *d, const float *p, float c, float scale, long n) {             \
    long i = 0;                                                                                     \
    for (; i + 16 <= n; i += 16) st_##SUFFIX(d + i, ld_##SUFFIX(p + i) * (ld_##SUFFIX(d + i) - c) * scale); \
    for (; i < n; i++) d[i] = p[i] * (d[i] - c) * scale; }


/* Weights stored in 16 bits are widened to float32 as they are read. Both conversions are exact
   (bfloat16: the high half of a float32; float16: exponent rebias by a multiplication by 2^112,
   exact for subnormals too, Inf/NaN kept), so every product over 16-bit weights has the bits of the
   same product over float32 copies of them. */
typedef unsigned short u16x16 __attribute__((vector_size(32), aligned(2)));
typedef unsigned int u32x16 __attribute__((vector_size(64)));
#define WIDEN(S, ATTR)                                                                                \
ATTR static inline __attribute__((always_inline)) v16 wld_f32_##S(const float *p) { return ld_##S(p); } \
ATTR static inline __attribute__((always_inline)) v16 wld_bf16_##S(const unsigned short *p) {         \
    u16x16 h; memcpy(&h, p, 32); return (v16)(__builtin_convertvector(h, u32x16) << 16); }            \
ATTR static inline __attribute__((always_inline)) v16 wld_f16_##S(const unsigned short *p) {          \
    u16x16 h; memcpy(&h, p, 32);                                                                      \
    u32x16 e = __builtin_convertvector(h, u32x16), em = e & 0x7fff;                                   \
    u32x16 scaled = (u32x16)((v16)(em << 13) * 0x1p112f);                                             \
    u32x16 special = (u32x16)(em >= 0x7c00);                       /* Inf, NaN: all ones */           \
    u32x16 bits = (scaled & ~special) | (((em << 13) | 0x7f800000u) & special);                       \
    return (v16)(bits | ((e & 0x8000) << 16)); }                                                      \
/* Two vectors from 32 consecutive weights: the even-indexed ones and the odd-indexed ones. */      \
ATTR static inline __attribute__((always_inline)) void wpair_f32_##S(const float *p, v16 *e, v16 *o) {  \
    v16 a = ld_##S(p), b = ld_##S(p + 16);                                                            \
    *e = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);    \
    *o = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); }  \
/* Weights already arranged as x is (`warrange`): each block of 32 as its 16 even then 16 odd. */   \
ATTR static inline __attribute__((always_inline)) v16 wld_f32a_##S(const float *p) { return ld_##S(p); } \
ATTR static inline __attribute__((always_inline)) void wpair_f32a_##S(const float *p, v16 *e, v16 *o) { \
    *e = ld_##S(p); *o = ld_##S(p + 16); }                                                            \
ATTR static inline __attribute__((always_inline)) void wpair_bf16_##S(const unsigned short *p, v16 *e, v16 *o) { \
    u32x16 v; memcpy(&v, p, 64);        /* word k: element 2k in its low half, 2k + 1 in its high half */ \
    *e = (v16)(v << 16); *o = (v16)(v & 0xffff0000u); }                                               \
ATTR static inline __attribute__((always_inline)) v16 f16bits_##S(u32x16 e) {                         \
    u32x16 em = e & 0x7fff;                                                                           \
    u32x16 scaled = (u32x16)((v16)(em << 13) * 0x1p112f);                                             \
    u32x16 special = (u32x16)(em >= 0x7c00);                                                          \
    u32x16 bits = (scaled & ~special) | (((em << 13) | 0x7f800000u) & special);                       \
    return (v16)(bits | ((e & 0x8000) << 16)); }                                                      \
ATTR static inline __attribute__((always_inline)) void wpair_f16_##S(const unsigned short *p, v16 *e, v16 *o) { \
    u32x16 v; memcpy(&v, p, 64);                                                                      \
    *e = f16bits_##S(v & 0xffff); *o = f16bits_##S(v >> 16); }                                        \
ATTR static void widen_bf16_##S(float *d, const unsigned short *p, long n) {                          \
    long i = 0; for (; i + 16 <= n; i += 16) st_##S(d + i, wld_bf16_##S(p + i));                      \
    for (; i < n; i++) d[i] = wsc_bf16(p[i]); }                                                        \
ATTR static void widen_f16_##S(float *d, const unsigned short *p, long n) {                           \
    long i = 0; for (; i + 16 <= n; i += 16) st_##S(d + i, wld_f16_##S(p + i));                       \
    for (; i < n; i++) d[i] = wsc_f16(p[i]); }

/* Scalar forms of the same conversions (tails). */
static inline float wsc_f32(float w) { return w; }
static inline float wsc_f32a(float w) { return w; }
static inline float wsc_bf16(unsigned short h) { unsigned int u = (unsigned int)h << 16; float f; memcpy(&f, &u, 4); return f; }
static inline float wsc_f16(unsigned short h) {
    unsigned int em = h & 0x7fffu, bits;
    if (em >= 0x7c00u) bits = (em << 13) | 0x7f800000u;
    else { unsigned int t = em << 13; float f; memcpy(&f, &t, 4); f *= 0x1p112f; memcpy(&bits, &f, 4); }
    bits |= (unsigned int)(h & 0x8000u) << 16;
    float r; memcpy(&r, &bits, 4); return r;
}

/* xwt tiles: OB rows of w × MB rows of x, accumulators in registers; K is the weight element kind
   (f32, bf16, f16) and WT its C type. The order of every output's sum ("pair-interleaved"): the
   inputs in blocks of 32, lane l adding x[2l]·w[2l] then x[2l+1]·w[2l+1] of each block — so 16-bit
   weights widen with one AND or shift per 16, and float32 ones take a shuffle, where bandwidth is
   the limit — then a last block of 16 in natural order, the 16-lane tree sum, and the scalar tail.
   x comes pre-arranged (`xwt_arrange`): each block of 32 as its 16 even then its 16 odd elements. */
#define XWT_TILE(S, ATTR, K, WT, OB, MB)                                                              \
ATTR static inline __attribute__((always_inline)) void xwt_##K##_##OB##x##MB##_##S(                   \
        float *y, long ldy, const float *x, const WT *w, long I, float beta) {                        \
    v16 acc[OB][MB];                                                                                  \
    for (int a = 0; a < OB; a++) for (int b = 0; b < MB; b++) acc[a][b] = splat_##S(0);              \
    long i = 0;                                                                                       \
    for (; i + 32 <= I; i += 32) {                                                                    \
        v16 xe[MB], xo[MB];                                                                           \
        for (int b = 0; b < MB; b++) { xe[b] = ld_##S(x + b * I + i); xo[b] = ld_##S(x + b * I + i + 16); } \
        for (int a = 0; a < OB; a++) {                                                                \
            v16 we, wo; wpair_##K##_##S(w + a * I + i, &we, &wo);                                     \
            for (int b = 0; b < MB; b++) { acc[a][b] = acc[a][b] + xe[b] * we; acc[a][b] = acc[a][b] + xo[b] * wo; } } } \
    if (i + 16 <= I) {                                                                                \
        v16 xv[MB];                                                                                   \
        for (int b = 0; b < MB; b++) xv[b] = ld_##S(x + b * I + i);                                   \
        for (int a = 0; a < OB; a++) {                                                                \
            v16 wv = wld_##K##_##S(w + a * I + i);                                                    \
            for (int b = 0; b < MB; b++) acc[a][b] = acc[a][b] + xv[b] * wv; }                        \
        i += 16; }                                                                                    \
    for (int a = 0; a < OB; a++) for (int b = 0; b < MB; b++) {                                       \
        float r = hsum_##S(acc[a][b]);                                                                \
        for (long j = i; j < I; j++) r += x[b * I + j] * wsc_##K(w[a * I + j]);                        \
        float *p = y + b * ldy + a;                                                                   \
        if (beta == 0) *p = r; else { float t = beta * *p; *p = t + r; } } }

/* y (M, ldy) columns o0..<o1 = x (M, I) · W[o0..<o1]ᵀ in OB × MB register tiles (edges in smaller   \
   tiles of the same per-output order).                                                            */
#define XWT(S, ATTR, K, WT, OB, MB) XWT_TILE(S, ATTR, K, WT, OB, MB) XWT_EDGES(S, ATTR, K, WT, OB, MB)
#define XWT_EDGES(S, ATTR, K, WT, OB, MB)                                                             \
XWT_TILE(S, ATTR, K, WT, OB, 1) XWT_TILE(S, ATTR, K, WT, 1, MB) XWT_TILE(S, ATTR, K, WT, 1, 1)        \
ATTR static void xwt_##K##_##S(float *y, long ldy, const float *x, long M, const WT *w, long I,       \
                               long o0, long o1, float beta) {                                        \
    long o = o0;                                                                                      \
    for (; o + OB <= o1; o += OB) {                                                                   \
        long m = 0;                                                                                   \
        for (; m + MB <= M; m += MB) xwt_##K##_##OB##x##MB##_##S(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta); \
        for (; m < M; m++) xwt_##K##_##OB##x1_##S(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta); }  \
    for (; o < o1; o++) {                                                                             \
        long m = 0;                                                                                   \
        for (; m + MB <= M; m += MB) xwt_##K##_1x##MB##_##S(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta); \
        for (; m < M; m++) xwt_##K##_1x1_##S(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta); } }
/* One row of w (I weights of kind K) as float32 in the tiles' order (the order `xwt_arrange` gives
   x): each block of 32 as its 16 even then its 16 odd elements, then the rest as is. */
#define WARRANGE(S, ATTR, K, WT)                                                                      \
ATTR static void warrange_##K##_##S(float *d, const WT *w, long I) {                                  \
    long i = 0;                                                                                       \
    for (; i + 32 <= I; i += 32) { v16 e, o; wpair_##K##_##S(w + i, &e, &o); st_##S(d + i, e); st_##S(d + i + 16, o); } \
    if (i + 16 <= I) { st_##S(d + i, wld_##K##_##S(w + i)); i += 16; }                                \
    for (; i < I; i++) d[i] = wsc_##K(w[i]); }                                                        \
/* csimd_xwt for many rows of x: each block of OB rows of w is arranged (and widened) once into     \
   `wbuf` (OB × I floats), then multiplied with every row of x by the f32a tiles — the shuffles or   \
   widening done once per weight instead of once per weight per tile of x rows. Same bits: the same \
   products summed in the same order. */                                                            \
ATTR static void xwtb_##K##_##S(float *y, long ldy, const float *x, long M, const WT *w, long I,      \
                                long o0, long o1, float beta, float *wbuf) {                          \
    for (long o = o0; o < o1; o += OB_##S) {                                                          \
        long n = o1 - o < OB_##S ? o1 - o : OB_##S;                                                   \
        for (long r = 0; r < n; r++) warrange_##K##_##S(wbuf + r * I, w + (o + r) * I, I);            \
        /* the next block's weights come from memory while this one is multiplied (+18 % at 20 rows \
           when W streams from DRAM) */                                                               \
        long first = o + PREFETCH_BLOCKS * OB_##S, ahead = first + OB_##S > o1 ? o1 - first : OB_##S;    \
        const char *p = (const char *)(w + first * I);                                                \
        for (long b = 0; b < ahead * I * (long)sizeof(WT); b += 64) __builtin_prefetch(p + b, 0, 2); \
        xwt_f32a_##S(y + o, ldy, x, M, wbuf, I, 0, n, beta); } }
#ifndef PREFETCH_BLOCKS
#define PREFETCH_BLOCKS 2
#endif
#define XWTB_ALL(S, ATTR) WARRANGE(S, ATTR, f32, float) WARRANGE(S, ATTR, bf16, unsigned short)      \
    WARRANGE(S, ATTR, f16, unsigned short)
/* Every weight kind on one path. */
#define XWT_ALL(S, ATTR, OB, MB) WIDEN(S, ATTR) XWT(S, ATTR, f32, float, OB, MB)                      \
    XWT(S, ATTR, bf16, unsigned short, OB, MB) XWT(S, ATTR, f16, unsigned short, OB, MB)              \
    XWT(S, ATTR, f32a, float, OB, MB) XWTB_ALL(S, ATTR)

#if defined(__x86_64__)
BODY(avx512, __attribute__((target("avx512f"))))
BODY(avx2, __attribute__((target("avx2,fma"))))
WIDEN(avx512, __attribute__((target("avx512f"))))
/* The AVX-512 main tile in intrinsics: 24 accumulators in zmm registers (the generic array form
   spills them). acc = fma(x, w, acc) is exactly the contracted `acc + x * w` of the generic tiles and
   of dot4, so every output keeps their order and bits; 16-bit weights are widened as they load. */
#define XWT_4x6_AVX512(K, WT)                                                                         \
__attribute__((target("avx512f"), noinline))                                                          \
static void xwt_##K##_4x6_avx512(float *y, long ldy, const float *x, const WT *w, long I, float beta) { \
    __m512 c[4][6];                                                                                   \
    for (int a = 0; a < 4; a++) for (int b = 0; b < 6; b++) c[a][b] = _mm512_setzero_ps();           \
    const float *x0 = x, *x1 = x + I, *x2 = x + 2 * I, *x3 = x + 3 * I, *x4 = x + 4 * I, *x5 = x + 5 * I; \
    const WT *w0 = w, *w1 = w + I, *w2 = w + 2 * I, *w3 = w + 3 * I;                                  \
    long i = 0;                                                                                       \
    for (; i + 32 <= I; i += 32) {                                                                    \
        v16 we[4], wo[4];                                                                             \
        wpair_##K##_avx512(w0 + i, &we[0], &wo[0]); wpair_##K##_avx512(w1 + i, &we[1], &wo[1]);       \
        wpair_##K##_avx512(w2 + i, &we[2], &wo[2]); wpair_##K##_avx512(w3 + i, &we[3], &wo[3]);       \
        XWT_HALF(i, we) XWT_HALF(i + 16, wo)                                                          \
    }                                                                                                 \
    if (i + 16 <= I) {                                                                                \
        v16 wn[4] = { wld_##K##_avx512(w0 + i), wld_##K##_avx512(w1 + i), wld_##K##_avx512(w2 + i), wld_##K##_avx512(w3 + i) }; \
        XWT_HALF(i, wn)                                                                               \
        i += 16;                                                                                      \
    }                                                                                                 \
    for (int a = 0; a < 4; a++) for (int b = 0; b < 6; b++) {                                         \
        v16 v; memcpy(&v, &c[a][b], 64);                                                              \
        float r = hsum_avx512(v);                                                                     \
        for (long j = i; j < I; j++) r += x[b * I + j] * wsc_##K(w[a * I + j]);                        \
        float *p = y + b * ldy + a;                                                                   \
        if (beta == 0) *p = r; else { float t = beta * *p; *p = t + r; }                              \
    }                                                                                                 \
}
/* XWT_HALF over MB rows of x with arranged weights: w row a's vector at `at` loaded just before
   its MB FMAs. */
#define XWTA_HALF(MB, at) {                                                                           \
        __m512 xv[MB];                                                                                \
        for (int b = 0; b < MB; b++) xv[b] = _mm512_loadu_ps(x + b * I + (at));                       \
        for (int a = 0; a < 4; a++) { __m512 wr = _mm512_loadu_ps(w + a * I + (at));                 \
            for (int b = 0; b < MB; b++) c[a][b] = _mm512_fmadd_ps(xv[b], wr, c[a][b]); } }
/* c[a][b] = fma(x_b at `at`, w_a, c[a][b]) over the 4 × 6 tile (the generic tiles' contracted `acc + x * w`). */
#define XWT_HALF(at, WV) {                                                                            \
        __m512 a0 = _mm512_loadu_ps(x0 + (at)), a1 = _mm512_loadu_ps(x1 + (at)), a2 = _mm512_loadu_ps(x2 + (at)); \
        __m512 a3 = _mm512_loadu_ps(x3 + (at)), a4 = _mm512_loadu_ps(x4 + (at)), a5 = _mm512_loadu_ps(x5 + (at)); \
        for (int a = 0; a < 4; a++) { __m512 wr = (__m512)WV[a];                                      \
        c[a][0] = _mm512_fmadd_ps(a0, wr, c[a][0]); c[a][1] = _mm512_fmadd_ps(a1, wr, c[a][1]);        \
        c[a][2] = _mm512_fmadd_ps(a2, wr, c[a][2]); c[a][3] = _mm512_fmadd_ps(a3, wr, c[a][3]);        \
        c[a][4] = _mm512_fmadd_ps(a4, wr, c[a][4]); c[a][5] = _mm512_fmadd_ps(a5, wr, c[a][5]); } }
XWT_4x6_AVX512(f32, float)
XWT_4x6_AVX512(bf16, unsigned short)
XWT_4x6_AVX512(f16, unsigned short)
/* 4 × MB tiles (MB = 1…6) over arranged float32 weights (`xwtb`): each weight vector is loaded
   where it is used, so at MB = 6 the 24 accumulators, 6 x vectors and 1 weight vector stay in the
   32 zmm registers (the tile above holds 8 weight vectors at once and spills accumulators); the
   smaller ones take a batch's last M mod 6 rows. Same FMAs, same order as every other tile. */
#define XWTA_TILE_AVX512(MB)                                                                          \
__attribute__((target("avx512f"), noinline))                                                          \
static void xwt_f32a_4x##MB##_avx512(float *y, long ldy, const float *x, const float *w, long I, float beta) { \
    __m512 c[4][MB];                                                                                  \
    for (int a = 0; a < 4; a++) for (int b = 0; b < MB; b++) c[a][b] = _mm512_setzero_ps();          \
    long i = 0;                                                                                       \
    for (; i + 32 <= I; i += 32) { XWTA_HALF(MB, i) XWTA_HALF(MB, i + 16) }                           \
    if (i + 16 <= I) { XWTA_HALF(MB, i) i += 16; }                                                    \
    for (int a = 0; a < 4; a++) for (int b = 0; b < MB; b++) {                                        \
        v16 v; memcpy(&v, &c[a][b], 64);                                                              \
        float r = hsum_avx512(v);                                                                     \
        for (long j = i; j < I; j++) r += x[b * I + j] * w[a * I + j];                                \
        float *p = y + b * ldy + a;                                                                   \
        if (beta == 0) *p = r; else { float t = beta * *p; *p = t + r; }                              \
    }                                                                                                 \
}
XWTA_TILE_AVX512(6) XWTA_TILE_AVX512(5) XWTA_TILE_AVX512(4) XWTA_TILE_AVX512(3) XWTA_TILE_AVX512(2)
XWTA_TILE_AVX512(1)
#define AVX512 __attribute__((target("avx512f")))
#define OB_avx512 4
XWT_EDGES(avx512, AVX512, f32, float, 4, 6)    /* the 4×6 tiles above: 24 accumulators of 32 zmm registers */
XWT_EDGES(avx512, AVX512, bf16, unsigned short, 4, 6)
XWT_EDGES(avx512, AVX512, f16, unsigned short, 4, 6)
XWT_TILE(avx512, AVX512, f32a, float, 1, 6) XWT_TILE(avx512, AVX512, f32a, float, 1, 1)
/* xwt over arranged weights rows o0..<o1: blocks of 4 rows in the 4 × MB tiles, the rest 1 × 6. */
AVX512 static void xwt_f32a_avx512(float *y, long ldy, const float *x, long M, const float *w, long I,
                                   long o0, long o1, float beta) {
    long o = o0;
    for (; o + 4 <= o1; o += 4) {
        float *yo = y + o; const float *wo = w + o * I;
        long m = 0;
        for (; m + 6 <= M; m += 6) xwt_f32a_4x6_avx512(yo + m * ldy, ldy, x + m * I, wo, I, beta);
        switch (M - m) {
        case 5: xwt_f32a_4x5_avx512(yo + m * ldy, ldy, x + m * I, wo, I, beta); break;
        case 4: xwt_f32a_4x4_avx512(yo + m * ldy, ldy, x + m * I, wo, I, beta); break;
        case 3: xwt_f32a_4x3_avx512(yo + m * ldy, ldy, x + m * I, wo, I, beta); break;
        case 2: xwt_f32a_4x2_avx512(yo + m * ldy, ldy, x + m * I, wo, I, beta); break;
        case 1: xwt_f32a_4x1_avx512(yo + m * ldy, ldy, x + m * I, wo, I, beta); break;
        default: break;
        }
    }
    for (; o < o1; o++) {
        long m = 0;
        for (; m + 6 <= M; m += 6) xwt_f32a_1x6_avx512(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta);
        for (; m < M; m++) xwt_f32a_1x1_avx512(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta);
    }
}
XWTB_ALL(avx512, AVX512)
/* AVX2 tiles over arranged float32 weights (`xwtb`), in intrinsics: a 16-lane accumulator is two
   ymm registers (lanes 0–7, 8–15), and each 8-lane quarter of a block of 32 (x[i..i+8] into the low
   half, x[i+8..i+16] into the high, then x[i+16..i+24] low, x[i+24..i+32] high) is one FMA per
   accumulator half — per lane exactly the generic tiles' `acc + xe·we; acc + xo·wo`, so every
   output keeps their order and bits. The generic 2 × 2 form holds 8 accumulator, 8 x and 4 weight
   registers at once and spills on 16 ymm registers (55 GFLOP/s of a core's 100); here 3 rows of w
   × 2 rows of x keep 12 accumulators, 2 x and 1 weight vector in registers. */
#define XWTA2_QUARTER(OB, MB, at, h) {                                                                \
        __m256 xv[MB];                                                                                \
        for (int b = 0; b < MB; b++) xv[b] = _mm256_loadu_ps(x + b * I + (at));                       \
        for (int a = 0; a < OB; a++) { __m256 wr = _mm256_loadu_ps(w + a * I + (at));                 \
            for (int b = 0; b < MB; b++) c[a][b][h] = _mm256_fmadd_ps(xv[b], wr, c[a][b][h]); } }
#define XWTA_TILE_AVX2(OB, MB)                                                                        \
__attribute__((target("avx2,fma"), noinline))                                                         \
static void xwt_f32a_##OB##x##MB##_avx2(float *y, long ldy, const float *x, const float *w, long I, float beta) { \
    __m256 c[OB][MB][2];                                                                              \
    for (int a = 0; a < OB; a++) for (int b = 0; b < MB; b++) c[a][b][0] = c[a][b][1] = _mm256_setzero_ps(); \
    long i = 0;                                                                                       \
    for (; i + 32 <= I; i += 32) {                                                                    \
        XWTA2_QUARTER(OB, MB, i, 0) XWTA2_QUARTER(OB, MB, i + 8, 1)                                   \
        XWTA2_QUARTER(OB, MB, i + 16, 0) XWTA2_QUARTER(OB, MB, i + 24, 1) }                           \
    if (i + 16 <= I) { XWTA2_QUARTER(OB, MB, i, 0) XWTA2_QUARTER(OB, MB, i + 8, 1) i += 16; }         \
    for (int a = 0; a < OB; a++) for (int b = 0; b < MB; b++) {                                       \
        v16 v; memcpy(&v, &c[a][b][0], 32); memcpy((char *)&v + 32, &c[a][b][1], 32);                 \
        float r = hsum_avx2(v);                                                                       \
        for (long j = i; j < I; j++) r += x[b * I + j] * w[a * I + j];                                \
        float *p = y + b * ldy + a;                                                                   \
        if (beta == 0) *p = r; else { float t = beta * *p; *p = t + r; }                              \
    }                                                                                                 \
}
#define AVX2 __attribute__((target("avx2,fma")))
#define OB_avx2 3
WIDEN(avx2, AVX2)
XWT(avx2, AVX2, f32, float, 2, 2)     /* few rows of x: a 16-lane vector is 2 of the 16 ymm registers */
XWT(avx2, AVX2, bf16, unsigned short, 2, 2)
XWT(avx2, AVX2, f16, unsigned short, 2, 2)
XWTA_TILE_AVX2(3, 2) XWTA_TILE_AVX2(3, 1)
XWT_TILE(avx2, AVX2, f32a, float, 1, 2) XWT_TILE(avx2, AVX2, f32a, float, 1, 1)
/* xwt over arranged weights rows o0..<o1: blocks of 3 rows in the 3 × 2 tiles (an odd last row of
   x in 3 × 1), the rest 1 × 2. */
AVX2 static void xwt_f32a_avx2(float *y, long ldy, const float *x, long M, const float *w, long I,
                               long o0, long o1, float beta) {
    long o = o0;
    for (; o + 3 <= o1; o += 3) {
        float *yo = y + o; const float *wo = w + o * I;
        long m = 0;
        for (; m + 2 <= M; m += 2) xwt_f32a_3x2_avx2(yo + m * ldy, ldy, x + m * I, wo, I, beta);
        if (m < M) xwt_f32a_3x1_avx2(yo + m * ldy, ldy, x + m * I, wo, I, beta);
    }
    for (; o < o1; o++) {
        long m = 0;
        for (; m + 2 <= M; m += 2) xwt_f32a_1x2_avx2(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta);
        if (m < M) xwt_f32a_1x1_avx2(y + m * ldy + o, ldy, x + m * I, w + o * I, I, beta);
    }
}
XWTB_ALL(avx2, AVX2)
#endif
#define OB_base 2
BODY(base, )
XWT_ALL(base, , 2, 2)

/// One path's entry points.
typedef struct {
    float (*dot)(const float *, const float *, long);
    void (*dot4)(const float *, const float *, const float *, const float *, const float *, long, float *);
    void (*axpy)(float, const float *, float *, long);
    void (*scale)(float, float *, long);
    float (*max)(const float *, long);
    float (*sum)(const float *, long);
    float (*exp1)(float);
    double (*expsh)(float *, long, float);
    double (*sumexp)(const float *, long, float);
    void (*swf)(float *, const float *, const float *, long);
    void (*swb)(float *, float *, const float *, const float *, const float *, long);
    void (*smb)(float *, const float *, float, float, long);
    void (*xwt)(float *, long, const float *, long, const float *, long, long, long, float);
    void (*xwt_bf16)(float *, long, const float *, long, const unsigned short *, long, long, long, float);
    void (*xwt_f16)(float *, long, const float *, long, const unsigned short *, long, long, long, float);
    void (*widen_bf16)(float *, const unsigned short *, long);
    void (*widen_f16)(float *, const unsigned short *, long);
    void (*xwtb)(float *, long, const float *, long, const float *, long, long, long, float, float *);
    void (*xwtb_bf16)(float *, long, const float *, long, const unsigned short *, long, long, long, float, float *);
    void (*xwtb_f16)(float *, long, const float *, long, const unsigned short *, long, long, long, float, float *);
} Path;

#define PATH(S) { dot_##S, dot4_##S, axpy_##S, scale_##S, max_##S, sum_##S, exp1_##S, expsh_##S, sumexp_##S, swf_##S, swb_##S, smb_##S, xwt_f32_##S, xwt_bf16_##S, xwt_f16_##S, widen_bf16_##S, widen_f16_##S, xwtb_f32_##S, xwtb_bf16_##S, xwtb_f16_##S }
#if defined(__x86_64__)
static const Path path_avx512 = PATH(avx512), path_avx2 = PATH(avx2);
#endif
static const Path path_base = PATH(base);
static const Path *active = 0;
static int active_generation = 0;
int csimd_generation(void);

/// The path for csimd_widest(), chosen on first use and again after csimd_force.
static inline const Path *path(void) {
    int g = csimd_generation();
    if (active && active_generation == g) return active;
    const char *want = csimd_widest();
#if defined(__x86_64__)
    if (strcmp(want, "avx512") == 0) active = &path_avx512;
    else if (strcmp(want, "avx2") == 0) active = &path_avx2;
    else active = &path_base;
#else
    active = &path_base;
#endif
    active_generation = g;
    return active;
}

float csimd_dot(const float *a, const float *b, long n) { return path()->dot(a, b, n); }
void csimd_dot4(const float *a0, const float *a1, const float *a2, const float *a3, const float *v, long n, float *out) {
    path()->dot4(a0, a1, a2, a3, v, n, out);
}
void csimd_axpy(float alpha, const float *x, float *y, long n) { path()->axpy(alpha, x, y, n); }
void csimd_scale(float alpha, float *y, long n) { path()->scale(alpha, y, n); }
float csimd_max(const float *x, long n) { return path()->max(x, n); }
float csimd_sum(const float *x, long n) { return path()->sum(x, n); }
float csimd_exp(float x) { return path()->exp1(x); }
double csimd_exp_shifted_inplace(float *x, long n, float shift) { return path()->expsh(x, n, shift); }
double csimd_sum_exp_shifted(const float *x, long n, float shift) { return path()->sumexp(x, n, shift); }
void csimd_swiglu_forward(float *out, const float *gate, const float *up, long n) { path()->swf(out, gate, up, n); }
void csimd_swiglu_backward(float *dgate, float *dup, const float *gate, const float *up, const float *dout, long n) {
    path()->swb(dgate, dup, gate, up, dout, n);
}
void csimd_softmax_backward_row(float *d, const float *p, float c, float scale, long n) { path()->smb(d, p, c, scale, n); }
/* x (m, n) in the tiles' order: each block of 32 as its 16 even then its 16 odd elements, the rest
   as is; into a per-thread buffer kept between calls (grown, never shrunk). */
static const float *xwt_arrange(const float *x, long m, long n) {
    static __thread float *buffer = 0;
    static __thread long capacity = 0;
    if (m * n > capacity) {
        free(buffer);
        capacity = m * n;
        buffer = (float *)aligned_alloc(64, (sizeof(float) * (size_t)capacity + 63) / 64 * 64);  /* 64-byte rows: no vector load splits a cache line where rows are a multiple of 16 */
        if (!buffer) abort();
    }
    for (long r = 0; r < m; r++) {
        const float *src = x + r * n;
        float *dst = buffer + r * n;
        long i = 0;
        for (; i + 32 <= n; i += 32)
            for (int l = 0; l < 16; l++) { dst[i + l] = src[i + 2 * l]; dst[i + 16 + l] = src[i + 2 * l + 1]; }
        for (; i < n; i++) dst[i] = src[i];
    }
    return buffer;
}
/* From this many rows of x on, blocks of w are arranged once and shared by all tiles of x rows
   (`xwtb`); below it the tiles arrange the weights as they load them (decode of a few rows is
   bound by reading W, which either way happens once). Measured in BENCHMARKS.md. */
enum { XWTB_MIN_ROWS = 12 };
/* A per-thread buffer for 4 arranged rows of w (grown, never shrunk). */
static float *xwtb_buffer(long n) {
    static __thread float *buffer = 0;
    static __thread long capacity = 0;
    if (4 * n > capacity) {
        free(buffer);
        capacity = 4 * n;
        buffer = (float *)aligned_alloc(64, (sizeof(float) * (size_t)capacity + 63) / 64 * 64);  /* 64-byte rows: no vector load splits a cache line where rows are a multiple of 16 */
        if (!buffer) abort();
    }
    return buffer;
}
void csimd_xwt(float *y, long ldy, const float *x, long m, const float *w, long n, long o0, long o1, float beta) {
    const float *xa = xwt_arrange(x, m, n);
    if (m >= XWTB_MIN_ROWS) path()->xwtb(y, ldy, xa, m, w, n, o0, o1, beta, xwtb_buffer(n));
    else path()->xwt(y, ldy, xa, m, w, n, o0, o1, beta);
}
void csimd_xwt16(float *y, long ldy, const float *x, long m, const uint16_t *w, long n, long o0, long o1, float beta,
                 int kind) {
    const float *xa = xwt_arrange(x, m, n);
    if (m >= XWTB_MIN_ROWS) {
        if (kind == CSIMD_BF16) path()->xwtb_bf16(y, ldy, xa, m, w, n, o0, o1, beta, xwtb_buffer(n));
        else path()->xwtb_f16(y, ldy, xa, m, w, n, o0, o1, beta, xwtb_buffer(n));
    } else if (kind == CSIMD_BF16) path()->xwt_bf16(y, ldy, xa, m, w, n, o0, o1, beta);
    else path()->xwt_f16(y, ldy, xa, m, w, n, o0, o1, beta);
}
void csimd_widen16(float *dst, const uint16_t *src, long n, int kind) {
    if (kind == CSIMD_BF16) path()->widen_bf16(dst, src, n);
    else path()->widen_f16(dst, src, n);
}
