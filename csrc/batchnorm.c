#include <math.h>

#include "batchnorm.h"
#include "fpenv.h"
#include "threads.h"

/* Below this many elements a call runs on one thread. */
#define BATCHNORM_SERIAL_ELEMENTS (1 << 16)

/* Independent double accumulators per sum: one running sum would wait on each
 * add's latency; lanes vectorise without reordering any lane's own sum. */
enum { BATCHNORM_LANES = 8 };

#define REAL float
#define FN(name) name##_f32
#include "batchnorm_impl.inc"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "batchnorm_impl.inc"
#undef REAL
#undef FN
