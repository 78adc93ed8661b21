#include <math.h>

#include "batchnorm.h"
#include "fpenv.h"
#include "threads.h"

/* Least work, in elements, worth a thread of its own (see cnnfast_threads_for):
 * calls under 2^16 elements run on one thread. */
#define BATCHNORM_THREAD_WORK (1 << 15)

/* Independent double accumulators per sum: one running sum would wait on each
 * add's latency; lanes vectorise without reordering any lane's own sum. */
enum { BATCHNORM_LANES = 8 };

#define CNNFAST_TEMPLATE "batchnorm_impl.inc"
#include "for_each_real.inc"
