#include <math.h>

#include "batchnorm.h"
#include "fpenv.h"
#include "threads.h"

/* Below this many elements a call runs on one thread. */
#define BATCHNORM_SERIAL_ELEMENTS (1 << 16)

/* Independent double accumulators per sum: one running sum would wait on each
 * add's latency; lanes vectorise without reordering any lane's own sum. */
enum { BATCHNORM_LANES = 8 };

#define CNNFAST_TEMPLATE "batchnorm_impl.inc"
#include "for_each_real.inc"
