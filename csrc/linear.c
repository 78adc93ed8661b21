#include <string.h>

#include "blas.h"
#include "linear.h"
#include "threads.h"

/* Rows of the matrix written per block -- rows of the batch for y and
 * grad_x, output units for grad_weight and grad_bias -- are chosen from the
 * matrix's row count alone, never from the thread count, so that the GEMM
 * calls and hence the results do not depend on it.  Each block repacks the
 * operand shared by all blocks (W for y, x for grad_weight), so blocks
 * should be large; yet there must be a few of them to share out.  Measured
 * on 2 cores: 16-row blocks are 25% slower on one thread than 64-row blocks
 * for a 1024 x 256 x 256 product, while a batch of 64 needs blocks of at
 * most 32 rows to keep two threads busy.  Hence: about LINEAR_TARGET_BLOCKS
 * blocks, a multiple of 16 rows each (whole GEMM micro-tiles), between
 * 16 and LINEAR_MAX_BLOCK_ROWS rows. */
#define LINEAR_TARGET_BLOCKS 8
#define LINEAR_MIN_BLOCK_ROWS 16
#define LINEAR_MAX_BLOCK_ROWS 128

/* Least work, in multiply-adds, worth a thread of its own (see
 * cnnfast_threads_for): waking the OpenMP team costs a few microseconds, more
 * than a second thread saves on a small product.  Measured on 2 cores,
 * float32: two threads break even at about 150k multiply-adds for the
 * forward and 400k for the backward (which counts grad_x and grad_weight),
 * i.e. 10-15 us on one thread; within a factor 2 of either the two differ
 * by under 10%, about a microsecond.  Half of the 250k between them.  (-D
 * overrides it, for measuring.) */
#ifndef LINEAR_THREAD_WORK
#define LINEAR_THREAD_WORK 125000
#endif

/* Rows per block for a matrix of `rows` rows (see above). */
static ptrdiff_t linear_block_rows(ptrdiff_t rows)
{
    ptrdiff_t block = (rows + LINEAR_TARGET_BLOCKS - 1) / LINEAR_TARGET_BLOCKS;
    block = (block + LINEAR_MIN_BLOCK_ROWS - 1) / LINEAR_MIN_BLOCK_ROWS * LINEAR_MIN_BLOCK_ROWS;
    if (block < LINEAR_MIN_BLOCK_ROWS) block = LINEAR_MIN_BLOCK_ROWS;
    return block < LINEAR_MAX_BLOCK_ROWS ? block : LINEAR_MAX_BLOCK_ROWS;
}

#define REAL float
#define FN(name) name##_f32
#define GEMM cnnfast_gemm_f32
#include "linear_impl.inc"
#undef REAL
#undef FN
#undef GEMM

#define REAL double
#define FN(name) name##_f64
#define GEMM cnnfast_gemm_f64
#include "linear_impl.inc"
#undef REAL
#undef FN
#undef GEMM
