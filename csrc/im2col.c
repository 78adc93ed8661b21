#include "im2col.h"

/* The kernels are written once in im2col_impl.inc over REAL and instantiated
 * for float and double. */
#define REAL float
#define FN(name) name##_f32
#include "im2col_impl.inc"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "im2col_impl.inc"
#undef REAL
#undef FN
