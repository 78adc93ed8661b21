#include "elementwise.h"
#include "fpenv.h"
#include "threads.h"

/* Elements per work item, and below how many a call runs on one thread. */
#define ELEMENTWISE_CHUNK (1 << 14)
#define ELEMENTWISE_SERIAL (1 << 17)

#define REAL float
#define FN(name) name##_f32
#include "elementwise_impl.inc"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "elementwise_impl.inc"
#undef REAL
#undef FN
