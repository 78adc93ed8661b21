/* im2col / col2im: the patch matrix of one image, row tile by row tile.
 *
 * For one image and a block of `channels` input channels, the patch matrix has
 * one row per (channel, kernel row, kernel column) and one column per output
 * pixel.  A row tile [row_begin, row_end) of output rows gives the columns
 * (row - row_begin) * out_width + out_col, so the matrix is
 *     (channels * kernel_height * kernel_width) x ((row_end - row_begin) * out_width)
 * and a convolution of the tile is one GEMM with the weights.  Rows of col lie
 * ld_col elements apart (ld_col >= the tile's columns), so the patch matrices
 * of several images can sit side by side and share one GEMM.  Positions that
 * fall in the zero padding read as 0 (im2col) and are dropped (col2im). */
#ifndef CNNFAST_IM2COL_H
#define CNNFAST_IM2COL_H

#include <stddef.h>

/* The shape of a 2-D convolution, NCHW, weights (out, in / groups, kh, kw).
 * ptrdiff_t is the C type behind Py_ssize_t. */
typedef struct {
    ptrdiff_t batch;
    ptrdiff_t in_channels, in_height, in_width;
    ptrdiff_t out_channels, out_height, out_width;
    ptrdiff_t kernel_height, kernel_width;
    ptrdiff_t stride_height, stride_width;
    ptrdiff_t pad_height, pad_width;
    ptrdiff_t dilation_height, dilation_width;
    ptrdiff_t groups;
} conv2d_geometry;

/* Output columns [*lo, *hi) whose input column out_col * stride + offset lies
 * inside [0, in_width); the others read the zero padding.  Shared by every
 * kernel that walks a convolution row by row. */
static inline void conv2d_valid_columns(ptrdiff_t offset, ptrdiff_t stride, ptrdiff_t in_width,
                                        ptrdiff_t out_width, ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    ptrdiff_t last = offset > in_width - 1 ? 0 : (in_width - 1 - offset) / stride + 1;
    if (first > out_width) first = out_width;
    if (last > out_width) last = out_width;
    if (last < first) last = first;
    *lo = first;
    *hi = last;
}

/* col = patches of image (channels x in_height x in_width) for output rows
 * [row_begin, row_end). */
void im2col_f32(const conv2d_geometry *g, ptrdiff_t channels, const float *image,
                ptrdiff_t row_begin, ptrdiff_t row_end, float *col, ptrdiff_t ld_col);
void im2col_f64(const conv2d_geometry *g, ptrdiff_t channels, const double *image,
                ptrdiff_t row_begin, ptrdiff_t row_end, double *col, ptrdiff_t ld_col);

/* image += the patch matrix folded back (adjoint of im2col). */
void col2im_f32(const conv2d_geometry *g, ptrdiff_t channels, const float *col,
                ptrdiff_t row_begin, ptrdiff_t row_end, float *image, ptrdiff_t ld_col);
void col2im_f64(const conv2d_geometry *g, ptrdiff_t channels, const double *col,
                ptrdiff_t row_begin, ptrdiff_t row_end, double *image, ptrdiff_t ld_col);

#endif
