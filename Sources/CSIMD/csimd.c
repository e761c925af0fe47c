// Run-time SIMD dispatch and the FMA peak probe (see csimd.h).
#include "csimd.h"
#include <string.h>
#include <time.h>

static char forced_name[16];
static const char *forced = 0;
static int generation = 1;

void csimd_force(const char *isa) {
    if (isa && *isa) {
        strncpy(forced_name, isa, sizeof forced_name - 1);
        forced = forced_name;
    } else {
        forced = 0;
    }
    generation++;
}

/// Changes whenever csimd_force is called (the dispatch table re-reads csimd_widest then).
int csimd_generation(void) { return generation; }

#if defined(__x86_64__)
#include <immintrin.h>

const char *csimd_widest(void) {
    __builtin_cpu_init();
    if (forced) return forced;
    if (__builtin_cpu_supports("avx512f")) return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
    return "sse2";
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// 12 independent chains hide the FMA latency (4 cycles × 2 ports = 8 needed, with headroom).
#define CHAINS(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)

__attribute__((target("avx512f"))) static float fma512(long iterations) {
    __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps(1.0f + (float)(i));
    CHAINS(DECL)
    for (long n = 0; n < iterations; n++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
        CHAINS(STEP)
    }
    __m512 s = a0;
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(SUM)
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma256(long iterations) {
    __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
#define DECL2(i) __m256 a##i = _mm256_set1_ps(1.0f + (float)(i));
    CHAINS(DECL2)
    for (long n = 0; n < iterations; n++) {
#define STEP2(i) a##i = _mm256_fmadd_ps(a##i, b, c);
        CHAINS(STEP2)
    }
    __m256 s = a0;
#define SUM2(i) s = _mm256_add_ps(s, a##i);
    CHAINS(SUM2)
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

static float mul128(long iterations) {   // SSE2: separate multiply and add (2 FLOP per lane)
    __m128 b = _mm_set1_ps(0.9999999f), c = _mm_set1_ps(1e-7f);
#define DECL3(i) __m128 a##i = _mm_set1_ps(1.0f + (float)(i));
    CHAINS(DECL3)
    for (long n = 0; n < iterations; n++) {
#define STEP3(i) a##i = _mm_add_ps(_mm_mul_ps(a##i, b), c);
        CHAINS(STEP3)
    }
    __m128 s = a0;
#define SUM3(i) s = _mm_add_ps(s, a##i);
    CHAINS(SUM3)
    float out[4];
    _mm_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3];
}

double csimd_fma_flops(int milliseconds) {
    const char *isa = csimd_widest();
    int lanes = strcmp(isa, "avx512") == 0 ? 16 : strcmp(isa, "avx2") == 0 ? 8 : 4;
    float (*kernel)(long) = lanes == 16 ? fma512 : lanes == 8 ? fma256 : mul128;
    volatile float sink = kernel(1000);   // warm up (frequency, caches)
    long iterations = 1 << 16;
    double best = 0, spent = 0;
    while (spent < 1e-3 * milliseconds) {
        double t0 = now();
        sink += kernel(iterations);
        double dt = now() - t0;
        spent += dt;
        double flops = (double)iterations * 12.0 * lanes * 2.0 / dt;
        if (flops > best) best = flops;
        if (dt < 2e-3) iterations *= 2;
    }
    (void)sink;
    return best;
}

#else   // other architectures: plain C the compiler vectorizes for the baseline ISA

const char *csimd_widest(void) {
#if defined(__aarch64__)
    return forced ? forced : "neon";
#else
    return forced ? forced : "scalar";
#endif
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double csimd_fma_flops(int milliseconds) {
    float a[48], b = 0.9999999f, c = 1e-7f;
    for (int i = 0; i < 48; i++) a[i] = 1.0f + i;
    long iterations = 1 << 14;
    double best = 0, spent = 0;
    while (spent < 1e-3 * milliseconds) {
        double t0 = now();
        for (long n = 0; n < iterations; n++)
            for (int i = 0; i < 48; i++) a[i] = a[i] * b + c;
        double dt = now() - t0;
        spent += dt;
        double flops = (double)iterations * 48 * 2.0 / dt;
        if (flops > best) best = flops;
        if (dt < 2e-3) iterations *= 2;
    }
    volatile float sink = a[0] + a[47];
    (void)sink;
    return best;
}
#endif
