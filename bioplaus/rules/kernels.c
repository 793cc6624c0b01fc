/* Fused per-sequence loops of the online recurrent rules (bioplaus.rules.ckernels).

   Eager PyTorch runs each step of UORO, e-prop or RFLO as a dozen small operations and
   two or three separate passes over the per-sequence state (batch x n x P); here a whole
   sequence is one call, and each step makes one pass over that state that updates it,
   adds its contribution to the estimate and (UORO) measures its norm for the next step.
   Compiled on first use by bioplaus.rules.ckernels for float (suffix _f32) and double (_f64).

   Layouts (C order): state (B, n, P); per-step inputs of the trajectory (B, T, n) or
   (B, T, P) (row t of sequence b at (b*T + t)); UORO's kick, push (T, B, n); the estimate
   (B, n, P) per sequence or (n, P) summed over the batch (sum_batch = 1). Threads own rows
   i of the state, the same rows in every step, so results do not depend on scheduling. */

#include <math.h>
#include <omp.h>
#include <stdlib.h>

/* The first row of this thread's share of n rows (which = 0), or of the next thread's (which = 1). */
static inline int rows_begin(int n, int which) {
    const int k = omp_get_thread_num() + which, all = omp_get_num_threads();
    return (int)(((long)n * k) / all);
}

#define DEFINE_KERNELS(REAL, SUFFIX)                                                            \
                                                                                                \
/* e-prop / RFLO: E_t = decay_t (*) E_{t-1} + slope_t (x) z_t; grad += L_t (*) E_t.            \
   decay: (B, T, n) per row, or NULL with the scalar leak. One parallel region for the whole    \
   sequence: rows never interact, so thread k owns rows [i0, i1) in every step. */              \
void trace_sequence##SUFFIX(REAL *trace, const REAL *decay, REAL leak, const REAL *slope,       \
                            const REAL *z, const REAL *signal, REAL *grad, int B, int T, int n, \
                            int P, int sum_batch, int threads) {                                \
    _Pragma("omp parallel num_threads(threads)")                                                \
    {                                                                                           \
        const int i0 = rows_begin(n, 0), i1 = rows_begin(n, 1);                                 \
        for (int t = 0; t < T; t++) {                                                           \
            for (int b = 0; b < B; b++) {                                                       \
                const long row = (long)b * T + t;                                               \
                const REAL *restrict zr = z + row * P;                                          \
                for (int i = i0; i < i1; i++) {                                                 \
                    const REAL d = decay ? decay[row * n + i] : leak;                           \
                    const REAL s = slope[row * n + i], l = signal[row * n + i];                 \
                    REAL *restrict e = trace + ((long)b * n + i) * P;                           \
                    REAL *restrict g = grad + ((sum_batch ? 0 : (long)b * n) + i) * P;          \
                    if (d == 0) { /* no memory (RFLO, alpha = 1): the trace is written, not read */\
                        _Pragma("GCC ivdep")                                                    \
                        for (int j = 0; j < P; j++) {                                           \
                            const REAL v = s * zr[j];                                           \
                            e[j] = v;                                                           \
                            g[j] += l * v;                                                      \
                        }                                                                       \
                    } else {                                                                    \
                        _Pragma("GCC ivdep")                                                    \
                        for (int j = 0; j < P; j++) {                                           \
                            const REAL v = d * e[j] + s * zr[j];                                \
                            e[j] = v;                                                           \
                            g[j] += l * v;                                                      \
                        }                                                                       \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}                                                                                               \
                                                                                                \
/* UORO (see bioplaus.rules.uoro.uoro_step for the symbols): w~ = scale * theta. Per step:     \
   dh = (h~ W_rec^T) * slope (+ (1 - alpha) h~); rho0 = sqrt((|w~| + eps) / (|dh| + eps));      \
   h~ <- rho0 dh + kick; scale <- scale / rho0; theta += (push / scale) z^T;                    \
   grad += ((c . h~) scale) theta, with |theta| measured in the same pass. One parallel region: \
   per step, the sequences' scalars (threads split the batch), a barrier, then the pass over    \
   theta (thread k owns rows [i0, i1) of every sequence), a barrier. */                         \
void uoro_sequence##SUFFIX(REAL *h_tilde, REAL *theta, REAL *scale, const REAL *kick,          \
                           const REAL *push, const REAL *slope, const REAL *z,                  \
                           const REAL *credit, const REAL *w_rec_t, REAL alpha, REAL eps,       \
                           REAL *grad, int B, int T, int n, int P, int sum_batch, int threads) { \
    REAL *dh = (REAL *)malloc(sizeof(REAL) * B * n);                                            \
    REAL *beta = (REAL *)malloc(sizeof(REAL) * B);                                              \
    REAL *row_gain = (REAL *)malloc(sizeof(REAL) * B * n);                                      \
    double *norm2 = (double *)malloc(sizeof(double) * B * n); /* |theta row|^2 per (b, row) */  \
    for (long r = 0; r < (long)B * n; r++) {                                                    \
        const REAL *th = theta + r * P;                                                         \
        double acc = 0.0;                                                                       \
        for (int j = 0; j < P; j++) acc += (double)th[j] * th[j];                               \
        norm2[r] = acc;                                                                         \
    }                                                                                           \
    _Pragma("omp parallel num_threads(threads)")                                                \
    {                                                                                           \
        const int i0 = rows_begin(n, 0), i1 = rows_begin(n, 1);                                 \
        for (int t = 0; t < T; t++) {                                                           \
            _Pragma("omp for schedule(static)")                                                 \
            for (int b = 0; b < B; b++) {                                                       \
                const long row = (long)b * T + t;                                               \
                REAL *restrict d = dh + (long)b * n;                                            \
                REAL *restrict h = h_tilde + (long)b * n;                                       \
                for (int i = 0; i < n; i++) d[i] = 0;                                           \
                for (int k = 0; k < n; k++) {                                                   \
                    const REAL hk = h[k];                                                       \
                    const REAL *restrict w = w_rec_t + (long)k * n;                             \
                    for (int i = 0; i < n; i++) d[i] += hk * w[i];                              \
                }                                                                               \
                double nd = 0.0, nt = 0.0;                                                      \
                for (int i = 0; i < n; i++) {                                                   \
                    d[i] *= slope[row * n + i];                                                 \
                    if (alpha != 1) d[i] += (1 - alpha) * h[i];                                 \
                    nd += (double)d[i] * d[i];                                                  \
                    nt += norm2[(long)b * n + i];                                               \
                }                                                                               \
                const REAL rho0 = (REAL)sqrt(((REAL)sqrt(nt) * scale[b] + eps) / ((REAL)sqrt(nd) + eps)); \
                const REAL *kk = kick + ((long)t * B + b) * n;                                  \
                const REAL *cc = credit + row * n;                                              \
                double dot = 0.0;                                                               \
                for (int i = 0; i < n; i++) {                                                   \
                    h[i] = rho0 * d[i] + kk[i];                                                 \
                    dot += (double)cc[i] * h[i];                                                \
                }                                                                               \
                REAL sc = scale[b] / rho0;                                                      \
                if (sc > (REAL)1e20 || sc < (REAL)1e-20) { /* keep scale and theta in range */  \
                    REAL *th = theta + (long)b * n * P;                                         \
                    for (long j = 0; j < (long)n * P; j++) th[j] *= sc;                         \
                    sc = 1;                                                                     \
                }                                                                               \
                scale[b] = sc;                                                                  \
                beta[b] = (REAL)dot * sc;                                                       \
                const REAL *pp = push + ((long)t * B + b) * n;                                  \
                for (int i = 0; i < n; i++) row_gain[(long)b * n + i] = pp[i] / sc;             \
            } /* implicit barrier */                                                            \
            for (int b = 0; b < B; b++) {                                                       \
                const REAL be = beta[b];                                                        \
                const REAL *restrict zr = z + ((long)b * T + t) * P;                            \
                for (int i = i0; i < i1; i++) {                                                 \
                    const REAL u = row_gain[(long)b * n + i];                                   \
                    REAL *restrict th = theta + ((long)b * n + i) * P;                          \
                    REAL *restrict g = grad + ((sum_batch ? 0 : (long)b * n) + i) * P;          \
                    REAL acc = 0;                                                               \
                    _Pragma("GCC ivdep")                                                        \
                    for (int j = 0; j < P; j++) {                                               \
                        const REAL v = th[j] + u * zr[j];                                       \
                        th[j] = v;                                                              \
                        g[j] += be * v;                                                         \
                        acc += v * v;                                                           \
                    }                                                                           \
                    norm2[(long)b * n + i] = acc;                                               \
                }                                                                               \
            }                                                                                   \
            _Pragma("omp barrier")                                                              \
        }                                                                                       \
    }                                                                                           \
    free(dh); free(beta); free(row_gain); free(norm2);                                          \
}                                                                                               \
                                                                                                \
/* KF-RTRL after its batched product D_t A_{t-1} (in a): with p1 = sqrt((|D A| + eps) / (|u| + eps))\
   and p2 = sqrt((|slope_t| + eps) / (|z_t| + eps)), u <- c1 p1 u + c2 p2 z_t,                  \
   A_t = (c1 / p1) D A + diag((c2 / p2) slope_t), and credit_a = c_t A_t (the row the           \
   estimate needs). Sequences in parallel; A_b (n x n) is read twice, from cache the second     \
   time. slope, z, credit: step t's rows, rows of sequence b at b * stride. */                  \
void kf_rtrl_finish##SUFFIX(REAL *a, REAL *u, const REAL *slope, long slope_stride, const REAL *z,\
                           long z_stride, const REAL *c1, const REAL *c2, const REAL *credit,   \
                           long credit_stride, REAL eps, REAL *credit_a, int B, int n, int P,   \
                           int threads) {                                                       \
    _Pragma("omp parallel for schedule(static) num_threads(threads)")                           \
    for (int b = 0; b < B; b++) {                                                               \
        REAL *restrict ab = a + (long)b * n * n;                                                \
        REAL *restrict ub = u + (long)b * P;                                                    \
        const REAL *restrict sb = slope + b * slope_stride;                                     \
        const REAL *restrict zb = z + b * z_stride;                                             \
        const REAL *restrict cb = credit + b * credit_stride;                                   \
        REAL *restrict out = credit_a + (long)b * n;                                            \
        REAL na = 0, nu = 0, ns = 0, nz = 0;                                                    \
        for (long j = 0; j < (long)n * n; j++) na += ab[j] * ab[j];                             \
        _Pragma("GCC ivdep")                                                                    \
        for (int j = 0; j < P; j++) { nu += ub[j] * ub[j]; nz += zb[j] * zb[j]; }               \
        for (int i = 0; i < n; i++) ns += sb[i] * sb[i];                                        \
        const REAL p1 = (REAL)sqrt(((REAL)sqrt(na) + eps) / ((REAL)sqrt(nu) + eps));            \
        const REAL p2 = (REAL)sqrt(((REAL)sqrt(ns) + eps) / ((REAL)sqrt(nz) + eps));            \
        const REAL gu = c1[b] * p1, gz = c2[b] * p2, f = c1[b] / p1, g = c2[b] / p2;            \
        for (int j = 0; j < P; j++) ub[j] = gu * ub[j] + gz * zb[j];                            \
        for (int j = 0; j < n; j++) out[j] = 0;                                                 \
        for (int i = 0; i < n; i++) {                                                           \
            REAL *restrict row = ab + (long)i * n;                                              \
            const REAL ci = cb[i];                                                              \
            for (int j = 0; j < n; j++) {                                                       \
                const REAL v = f * row[j];                                                      \
                row[j] = v;                                                                     \
                out[j] += ci * v;                                                               \
            }                                                                                   \
            row[i] += g * sb[i];                                                                \
            out[i] += ci * g * sb[i];                                                           \
        }                                                                                       \
    }                                                                                           \
}

DEFINE_KERNELS(float, _f32)
DEFINE_KERNELS(double, _f64)
