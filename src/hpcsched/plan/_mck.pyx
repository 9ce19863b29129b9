# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled forward pass of the multiple-choice knapsack DP (see :mod:`hpcsched.plan.knapsack`).

The recurrence is ``f_i[b] = max_j f_{i-1}[b - w_ij] + u_ij`` over the options ``j`` of output
``i`` (weights shifted so that each output's cheapest option weighs 0), evaluated only on the
budgets ``lo[i]..hi[i]`` that can still matter, with the option chosen at each budget kept as one
byte. It is the same arithmetic, in the same order, as the numpy fallback ``_forward_numpy``: one
IEEE addition and a strict ``>`` per option, so both pick the same options bit for bit
(``tests/test_plan_knapsack.py`` pins them together).

The C loop is written inline so that GCC can build it for AVX-512, AVX2 and plain x86-64 at once
(``target_clones``: the loader picks the widest the CPU has); 1,000 outputs × 9 options × 44,000
budget units is ~0.4 G max-plus steps, which only fits the 0.1 s target with wide vectors.
"""

from libc.stdint cimport int64_t, uint8_t

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define MCK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define MCK_CLONES
    #endif
    #if defined(__GNUC__)
    #define MCK_RESTRICT __restrict__
    #else
    #define MCK_RESTRICT
    #endif

    MCK_CLONES
    static void mck_forward(int64_t n, const int64_t *off, const int64_t *w, const double *u,
                            const int64_t *lo, const int64_t *hi, const int64_t *coff,
                            double *old, double *nw, uint8_t *choice)
    {
        int64_t hi_prev = 0, i, k, b;
        old[0] = 0.0;  /* before any output: utility 0 at every budget (extended below) */
        for (i = 0; i < n; i++) {
            const int64_t L = lo[i], H = hi[i], k0 = off[i], k1 = off[i + 1];
            const double top = old[hi_prev];
            /* the rows and the choices never overlap: no aliasing checks in the loops */
            double *MCK_RESTRICT f = old, *MCK_RESTRICT g = nw;
            uint8_t *MCK_RESTRICT ch = choice + coff[i];
            for (b = hi_prev + 1; b <= H; b++) f[b] = top;  /* f is flat past its reach */
            {
                const double u0 = u[k0];  /* the cheapest option weighs 0 after the shift */
                for (b = L; b <= H; b++) { g[b] = f[b] + u0; ch[b - L] = 0; }
            }
            for (k = k0 + 1; k < k1; k++) {
                const int64_t wj = w[k];
                const double uj = u[k];
                const uint8_t j = (uint8_t)(k - k0);
                const int64_t start = wj > L ? wj : L;
                for (b = start; b <= H; b++) {
                    const double c = f[b - wj] + uj;
                    const int better = c > g[b];
                    g[b] = better ? c : g[b];
                    ch[b - L] = better ? j : ch[b - L];
                }
            }
            { double *t = old; old = nw; nw = t; }
            hi_prev = H;
        }
    }
    """
    void mck_forward(int64_t n, const int64_t *off, const int64_t *w, const double *u,
                     const int64_t *lo, const int64_t *hi, const int64_t *coff,
                     double *old, double *nw, uint8_t *choice) nogil


def forward(
    const int64_t[::1] offsets,
    const int64_t[::1] weight,
    const double[::1] utility,
    const int64_t[::1] lo,
    const int64_t[::1] hi,
    const int64_t[::1] coff,
    int64_t capacity,
):
    """Run the DP; return ``(choice, last)``: the chosen option per output and budget (output
    ``i`` at budget ``b`` is ``choice[coff[i] + b - lo[i]]``) and ``f_n`` on ``lo[-1]..hi[-1]``."""
    cdef int64_t n = offsets.shape[0] - 1
    a = np.zeros(capacity + 1, dtype=np.float64)
    c = np.zeros(capacity + 1, dtype=np.float64)
    choice = np.empty(coff[n], dtype=np.uint8)
    cdef double[::1] av = a
    cdef double[::1] cv = c
    cdef uint8_t[::1] chv = choice
    cdef uint8_t dummy = 0
    cdef uint8_t *chp = &chv[0] if coff[n] > 0 else &dummy
    with nogil:
        mck_forward(n, &offsets[0], &weight[0], &utility[0], &lo[0], &hi[0], &coff[0],
                    &av[0], &cv[0], chp)
    # the rows alternate between the two buffers: after n outputs the last is in a if n is even
    last = a if n % 2 == 0 else c
    return choice, np.array(last[lo[n - 1]:hi[n - 1] + 1])
