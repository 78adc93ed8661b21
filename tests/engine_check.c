/* The convolution engine on every ISA this machine runs, against a naive
 * convolution, with no Python: tests/test_isa.py builds it natively and, when
 * an AArch64 cross compiler and qemu-aarch64 are installed, for AArch64 (the
 * NEON micro-kernels), and runs it.  Also usable by hand:
 *
 *     cc -std=c99 -O2 -fopenmp -Icsrc tests/engine_check.c csrc/\*.c -lm && ./a.out
 *
 * For each available ISA and random geometries (strides, padding, dilation,
 * groups, batch), float32 and float64: forward, input and weight gradients
 * through conv2d_forward / conv2d_backward with the engine forced, compared
 * with a direct loop summed in long double.  Prints one line per ISA and
 * exits with status 1 on any mismatch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"
#include "conv2d.h"
#include "isa.h"

/* The engine must never fall back to BLAS here. */
static void no_sgemm(int a, int b, int c, int d, int e, int f, float g, const float *h, int i, const float *j,
                     int k, float l, float *m, int n)
{
    (void)a, (void)b, (void)c, (void)d, (void)e, (void)f, (void)g, (void)h, (void)i, (void)j, (void)k, (void)l,
        (void)m, (void)n;
    fprintf(stderr, "engine_check: BLAS called\n");
    exit(2);
}

static void no_dgemm(int a, int b, int c, int d, int e, int f, double g, const double *h, int i, const double *j,
                     int k, double l, double *m, int n)
{
    (void)a, (void)b, (void)c, (void)d, (void)e, (void)f, (void)g, (void)h, (void)i, (void)j, (void)k, (void)l,
        (void)m, (void)n;
    fprintf(stderr, "engine_check: BLAS called\n");
    exit(2);
}

static int one_blas_thread(void) { return 1; }
static void set_blas_threads(int threads) { (void)threads; }

static unsigned long long state = 88172645463325252ull;
static int uniform(int lo, int hi) /* [lo, hi] */
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return lo + (int)(state % (unsigned long long)(hi - lo + 1));
}
static double value(void) { return uniform(-1000, 1000) / 500.0; }

/* y, grad_x, grad_weight of the direct definition, in long double. */
static void naive(const conv2d_geometry *g, const double *x, const double *w, const double *gy, double *y,
                  double *gx, double *gw)
{
    const ptrdiff_t gi = g->in_channels / g->groups, go = g->out_channels / g->groups;
    const ptrdiff_t kh = g->kernel_height, kw = g->kernel_width;
    for (ptrdiff_t i = 0; i < g->batch * g->in_channels * g->in_height * g->in_width; ++i) gx[i] = 0;
    for (ptrdiff_t i = 0; i < g->out_channels * gi * kh * kw; ++i) gw[i] = 0;
    for (ptrdiff_t n = 0; n < g->batch; ++n)
        for (ptrdiff_t k = 0; k < g->out_channels; ++k)
            for (ptrdiff_t oh = 0; oh < g->out_height; ++oh)
                for (ptrdiff_t ow = 0; ow < g->out_width; ++ow) {
                    const ptrdiff_t out = ((n * g->out_channels + k) * g->out_height + oh) * g->out_width + ow;
                    long double sum = 0;
                    for (ptrdiff_t c = 0; c < gi; ++c)
                        for (ptrdiff_t ki = 0; ki < kh; ++ki)
                            for (ptrdiff_t kj = 0; kj < kw; ++kj) {
                                const ptrdiff_t ih = oh * g->stride_height - g->pad_height + ki * g->dilation_height;
                                const ptrdiff_t iw = ow * g->stride_width - g->pad_width + kj * g->dilation_width;
                                if (ih < 0 || ih >= g->in_height || iw < 0 || iw >= g->in_width) continue;
                                const ptrdiff_t channel = k / go * gi + c;
                                const ptrdiff_t in = ((n * g->in_channels + channel) * g->in_height + ih) * g->in_width + iw;
                                const ptrdiff_t wi = ((k * gi + c) * kh + ki) * kw + kj;
                                sum += (long double)x[in] * w[wi];
                                gx[in] += gy[out] * w[wi];
                                gw[wi] += gy[out] * x[in];
                            }
                    y[out] = (double)sum;
                }
}

static double max_error(const double *want, const float *got32, const double *got64, ptrdiff_t n)
{
    double scale = 1, error = 0;
    for (ptrdiff_t i = 0; i < n; ++i) scale = fmax(scale, fabs(want[i]));
    for (ptrdiff_t i = 0; i < n; ++i) error = fmax(error, fabs(want[i] - (got32 ? got32[i] : got64[i])));
    return error / scale;
}

int main(void)
{
    int failures = 0;
    cnnfast_blas_register(no_sgemm, no_dgemm, one_blas_thread, set_blas_threads);
    conv2d_set_path(CONV2D_PATH_ENGINE);
    for (int isa = 0; isa < CNNFAST_ISA_COUNT; ++isa) {
        if (!cnnfast_isa_available(isa)) continue;
        cnnfast_set_isa(isa);
        double worst32 = 0, worst64 = 0;
        for (int trial = 0; trial < 60; ++trial) {
            conv2d_geometry g;
            g.groups = uniform(1, 3);
            g.batch = uniform(1, 4);
            g.in_channels = g.groups * uniform(1, 5);
            g.out_channels = g.groups * uniform(1, 20);
            g.kernel_height = uniform(1, 4), g.kernel_width = uniform(1, 4);
            g.stride_height = uniform(1, 3), g.stride_width = uniform(1, 3);
            g.dilation_height = uniform(1, 2), g.dilation_width = uniform(1, 2);
            g.pad_height = uniform(0, 2), g.pad_width = uniform(0, 2);
            g.in_height = uniform(1, 20), g.in_width = uniform(1, 40);
            const ptrdiff_t span_h = g.dilation_height * (g.kernel_height - 1) + 1;
            const ptrdiff_t span_w = g.dilation_width * (g.kernel_width - 1) + 1;
            if (g.in_height + 2 * g.pad_height < span_h || g.in_width + 2 * g.pad_width < span_w) continue;
            if (g.in_channels == g.groups && g.groups > 1) continue; /* depthwise: not the engine */
            g.out_height = (g.in_height + 2 * g.pad_height - span_h) / g.stride_height + 1;
            g.out_width = (g.in_width + 2 * g.pad_width - span_w) / g.stride_width + 1;
            const ptrdiff_t nx = g.batch * g.in_channels * g.in_height * g.in_width;
            const ptrdiff_t nw = g.out_channels * (g.in_channels / g.groups) * g.kernel_height * g.kernel_width;
            const ptrdiff_t ny = g.batch * g.out_channels * g.out_height * g.out_width;
            double *x = malloc(sizeof(double) * (size_t)nx), *w = malloc(sizeof(double) * (size_t)nw);
            double *gy = malloc(sizeof(double) * (size_t)ny), *y = malloc(sizeof(double) * (size_t)ny);
            double *gx = malloc(sizeof(double) * (size_t)nx), *gw = malloc(sizeof(double) * (size_t)nw);
            double *y64 = malloc(sizeof(double) * (size_t)ny), *gx64 = malloc(sizeof(double) * (size_t)nx);
            double *gw64 = malloc(sizeof(double) * (size_t)nw);
            float *x32 = malloc(sizeof(float) * (size_t)nx), *w32 = malloc(sizeof(float) * (size_t)nw);
            float *gy32 = malloc(sizeof(float) * (size_t)ny), *y32 = malloc(sizeof(float) * (size_t)ny);
            float *gx32 = malloc(sizeof(float) * (size_t)nx), *gw32 = malloc(sizeof(float) * (size_t)nw);
            for (ptrdiff_t i = 0; i < nx; ++i) x32[i] = (float)(x[i] = value());
            for (ptrdiff_t i = 0; i < nw; ++i) w32[i] = (float)(w[i] = value());
            for (ptrdiff_t i = 0; i < ny; ++i) gy32[i] = (float)(gy[i] = value());
            naive(&g, x, w, gy, y, gx, gw);
            int status = conv2d_forward_f64(&g, x, w, NULL, y64) | conv2d_backward_f64(&g, gy, x, w, gx64, gw64);
            status |= conv2d_forward_f32(&g, x32, w32, NULL, y32) | conv2d_backward_f32(&g, gy32, x32, w32, gx32, gw32);
            const double e64 = fmax(max_error(y, NULL, y64, ny), fmax(max_error(gx, NULL, gx64, nx), max_error(gw, NULL, gw64, nw)));
            const double e32 = fmax(max_error(y, y32, NULL, ny), fmax(max_error(gx, gx32, NULL, nx), max_error(gw, gw32, NULL, nw)));
            worst32 = fmax(worst32, e32);
            worst64 = fmax(worst64, e64);
            if (status != 0 || !(e32 <= 1e-4) || !(e64 <= 1e-10)) {
                ++failures;
                printf("FAIL %s: N%td C%td %tdx%td K%td k%tdx%td s%td,%td p%td,%td d%td,%td g%td: error f32 %.3g f64 %.3g status %d\n",
                       cnnfast_isa_name(isa), g.batch, g.in_channels, g.in_height, g.in_width, g.out_channels,
                       g.kernel_height, g.kernel_width, g.stride_height, g.stride_width, g.pad_height, g.pad_width,
                       g.dilation_height, g.dilation_width, g.groups, e32, e64, status);
            }
            free(x), free(w), free(gy), free(y), free(gx), free(gw), free(y64), free(gx64), free(gw64);
            free(x32), free(w32), free(gy32), free(y32), free(gx32), free(gw32);
        }
        printf("%s: worst relative error float32 %.2g, float64 %.2g\n", cnnfast_isa_name(isa), worst32, worst64);
    }
    return failures ? 1 : 0;
}
