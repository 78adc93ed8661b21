#include "im2col.h"

/* The kernels are written once in im2col_impl.inc over REAL and instantiated
 * for float and double. */
#define CNNFAST_TEMPLATE "im2col_impl.inc"
#include "for_each_real.inc"
