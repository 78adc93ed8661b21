#include "elementwise.h"
#include "fpenv.h"
#include "threads.h"

/* Elements per work item, and below how many a call runs on one thread. */
#define ELEMENTWISE_CHUNK (1 << 14)
#define ELEMENTWISE_SERIAL (1 << 17)

#define CNNFAST_TEMPLATE "elementwise_impl.inc"
#include "for_each_real.inc"
