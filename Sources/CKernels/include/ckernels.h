#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which kernel family the dispatcher picked at run time (from CPUID on x86-64):
/// 0 = portable C (auto-vectorised for the baseline ISA, e.g. SSE2 or NEON),
/// 1 = AVX2 + FMA, 2 = AVX-512F.
int ck_isa(void);
const char *ck_isa_name(int isa);

/// The kernels of one family, for callers that must choose it explicitly (tests of every
/// family, benchmarks): the entries have the contracts of the functions of the same name.
typedef struct ck_kernels {
    int isa;
    void (*gemm_bias_act)(int M, int N, int K, const float *A, int lda, const float *B, const float *bias, float *C, int ldc, int act);
    void (*gemm_full)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias, float *C, int ldc, int act);
    void (*gemm_tn_acc)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
    void (*tile_dft_combine)(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X);
} ck_kernels;
/// Family `isa` (0 portable, 1 AVX2, 2 AVX-512), clamped to what this CPU supports; -1:
/// the best (what the engine uses). Immutable tables: safe from any thread.
const ck_kernels *ck_kernels_for(int isa);

/// C[m, n] = act(bias[n] + sum_{k<K} A[m*lda + k] * B[k*N + n]) for m < M, n < N.
///
/// A may have overlapping rows (lda < K): with a channels-last, zero-padded input of
/// C_in channels, lda = C_in and K = taps * C_in make this a 1-D convolution with TF
/// `same` padding, and B is the TF kernel [taps, C_in, C_out] as stored.
/// bias may be NULL (zero). act: 0 = identity, 1 = leaky ReLU (alpha 0.2), 2 = ReLU.
/// ldc is the row stride of C in floats. Cost: 2*M*N*K flops.
void ck_gemm_bias_act(int M, int N, int K, const float *A, int lda, const float *B,
                      const float *bias, float *C, int ldc, int act);

/// The same contract, by the plainest possible loops: the reference the fast paths
/// are tested against.
void ck_gemm_bias_act_ref(int M, int N, int K, const float *A, int lda, const float *B,
                          const float *bias, float *C, int ldc, int act);

/// out[t, c] = max_{j<8} in[2t + j, c] for t < (T - 8) / 2 + 1; channels-last, C
/// channels, rows of `in` are C floats apart and rows of `out` ldo floats apart.
void ck_maxpool8s2(int T, int C, const float *in, float *out, int ldo);

/// out[c] = max_t in[t, c].
void ck_global_max(int T, int C, const float *in, float *out);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Combines half-tile spectra into segment spectra for the tiled-DFT convolution:
/// X[f][q][r*C + c] = tmp[q][r][f][c] + (-1)^f tmp[q+1][r][f][c] for q in [q0, q1),
/// r = 0 (real), 1 (imaginary), f = 0..m. tmp: (nseg+1, 2, m+1, C); X: (m+1, nseg, 2C).
void ck_tile_dft_combine(int m, int nseg, int q0, int q1, int C, const float *tmp, float *X);

/// The general GEMM: C = act(bias + A B), row strides lda, ldb, ldc (floats).
void ck_gemm_full(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  const float *bias, float *C, int ldc, int act);
/// ck_gemm_full's plain-loop reference.
void ck_gemm_full_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      const float *bias, float *C, int ldc, int act);
/// C[m, n] += sum_{k<K} A[k*lda + m] * B[k*ldb + n]: C += Aᵀ B, accumulating. A's rows may
/// overlap (lda < M): with A = a padded channels-last conv input (lda = C_in, M = taps·C_in)
/// and B = the output gradient, this is the conv kernel's gradient in [taps, C_in, C_out].
void ck_gemm_tn_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
void ck_gemm_tn_acc_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);


#ifdef __cplusplus
}
#endif
