// Compute kernels for the SSL-ECG encoder. The fast path is chosen at run time from
// the CPU's features (never at build time), so one binary is correct and fast on any
// x86-64 (AVX-512, AVX2, or neither) and on aarch64 (portable path, NEON by the
// compiler's auto-vectoriser).
#include "ckernels.h"
#include <float.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define CK_X86 1
#else
#define CK_X86 0
#endif

static int g_isa = -1;

static int detect_isa(void) {
#if CK_X86
    __builtin_cpu_init();
    // Each level needs every feature its kernels are compiled for (AVX-512 kernels use
    // avx512f with fma, and avx512vl in the DFT combine); __builtin_cpu_supports also
    // checks that the OS saves the vector state (XCR0).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma")
        && __builtin_cpu_supports("avx2")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int ck_isa(void) {
    int v = __atomic_load_n(&g_isa, __ATOMIC_RELAXED);
    if (v < 0) { v = detect_isa(); __atomic_store_n(&g_isa, v, __ATOMIC_RELAXED); }
    return v;
}


const char *ck_isa_name(int isa) {
    switch (isa) { case 2: return "avx512"; case 1: return "avx2"; default: return "portable"; }
}

static inline float act_apply(float v, int act) {
    if (act == 1) return v > 0.0f ? v : 0.2f * v;
    if (act == 2) return v > 0.0f ? v : 0.0f;
    return v;
}

static void gemm_ref_ldb(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                         const float *bias, float *C, int ldc, int act) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s = bias ? bias[n] : 0.0f;
            for (int k = 0; k < K; k++) s += A[(size_t)m * lda + k] * B[(size_t)k * ldb + n];
            C[(size_t)m * ldc + n] = act_apply(s, act);
        }
}

void ck_gemm_bias_act_ref(int M, int N, int K, const float *A, int lda, const float *B,
                          const float *bias, float *C, int ldc, int act) {
    gemm_ref_ldb(M, N, K, A, lda, B, N, bias, C, ldc, act);
}

// Portable path: rows in blocks of 4, all N columns accumulated in a stack tile the
// compiler vectorises (the inner loop is over contiguous n).
#define PMAX_N 512
static void gemm_portable(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                          const float *bias, float *C, int ldc, int act) {
    if (N > PMAX_N) { gemm_ref_ldb(M, N, K, A, lda, B, ldb, bias, C, ldc, act); return; }
    float acc[4][PMAX_N];
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        for (int r = 0; r < 4; r++)
            for (int n = 0; n < N; n++) acc[r][n] = bias ? bias[n] : 0.0f;
        const float *a0 = A + (size_t)m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (int k = 0; k < K; k++) {
            const float *b = B + (size_t)k * ldb;
            float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
            for (int n = 0; n < N; n++) {
                float bn = b[n];
                acc[0][n] += x0 * bn; acc[1][n] += x1 * bn; acc[2][n] += x2 * bn; acc[3][n] += x3 * bn;
            }
        }
        for (int r = 0; r < 4; r++)
            for (int n = 0; n < N; n++) C[(size_t)(m + r) * ldc + n] = act_apply(acc[r][n], act);
    }
    for (; m < M; m++) {
        for (int n = 0; n < N; n++) acc[0][n] = bias ? bias[n] : 0.0f;
        const float *a0 = A + (size_t)m * lda;
        for (int k = 0; k < K; k++) {
            const float *b = B + (size_t)k * ldb;
            float x0 = a0[k];
            for (int n = 0; n < N; n++) acc[0][n] += x0 * b[n];
        }
        for (int n = 0; n < N; n++) C[(size_t)m * ldc + n] = act_apply(acc[0][n], act);
    }
}

#if CK_X86
// ---------------------------------------------------------------- AVX-512 (16 lanes)
__attribute__((target("avx512f")))
static inline __m512 act512(__m512 v, int act) {
    if (act == 1) {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(0.2f));
    }
    if (act == 2) return _mm512_max_ps(v, _mm512_setzero_ps());
    return v;
}

// MR rows x 32 columns, K fully accumulated in registers. Element (r, k) of A is at
// A[r*ars + k*aks]: (lda, 1) for C = A B, (1, lda) for C += Aᵀ B. acc: start from C and
// store plainly (gradients); else start from bias (or zero) and apply act.
// The row loops are unrolled on request: the accumulators c0[MR], c1[MR] stay in registers
// only when they are, and SwiftPM builds C at -O2, whose unroller leaves MR = 12 rolled
// (2.2x slower on AVX-512 than with the unsafe -O3 flag this package no longer sets).
#define K512_TILE(MR)                                                                       \
__attribute__((target("avx512f,fma")))                                                     \
static void k512_##MR(int K, const float *A, int ars, int aks, const float *B, int ldb,   \
                      const float *bias, float *C, int ldc, int act, int acc) {            \
    __m512 c0[MR], c1[MR];                                                                 \
    if (acc) {                                                                             \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                     \
            c0[r] = _mm512_loadu_ps(C + (size_t)r * ldc); c1[r] = _mm512_loadu_ps(C + (size_t)r * ldc + 16); \
        }                                                                                  \
    } else {                                                                               \
        __m512 bb0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();                   \
        __m512 bb1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();              \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) { c0[r] = bb0; c1[r] = bb1; }                         \
    }                                                                                      \
    for (int k = 0; k < K; k++) {                                                          \
        __m512 b0 = _mm512_loadu_ps(B + (size_t)k * ldb);                                  \
        __m512 b1 = _mm512_loadu_ps(B + (size_t)k * ldb + 16);                             \
        const float *a = A + (size_t)k * aks;                                              \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                     \
            __m512 x = _mm512_set1_ps(a[(size_t)r * ars]);                                 \
            c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);                                         \
            c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);                                         \
        }                                                                                  \
    }                                                                                      \
    _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                         \
        _mm512_storeu_ps(C + (size_t)r * ldc, acc ? c0[r] : act512(c0[r], act));           \
        _mm512_storeu_ps(C + (size_t)r * ldc + 16, acc ? c1[r] : act512(c1[r], act));      \
    }                                                                                      \
}
K512_TILE(12)
K512_TILE(4)
K512_TILE(1)

__attribute__((target("avx512f,fma")))
static void gemm_avx512(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        const float *bias, float *C, int ldc, int act) {
    for (int n0 = 0; n0 < N; n0 += 32) {
        const float *Bn = B + n0;
        const float *bn = bias ? bias + n0 : NULL;
        int m = 0;
        for (; m + 12 <= M; m += 12) k512_12(K, A + (size_t)m * lda, lda, 1, Bn, ldb, bn, C + (size_t)m * ldc + n0, ldc, act, 0);
        for (; m + 4 <= M; m += 4) k512_4(K, A + (size_t)m * lda, lda, 1, Bn, ldb, bn, C + (size_t)m * ldc + n0, ldc, act, 0);
        for (; m < M; m++) k512_1(K, A + (size_t)m * lda, lda, 1, Bn, ldb, bn, C + (size_t)m * ldc + n0, ldc, act, 0);
    }
}

// ---------------------------------------------------------------- AVX2 + FMA (8 lanes)
__attribute__((target("avx2,fma")))
static inline __m256 act256(__m256 v, int act) {
    if (act == 1) {
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(0.2f)), neg);
    }
    if (act == 2) return _mm256_max_ps(v, _mm256_setzero_ps());
    return v;
}

#define K256_TILE(MR)                                                                       \
__attribute__((target("avx2,fma")))                                                        \
static void k256_##MR(int K, const float *A, int ars, int aks, const float *B, int ldb,   \
                      const float *bias, float *C, int ldc, int act, int acc) {            \
    __m256 c0[MR], c1[MR];                                                                 \
    if (acc) {                                                                             \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                     \
            c0[r] = _mm256_loadu_ps(C + (size_t)r * ldc); c1[r] = _mm256_loadu_ps(C + (size_t)r * ldc + 8); \
        }                                                                                  \
    } else {                                                                               \
        __m256 bb0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();                   \
        __m256 bb1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();               \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) { c0[r] = bb0; c1[r] = bb1; }                         \
    }                                                                                      \
    for (int k = 0; k < K; k++) {                                                          \
        __m256 b0 = _mm256_loadu_ps(B + (size_t)k * ldb);                                  \
        __m256 b1 = _mm256_loadu_ps(B + (size_t)k * ldb + 8);                              \
        const float *a = A + (size_t)k * aks;                                              \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                     \
            __m256 x = _mm256_broadcast_ss(a + (size_t)r * ars);                           \
            c0[r] = _mm256_fmadd_ps(x, b0, c0[r]);                                         \
            c1[r] = _mm256_fmadd_ps(x, b1, c1[r]);                                         \
        }                                                                                  \
    }                                                                                      \
    _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                         \
        _mm256_storeu_ps(C + (size_t)r * ldc, acc ? c0[r] : act256(c0[r], act));           \
        _mm256_storeu_ps(C + (size_t)r * ldc + 8, acc ? c1[r] : act256(c1[r], act));       \
    }                                                                                      \
}
K256_TILE(6)
K256_TILE(1)

__attribute__((target("avx2,fma")))
static void gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      const float *bias, float *C, int ldc, int act) {
    for (int n0 = 0; n0 < N; n0 += 16) {
        const float *Bn = B + n0;
        const float *bn = bias ? bias + n0 : NULL;
        int m = 0;
        for (; m + 6 <= M; m += 6) k256_6(K, A + (size_t)m * lda, lda, 1, Bn, ldb, bn, C + (size_t)m * ldc + n0, ldc, act, 0);
        for (; m < M; m++) k256_1(K, A + (size_t)m * lda, lda, 1, Bn, ldb, bn, C + (size_t)m * ldc + n0, ldc, act, 0);
    }
}
#endif

static void gemm_dispatch(int isa, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                          const float *bias, float *C, int ldc, int act) {
    if (M <= 0 || N <= 0) return;
#if CK_X86
    if (isa == 2 && N % 32 == 0) { gemm_avx512(M, N, K, A, lda, B, ldb, bias, C, ldc, act); return; }
    if (isa >= 1 && N % 16 == 0) { gemm_avx2(M, N, K, A, lda, B, ldb, bias, C, ldc, act); return; }
#endif
    gemm_portable(M, N, K, A, lda, B, ldb, bias, C, ldc, act);
}

void ck_gemm_bias_act(int M, int N, int K, const float *A, int lda, const float *B,
                      const float *bias, float *C, int ldc, int act) {
    gemm_dispatch(ck_isa(), M, N, K, A, lda, B, N, bias, C, ldc, act);
}

void ck_maxpool8s2(int T, int C, const float *in, float *out, int ldo) {
    int To = (T - 8) / 2 + 1;
    for (int t = 0; t < To; t++) {
        const float *x = in + (size_t)(2 * t) * C;
        float *o = out + (size_t)t * ldo;
        for (int c = 0; c < C; c++) o[c] = x[c];
        for (int j = 1; j < 8; j++) {
            const float *xj = x + (size_t)j * C;
            for (int c = 0; c < C; c++) o[c] = xj[c] > o[c] ? xj[c] : o[c];
        }
    }
}

void ck_global_max(int T, int C, const float *in, float *out) {
    for (int c = 0; c < C; c++) out[c] = -FLT_MAX;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) out[c] = in[(size_t)t * C + c] > out[c] ? in[(size_t)t * C + c] : out[c];
}

// ------------------------------------------------------------------ tiled DFT helpers
// tmp: (P, 2, m+1, C) half-tile spectra (re plane, then im plane); X: (m+1, nseg, 2C).
static inline __attribute__((always_inline))
void dft_combine_body(int m, int nseg, int q0, int q1, int C, const float *restrict tmp, float *restrict X) {
    const int F = m + 1;
    const size_t tile = (size_t)2 * F * C;
    for (int q = q0; q < q1; q++) {
        const float *a = tmp + (size_t)q * tile, *b = a + tile;
        for (int f = 0; f < F; f++) {
            float *restrict dst = X + ((size_t)f * nseg + q) * 2 * C;
            for (int r = 0; r < 2; r++) {
                const float *restrict af = a + ((size_t)r * F + f) * C, *restrict bf = b + ((size_t)r * F + f) * C;
                float *restrict d = dst + r * C;
                if (f & 1) { for (int c = 0; c < C; c++) d[c] = af[c] - bf[c]; }
                else       { for (int c = 0; c < C; c++) d[c] = af[c] + bf[c]; }
            }
        }
    }
}

#if CK_X86
__attribute__((target("avx512f,avx512vl"))) static void dft_combine_avx512(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X) { dft_combine_body(m, nseg, q0, q1, C, tmp, X); }
__attribute__((target("avx2"))) static void dft_combine_avx2(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X) { dft_combine_body(m, nseg, q0, q1, C, tmp, X); }
#endif
static void dft_combine_portable(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X) { dft_combine_body(m, nseg, q0, q1, C, tmp, X); }

static void dft_combine_dispatch(int isa, int m, int nseg, int q0, int q1, int C, const float *tmp, float *X) {
#if CK_X86
    if (isa == 2) { dft_combine_avx512(m, nseg, q0, q1, C, tmp, X); return; }
    if (isa == 1) { dft_combine_avx2(m, nseg, q0, q1, C, tmp, X); return; }
#endif
    dft_combine_portable(m, nseg, q0, q1, C, tmp, X);
}

void ck_tile_dft_combine(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X) {
    dft_combine_dispatch(ck_isa(), m, nseg, q0, q1, C, tmp, X);
}

void ck_gemm_full(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  const float *bias, float *C, int ldc, int act) {
    gemm_dispatch(ck_isa(), M, N, K, A, lda, B, ldb, bias, C, ldc, act);
}

void ck_gemm_full_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      const float *bias, float *C, int ldc, int act) {
    gemm_ref_ldb(M, N, K, A, lda, B, ldb, bias, C, ldc, act);
}

// ------------------------------------------------------------------ C += Aᵀ B (weight gradients)
void ck_gemm_tn_acc_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[(size_t)k * lda + m] * B[(size_t)k * ldb + n];
            C[(size_t)m * ldc + n] += s;
        }
}

static void tn_portable(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    // Rows of C in blocks of 4; the inner loop runs over contiguous n.
    for (int m0 = 0; m0 < M; m0 += 4) {
        int mr = M - m0 < 4 ? M - m0 : 4;
        for (int k = 0; k < K; k++) {
            const float *a = A + (size_t)k * lda + m0, *b = B + (size_t)k * ldb;
            for (int r = 0; r < mr; r++) {
                float x = a[r];
                float *c = C + (size_t)(m0 + r) * ldc;
                for (int n = 0; n < N; n++) c[n] += x * b[n];
            }
        }
    }
}

#if CK_X86
__attribute__((target("avx512f,fma")))
static void tn_avx512(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    for (int n0 = 0; n0 < N; n0 += 32) {
        int m = 0;
        for (; m + 12 <= M; m += 12) k512_12(K, A + m, 1, lda, B + n0, ldb, NULL, C + (size_t)m * ldc + n0, ldc, 0, 1);
        for (; m + 4 <= M; m += 4) k512_4(K, A + m, 1, lda, B + n0, ldb, NULL, C + (size_t)m * ldc + n0, ldc, 0, 1);
        for (; m < M; m++) k512_1(K, A + m, 1, lda, B + n0, ldb, NULL, C + (size_t)m * ldc + n0, ldc, 0, 1);
    }
}

__attribute__((target("avx2,fma")))
static void tn_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    for (int n0 = 0; n0 < N; n0 += 16) {
        int m = 0;
        for (; m + 6 <= M; m += 6) k256_6(K, A + m, 1, lda, B + n0, ldb, NULL, C + (size_t)m * ldc + n0, ldc, 0, 1);
        for (; m < M; m++) k256_1(K, A + m, 1, lda, B + n0, ldb, NULL, C + (size_t)m * ldc + n0, ldc, 0, 1);
    }
}
#endif

static void tn_dispatch(int isa, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    if (M <= 0 || N <= 0 || K <= 0) return;
#if CK_X86
    if (isa == 2 && N % 32 == 0) { tn_avx512(M, N, K, A, lda, B, ldb, C, ldc); return; }
    if (isa >= 1 && N % 16 == 0) { tn_avx2(M, N, K, A, lda, B, ldb, C, ldc); return; }
#endif
    tn_portable(M, N, K, A, lda, B, ldb, C, ldc);
}

void ck_gemm_tn_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    tn_dispatch(ck_isa(), M, N, K, A, lda, B, ldb, C, ldc);
}

// One table per kernel family, built at compile time; the entries call the family's
// kernels directly, so a caller holding a table never depends on global state.
#define CK_FAMILY(L) \
    static void gemm_bias_act_##L(int M, int N, int K, const float *A, int lda, const float *B, const float *bias, float *C, int ldc, int act) \
        { gemm_dispatch(L, M, N, K, A, lda, B, N, bias, C, ldc, act); } \
    static void gemm_full_##L(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias, float *C, int ldc, int act) \
        { gemm_dispatch(L, M, N, K, A, lda, B, ldb, bias, C, ldc, act); } \
    static void gemm_tn_acc_##L(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) \
        { tn_dispatch(L, M, N, K, A, lda, B, ldb, C, ldc); } \
    static void tile_dft_combine_##L(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X) \
        { dft_combine_dispatch(L, m, nseg, q0, q1, C, tmp, X); }
CK_FAMILY(0)
CK_FAMILY(1)
CK_FAMILY(2)
static const ck_kernels k_families[3] = {
    {0, gemm_bias_act_0, gemm_full_0, gemm_tn_acc_0, tile_dft_combine_0},
    {1, gemm_bias_act_1, gemm_full_1, gemm_tn_acc_1, tile_dft_combine_1},
    {2, gemm_bias_act_2, gemm_full_2, gemm_tn_acc_2, tile_dft_combine_2},
};

const ck_kernels *ck_kernels_for(int isa) {
    int best = ck_isa();
    return &k_families[(isa < 0 || isa > best) ? best : isa];
}
