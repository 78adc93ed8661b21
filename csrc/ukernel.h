/* The micro-kernels: all the architecture-specific code of the convolution engine.
 *
 * As in BLIS, each instruction set supplies a few small register-blocked
 * kernels over operands that the engine (convgemm.c) has packed for them; the
 * engine's loops, packing and threading are written once, in portable C.
 *
 * gemm: the outer-product kernel (forward and input gradient).  A tile of
 *   `mr` rows (output channels) by `nr` columns (output pixels) of
 *       c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + sum_k a[k * mr + i] * b[k * nr + j]
 *   for i < rows (rows <= mr; the packed a holds zeros past them) and j < nr.
 *   a is a packed panel of weights (kc x mr, broadcast one at a time); b the
 *   patches, read as vectors along the pixels: a packed panel (kc x nr,
 *   b_rows NULL), or straight from the staged source, row k at b + b_rows[k]
 *   and its vector j (of `lanes` pixels) at b_vecs[j] from there -- no
 *   packing at all when every vector of a panel lies in one grid row.
 *   Each c element is a sum in k order, so the result does not depend on how
 *   the engine blocks k.
 *
 * wgrad: the weight-gradient kernel, the same outer product turned the other
 *   way: a tile of wg_rows patch rows (broadcast, read straight from the
 *   staged source) by wg_cols output channels (vectors of the gradient,
 *   transposed into a panel `at` of one row per pixel), summed over pixels:
 *       c[i * ldc + k] += sum over the pixels p of `pieces` of patch(row_offset[i], p) * at[p * ldat + k]
 *   in pixel order, in registers, so the result does not depend on how the
 *   engine cuts the pixels into calls.  No lane sums, no transposed patches.
 *   `vectors` (1 .. wg_cols / lanes) sets the tile's width in vectors.
 *
 * pack: packed rows of patches, copied from a staged (zero-padded, phase-split)
 *   copy of the source, so a patch row is a plain offset from the pixel's
 *   position:  for r < rows and each piece k,
 *       dst[r * ld + pieces[k].dst_offset + i] = stage[row_offset[r] + pieces[k].src_offset + i],  i < pieces[k].len.
 *   Per ISA because the pieces are short (one grid row: 8 to 32 pixels in
 *   ResNets, 10 in LeNet): whole vectors plus one masked move.
 *
 * transpose: dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols (the
 *   gradient, channels by pixels, into the weight-gradient kernel's panel);
 *   square blocks of `lanes` in registers where the ISA has the shuffles.
 *
 * stage_row: one row of the engine's staged source: out[j] = line[j * step] for
 *   lo <= j < hi, else 0 (j < pitch); line[j * step] is read only for j in
 *   [lo, hi).  Per ISA: rows are 10 to 60 elements, and stride 2 splits them
 *   into phases (masked moves; a permute for the even elements).
 *
 * fma_peak: `iterations` rounds of 12 independent register-resident fused
 *   multiply-adds, the core's arithmetic peak for this instruction set; returns
 *   the flops done.  *checksum seeds the chains and receives a sum of the
 *   results (so that the compiler can neither merge the chains nor drop them). */
#ifndef CNNFAST_UKERNEL_H
#define CNNFAST_UKERNEL_H

#include <stddef.h>

/* A run of pixels for the packer: `len` elements contiguous in the staged
 * source from src_offset (plus the patch row's offset), going to dst_offset
 * of the packed row. */
typedef struct {
    ptrdiff_t src_offset, len, dst_offset;
} cnnfast_piece;

typedef void (*cnnfast_gemm_f32_fn)(ptrdiff_t kc, const float *a, const float *b, const ptrdiff_t *b_rows,
                                    const ptrdiff_t *b_vecs, float *c, ptrdiff_t ldc, int rows, int accumulate);
typedef void (*cnnfast_wgrad_f32_fn)(const float *stage, const ptrdiff_t *row_offset, int rows,
                                     const cnnfast_piece *pieces, ptrdiff_t count, const float *at,
                                     ptrdiff_t ldat, float *c, ptrdiff_t ldc, int vectors);
typedef void (*cnnfast_gemm_f64_fn)(ptrdiff_t kc, const double *a, const double *b, const ptrdiff_t *b_rows,
                                    const ptrdiff_t *b_vecs, double *c, ptrdiff_t ldc, int rows, int accumulate);
typedef void (*cnnfast_wgrad_f64_fn)(const double *stage, const ptrdiff_t *row_offset, int rows,
                                     const cnnfast_piece *pieces, ptrdiff_t count, const double *at,
                                     ptrdiff_t ldat, double *c, ptrdiff_t ldc, int vectors);
typedef void (*cnnfast_pack_f32_fn)(const float *stage, const ptrdiff_t *row_offset, ptrdiff_t rows,
                                    const cnnfast_piece *pieces, ptrdiff_t count, ptrdiff_t ld, float *dst);
typedef void (*cnnfast_pack_f64_fn)(const double *stage, const ptrdiff_t *row_offset, ptrdiff_t rows,
                                    const cnnfast_piece *pieces, ptrdiff_t count, ptrdiff_t ld, double *dst);
typedef void (*cnnfast_transpose_f32_fn)(const float *src, ptrdiff_t lds, ptrdiff_t rows, ptrdiff_t cols, float *dst,
                                         ptrdiff_t ldd);
typedef void (*cnnfast_transpose_f64_fn)(const double *src, ptrdiff_t lds, ptrdiff_t rows, ptrdiff_t cols,
                                         double *dst, ptrdiff_t ldd);
typedef void (*cnnfast_stage_row_f32_fn)(float *out, const float *line, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t pitch,
                                         ptrdiff_t step);
typedef void (*cnnfast_stage_row_f64_fn)(double *out, const double *line, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t pitch,
                                         ptrdiff_t step);
typedef double (*cnnfast_peak_fn)(ptrdiff_t iterations, double *checksum);

typedef struct {
    int mr, nr;             /* gemm tile */
    int wg_rows, wg_cols;   /* weight-gradient tile: patch rows x output channels */
    int lanes;              /* elements per vector register */
    cnnfast_gemm_f32_fn gemm;
    cnnfast_wgrad_f32_fn wgrad;
    cnnfast_pack_f32_fn pack;
    cnnfast_transpose_f32_fn transpose;
    cnnfast_stage_row_f32_fn stage_row;
    cnnfast_peak_fn fma_peak;
} cnnfast_ukernel_table_f32;

typedef struct {
    int mr, nr, wg_rows, wg_cols, lanes;
    cnnfast_gemm_f64_fn gemm;
    cnnfast_wgrad_f64_fn wgrad;
    cnnfast_pack_f64_fn pack;
    cnnfast_transpose_f64_fn transpose;
    cnnfast_stage_row_f64_fn stage_row;
    cnnfast_peak_fn fma_peak;
} cnnfast_ukernel_table_f64;

/* The kernels of one ISA (an enum of isa.h), or NULL when this build has none
 * for it (the CPU may still lack them: see cnnfast_isa_available). */
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_f32(int isa);
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_f64(int isa);

/* One getter pair per ISA file; each returns NULL when compiled for another
 * architecture. */
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_generic_f32(void);
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_generic_f64(void);
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_avx2_f32(void);
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_avx2_f64(void);
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_avx512_f32(void);
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_avx512_f64(void);
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_neon_f32(void);
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_neon_f64(void);

#if defined(_MSC_VER) && !defined(__clang__)
#define CNNFAST_ALWAYS_INLINE static __forceinline
#else
#define CNNFAST_ALWAYS_INLINE static inline __attribute__((always_inline))
#endif

#endif
