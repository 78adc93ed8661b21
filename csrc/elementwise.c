#include "elementwise.h"
#include "fpenv.h"
#include "threads.h"

/* Elements per work item, and the least work, in elements, worth a thread of
 * its own (see cnnfast_threads_for): calls under 2^17 elements run on one thread. */
#define ELEMENTWISE_CHUNK (1 << 14)
#define ELEMENTWISE_THREAD_WORK (1 << 16)

#define CNNFAST_TEMPLATE "elementwise_impl.inc"
#include "for_each_real.inc"
