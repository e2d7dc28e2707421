/* The exact engine's loops in C (simulator/compiled.py): the backward recurrence one depth at a
 * time, and one phase's product of continuation probabilities.
 *
 * numpy cannot run 10^6 steps of a few dozen operations each, so simulator/exact.py composes
 * blocks of depths instead (P^2 (P + Q) products per depth). This is the plain loop: one product
 * per non-zero entry of A and column. It is built with libet when a C compiler is there
 * (pyproject.toml: an optional extension) and read through the buffer protocol, so it needs
 * neither numpy's headers nor anything at run time.
 *
 *   backward_sparse(rows, cols, cols_last, vals, b, x_end, last, want, out)
 *
 * solves x_d = A_d x_{d+1} + b_d for d = h-1 .. 0 from x_h = x_end, where
 * A_d[rows[e], cols[e]] = vals[d, e, u] for class u (cols_last at d = h-1 when last), and writes
 * x at the depths want (ascending, in [0, h]) into out[i]. Shapes: rows, cols, cols_last (nnz,)
 * int64; vals (h, nnz, U), b (h, Q, P, U), x_end (U, P, Q), out (len(want), U, P, Q) float64,
 * all float64 and C-contiguous but vals and b, which are read through their strides (the
 * classes of one number adjacent). Laid out depth first, a depth's coefficients and constants
 * are one contiguous block, so a pass over the depths reads each array once, in order: laid out
 * by entry instead, each depth reads one number from each of thousands of pages (a chain of
 * thousands of phases has thousands of entries), which the TLB cannot hold (4.4 ns an entry and
 * class at 3,200 phases against 1.5 with the pages held). A chain of a few entries is cheaper
 * to lay out by entry (each weight written in one contiguous pass), and the few pages a depth
 * reads are held; simulator/exact.py chooses. The loop runs over tiles of TILE classes (the adjacent
 * numbers of one entry), then the depths, and updates every column of a row at once, so each
 * coefficient is read once a depth and class, not once a column. Each row's sum is b first,
 * then its entries in order, whatever the tiling. Every index
 * is checked before the loop; the loop runs without the GIL.
 *
 *   product(x, acc[, split])
 *
 * multiplies acc by the product of each row of x, compensated: acc (2, U) holds each class's
 * running product as hi + lo; x is (U, h), a row of factors per class, or (1, h), one row for
 * every class. One phase's P(harm) is such a product of 10^6 factors or more. np.prod multiplies
 * them one after another: it waits on each multiply, and rounds once per factor. Here sixteen
 * lanes each keep their product and its exact rounding error (an FMA gives a * b - fl(a * b)
 * exactly; Dekker's splitting does where the CPU has no FMA), so the lanes run side by side and
 * hi ends as the product of all the factors correctly rounded, whatever the order (off by an ulp
 * at worst: the error terms' own roundings are of order n u^2); lo is the rest, below half an
 * ulp. Probabilities only: factors in [0, 1], so nothing overflows; a
 * product that underflows is 0 as with np.prod.
 *
 *   cumprod(x, out)
 *
 * writes the cumulative products of x's columns down its rows into out (both (h, U)):
 * out[d, u] = out[d - 1, u] * x[d, u], np.cumprod(x, axis=0) to the bit, in the same order. numpy's
 * accumulate takes 3 ns a number, as does this loop written the same way: each partial product is
 * stored and loaded again for the next. One column keeps it in a register instead, bound only by
 * the multiply's latency; several columns interleave their chains.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    int held;
} Buf;

/* kind 'f' float64 or 'i' int64, C-contiguous; 's' float64 whose last axis is contiguous and
 * whose other strides are any non-negative multiples of 8 bytes (read through strided()) */
static int take(PyObject *obj, Buf *buf, const char *name, int ndim, char kind, int writable)
{
    int flags = (kind == 's' ? PyBUF_STRIDES : PyBUF_C_CONTIGUOUS) | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0)
        return -1;
    buf->held = 1;
    const char *f = buf->view.format ? buf->view.format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    int ok = buf->view.ndim == ndim && buf->view.itemsize == 8 && strlen(f) == 1 &&
             (kind == 'i' ? (f[0] == 'l' || f[0] == 'q') : f[0] == 'd');
    if (ok && kind == 's') {
        const Py_ssize_t *st = buf->view.strides;
        ok = st[ndim - 1] == 8 || buf->view.shape[ndim - 1] <= 1;
        for (int i = 0; ok && i < ndim - 1; i++)
            ok = st[i] >= 0 && st[i] % 8 == 0;
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-d %s array%s", name, ndim, kind == 'i' ? "int64" : "float64",
                     kind == 's' ? " whose last axis is contiguous" : ", C-contiguous");
        return -1;
    }
    return 0;
}

/* a strided buffer's stride along axis i, in float64s */
static Py_ssize_t strided(const Buf *buf, int i) { return buf->view.strides[i] / 8; }

/* Release the buffers take() got (of n; those it did not get are skipped), and return result. */
static PyObject *release(Buf *const *bufs, int n, PyObject *result)
{
    for (int i = 0; i < n; i++)
        if (bufs[i]->held)
            PyBuffer_Release(&bufs[i]->view);
    return result;
}

/* classes solved side by side by backward_sparse: a cache line of float64 */
#define TILE 8

static PyObject *backward_sparse(PyObject *self, PyObject *args)
{
    PyObject *o[8];
    int last;
    if (!PyArg_ParseTuple(args, "OOOOOOpOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &last, &o[6], &o[7]))
        return NULL;
    Buf rows = {0}, cols = {0}, cols_last = {0}, vals = {0}, b = {0}, x_end = {0}, want = {0}, out = {0};
    Buf *all[8] = {&rows, &cols, &cols_last, &vals, &b, &x_end, &want, &out};
    PyObject *result = NULL;
    double *cur = NULL, *nxt = NULL;
    if (take(o[0], &rows, "rows", 1, 'i', 0) < 0 || take(o[1], &cols, "cols", 1, 'i', 0) < 0 ||
        take(o[2], &cols_last, "cols_last", 1, 'i', 0) < 0 || take(o[3], &vals, "vals", 3, 's', 0) < 0 ||
        take(o[4], &b, "b", 4, 's', 0) < 0 || take(o[5], &x_end, "x_end", 3, 'f', 0) < 0 ||
        take(o[6], &want, "want", 1, 'i', 0) < 0 || take(o[7], &out, "out", 4, 'f', 1) < 0)
        goto done;

    const Py_ssize_t h = vals.view.shape[0], nnz = vals.view.shape[1], U = vals.view.shape[2];
    const Py_ssize_t Q = b.view.shape[1], P = b.view.shape[2], W = want.view.shape[0];
    const Py_ssize_t *bs = b.view.shape, *xs = x_end.view.shape, *os = out.view.shape;
    if (rows.view.shape[0] != nnz || cols.view.shape[0] != nnz || cols_last.view.shape[0] != nnz ||
        bs[0] != h || bs[3] != U || xs[0] != U || xs[1] != P || xs[2] != Q || os[0] != W || os[1] != U ||
        os[2] != P || os[3] != Q) {
        PyErr_SetString(PyExc_ValueError, "backward_sparse: the shapes of the arrays do not fit together");
        goto done;
    }
    const int64_t *r = rows.view.buf, *c = cols.view.buf, *cl = cols_last.view.buf, *wd = want.view.buf;
    for (Py_ssize_t e = 0; e < nnz; e++) {
        if (r[e] < 0 || r[e] >= P || c[e] < 0 || c[e] >= P || cl[e] < 0 || cl[e] >= P) {
            PyErr_SetString(PyExc_ValueError, "backward_sparse: an entry's row or column is outside the states");
            goto done;
        }
    }
    for (Py_ssize_t k = 0; k < W; k++) {
        if (wd[k] < 0 || wd[k] > h || (k && wd[k] <= wd[k - 1])) {
            PyErr_SetString(PyExc_ValueError, "backward_sparse: want must be ascending depths in [0, h]");
            goto done;
        }
    }
    /* x of a tile of TILE classes (one cache line of an entry's coefficients), each as P rows
     * of Q columns */
    const Py_ssize_t PQ = P * Q;
    const Py_ssize_t T = U < TILE ? U : TILE;
    cur = malloc(sizeof(double) * (PQ * T ? PQ * T : 1));
    nxt = malloc(sizeof(double) * (PQ * T ? PQ * T : 1));
    if (!cur || !nxt) {
        PyErr_NoMemory();
        goto done;
    }
    const double *v = vals.view.buf, *bb = b.view.buf, *x0 = x_end.view.buf;
    const Py_ssize_t vd_ = strided(&vals, 0), ve_ = strided(&vals, 1);
    const Py_ssize_t bd_ = strided(&b, 0), bq_ = strided(&b, 1), bp_ = strided(&b, 2);
    double *ob = out.view.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t u0 = 0; u0 < U; u0 += T) {
        const Py_ssize_t n = U - u0 < T ? U - u0 : T; /* classes u0 .. u0 + n - 1; x of u0 + j at cur + j * PQ */
        memcpy(cur, x0 + u0 * PQ, sizeof(double) * PQ * n);
        Py_ssize_t k = W - 1;
        for (; k >= 0 && wd[k] == h; k--)
            memcpy(ob + (k * U + u0) * PQ, cur, sizeof(double) * PQ * n);
        for (Py_ssize_t d = h - 1; d >= 0; d--) {
            const double *bd = bb + d * bd_ + u0; /* column q of row p, class u0 + j at bd[q * bq_ + p * bp_ + j] */
            const double *vd = v + d * vd_ + u0; /* entry e, class u0 + j at vd[e * ve_ + j] */
            const int64_t *cd = (last && d == h - 1) ? cl : c;
            for (Py_ssize_t q = 0; q < Q; q++)
                for (Py_ssize_t p = 0; p < P; p++) {
                    const double *src = bd + q * bq_ + p * bp_;
                    for (Py_ssize_t j = 0; j < n; j++)
                        nxt[j * PQ + p * Q + q] = src[j];
                }
            for (Py_ssize_t e = 0; e < nnz; e++) {
                const double *a = vd + e * ve_;
                const double *src = cur + cd[e] * Q;
                double *dst = nxt + r[e] * Q;
                for (Py_ssize_t j = 0; j < n; j++) {
                    const double aj = a[j];
                    const double *sj = src + j * PQ;
                    double *dj = dst + j * PQ;
                    for (Py_ssize_t q = 0; q < Q; q++)
                        dj[q] += aj * sj[q];
                }
            }
            double *t = cur;
            cur = nxt;
            nxt = t;
            for (; k >= 0 && wd[k] == d; k--)
                memcpy(ob + (k * U + u0) * PQ, cur, sizeof(double) * PQ * n);
        }
    }
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    result = Py_None;
done:
    free(cur);
    free(nxt);
    return release(all, 8, result);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LANES_FMA __attribute__((target("avx2,fma")))
#else
#define LANES_FMA
#endif

/* a * b - fl(a * b), exactly, by Dekker's splitting: for CPUs without an FMA */
static inline double split_error(double a, double b, double q)
{
    const double S = 134217729.0; /* 2^27 + 1 */
    double ca = S * a, ah = ca - (ca - a), al = a - ah;
    double cb = S * b, bh = cb - (cb - b), bl = b - bh;
    return ((ah * bh - q) + ah * bl + al * bh) + al * bl;
}

#define LANES 16

/* The product of x[0 .. n - 1] as *hi + *lo (unnormalised), from sixteen compensated lanes.
 * ERROR(a, b, q) is a * b - q exactly; MULADD(a, b, c) is a * b + c. gcc (12) vectorises the lanes
 * with MULADD an explicit fma, not with a * b + c contracted, and not when the loop runs on a
 * pointer instead of the index. */
#define LANE_PRODUCT(NAME, ATTR, ERROR, MULADD)                                                       \
    ATTR static void NAME(const double *x, Py_ssize_t n, double *hi, double *lo)                  \
    {                                                                                          \
        Py_ssize_t i = 0;                                                                      \
        double P = 1.0, E = 0.0;                                                               \
        if (n >= LANES) { /* fewer factors: lanes of 1 + 0 would merge to exactly 1 + 0 */     \
            double p[LANES], e[LANES];                                                         \
            for (int l = 0; l < LANES; l++) {                                                  \
                p[l] = 1.0;                                                                    \
                e[l] = 0.0;                                                                    \
            }                                                                                  \
            for (; i + LANES <= n; i += LANES) {                                               \
                for (int l = 0; l < LANES; l++) {                                              \
                    double b = x[i + l], q = p[l] * b;                                         \
                    e[l] = MULADD(e[l], b, ERROR(p[l], b, q));                                 \
                    p[l] = q;                                                                  \
                }                                                                              \
            }                                                                                  \
            for (int l = 0; l < LANES; l++) { /* (P + E)(p + e) ~ P p + (E p + P e) */         \
                double q = P * p[l];                                                           \
                E = E * p[l] + P * e[l] + ERROR(P, p[l], q);                                   \
                P = q;                                                                         \
            }                                                                                  \
        }                                                                                      \
        for (; i < n; i++) {                                                                   \
            double b = x[i], q = P * b;                                                        \
            E = E * b + ERROR(P, b, q);                                                        \
            P = q;                                                                             \
        }                                                                                      \
        *hi = P;                                                                               \
        *lo = E;                                                                               \
    }

#define FMA_ERROR(a, b, q) fma((a), (b), -(q))
#define PLAIN_MULADD(a, b, c) ((a) * (b) + (c))
LANE_PRODUCT(lanes_fma, LANES_FMA, FMA_ERROR, fma)
LANE_PRODUCT(lanes_split, , split_error, PLAIN_MULADD)

static int has_fma(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
#else
    return 1; /* fma() is the hardware's on other 64-bit targets (aarch64), and exact everywhere */
#endif
}

/* (hi + lo) (ph + pl), renormalised so that hi is the correctly rounded value */
static void times(double *hi, double *lo, double ph, double pl, int fma_ok)
{
    double q = *hi * ph;
    double err = fma_ok ? fma(*hi, ph, -q) : split_error(*hi, ph, q);
    double e = err + (*hi * pl + *lo * ph);
    double s = q + e;
    *lo = e - (s - q);
    *hi = s;
}

static PyObject *product(PyObject *self, PyObject *args)
{
    PyObject *ox, *oacc;
    int split = 0; /* Dekker's splitting even where there is an FMA: for the tests */
    if (!PyArg_ParseTuple(args, "OO|p", &ox, &oacc, &split))
        return NULL;
    Buf x = {0}, acc = {0};
    PyObject *result = NULL;
    if (take(ox, &x, "x", 2, 'f', 0) < 0 || take(oacc, &acc, "acc", 2, 'f', 1) < 0)
        goto done;
    const Py_ssize_t k = x.view.shape[0], h = x.view.shape[1], U = acc.view.shape[1];
    if (acc.view.shape[0] != 2 || (k != U && k != 1)) {
        PyErr_SetString(PyExc_ValueError, "product: x must be (U, h) or (1, h) and acc (2, U)");
        goto done;
    }
    const double *xb = x.view.buf;
    double *hi = acc.view.buf, *lo = hi + U;
    const int fma_ok = !split && has_fma();
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t c = 0; c < k; c++) {
        double ph, pl;
        if (fma_ok)
            lanes_fma(xb + c * h, h, &ph, &pl);
        else
            lanes_split(xb + c * h, h, &ph, &pl);
        for (Py_ssize_t u = (k == 1 ? 0 : c); u < (k == 1 ? U : c + 1); u++)
            times(hi + u, lo + u, ph, pl, fma_ok);
    }
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    result = Py_None;
done:
    return release((Buf *[]){&x, &acc}, 2, result);
}

static PyObject *cumprod(PyObject *self, PyObject *args)
{
    PyObject *ox, *oout;
    if (!PyArg_ParseTuple(args, "OO", &ox, &oout))
        return NULL;
    Buf x = {0}, out = {0};
    PyObject *result = NULL;
    if (take(ox, &x, "x", 2, 'f', 0) < 0 || take(oout, &out, "out", 2, 'f', 1) < 0)
        goto done;
    const Py_ssize_t h = x.view.shape[0], U = x.view.shape[1];
    if (out.view.shape[0] != h || out.view.shape[1] != U) {
        PyErr_SetString(PyExc_ValueError, "cumprod: out must have x's shape");
        goto done;
    }
    if (x.view.buf == out.view.buf && h) {
        PyErr_SetString(PyExc_ValueError, "cumprod: out must not be x");
        goto done;
    }
    const double *xb = x.view.buf;
    double *ob = out.view.buf;
    Py_BEGIN_ALLOW_THREADS
    if (U == 1) { /* the running product in a register, not reloaded from out */
        double run = 1.0;
        for (Py_ssize_t d = 0; d < h; d++)
            ob[d] = d ? (run *= xb[d]) : (run = xb[0]);
    } else if (h) {
        for (Py_ssize_t u = 0; u < U; u++)
            ob[u] = xb[u];
        for (Py_ssize_t d = 1; d < h; d++)
            for (Py_ssize_t u = 0; u < U; u++)
                ob[d * U + u] = ob[(d - 1) * U + u] * xb[d * U + u];
    }
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    result = Py_None;
done:
    return release((Buf *[]){&x, &out}, 2, result);
}

static PyMethodDef methods[] = {
    {"backward_sparse", backward_sparse, METH_VARARGS,
     "backward_sparse(rows, cols, cols_last, vals, b, x_end, last, want, out): the backward recurrence "
     "x_d = A_d x_{d+1} + b_d with A in sparse form, written into out (see simulator/_recurrence.c)."},
    {"product", product, METH_VARARGS,
     "product(x, acc, split=False): acc (2, U), a running product hi + lo per class, times the product of "
     "each row of x ((U, h), or (1, h) for every class), compensated (see simulator/_recurrence.c); split: "
     "Dekker's splitting even where the CPU has an FMA."},
    {"cumprod", cumprod, METH_VARARGS,
     "cumprod(x, out): np.cumprod(x, axis=0) of a (h, U) array into out, to the bit (see simulator/_recurrence.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_recurrence", "The exact engine's compiled recurrence.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__recurrence(void) { return PyModule_Create(&module); }
