/* Thread settings shared by every kernel: one knob, one rule, one monitor.
 *
 * Policy (one thread pool busy at a time): kernels parallelise with OpenMP over
 * independent work items (images, groups, row tiles, planes) and call BLAS from
 * inside those regions with BLAS held at one thread (see blas.h).  BLAS worker
 * threads therefore never spin beside OpenMP workers.
 *
 * Every parallel region starts cnnfast_threads_for(...) threads:
 *   - at most the setting (cnnfast_set_num_threads),
 *   - at most one per work item,
 *   - at most one per `thread_work` of work, so that a call too small to pay
 *     for waking a second thread runs serially,
 *   - at most the contention cap: while other processes (or too many threads
 *     of this one) keep our threads waiting for a CPU, fewer threads (see
 *     cnnfast_contention_cap below).
 * How many threads run never changes a result: every kernel splits its work by
 * the shapes only. */
#ifndef CNNFAST_THREADS_H
#define CNNFAST_THREADS_H

#include <stddef.h>

/* 1 when compiled with OpenMP, 0 otherwise (then every kernel runs serially). */
int cnnfast_openmp_enabled(void);

/* The OpenMP version macro (_OPENMP, e.g. 201511), 0 without OpenMP. */
int cnnfast_openmp_version(void);

/* omp_get_max_threads(): OMP_NUM_THREADS when set, else the CPUs OpenMP saw at
 * start-up (libgomp: the affinity mask); 1 without OpenMP.  One of the inputs
 * of the default count, which cnnfast/_thread_count.py decides. */
int cnnfast_default_num_threads(void);

/* The thread count every kernel uses at most; values below 1 are taken as 1.
 * Setting it also restarts the contention monitor. */
void cnnfast_set_num_threads(int num_threads);
int cnnfast_get_num_threads(void);

/* Threads to start for `work` units of work (multiply-adds, window taps or
 * elements: each kernel family counts its own inner-loop operations) shared
 * out as `items` independent work items.  `thread_work` is the least work
 * worth a thread: each family's constant is half the work at which a second
 * thread measured break-even on 2 cores, so a call below 2 * thread_work runs
 * serially.  Returns a count in [1, setting]. */
int cnnfast_threads_for(double work, double thread_work, ptrdiff_t items);

/* ---- contention monitor (Linux; elsewhere the cap stays at the setting) ---
 *
 * libgomp's idle threads spin (about 4 ms here) before they sleep, and a
 * region ends only when its last thread arrives.  When the CPUs are shared,
 * a team therefore waits for members that are not on a CPU while spinning
 * members take the CPUs others need: two 2-thread processes on 2 cores ran
 * 20-40x slower than at 1 thread each.  The monitor measures, every
 * CNNFAST_MONITOR_WINDOW seconds of kernel activity, how long this process's
 * threads waited for a CPU (the kernel's per-thread run-queue delay,
 * /proc/self/task/.../schedstat) per thread in use; above
 * CNNFAST_MONITOR_BUSY it halves the cap, and after a back-off it tries twice
 * the cap again. */
/* Switch the monitor on or off (on by default); returns whether it is on:
 * enabling fails where the kernel gives no schedstat. */
int cnnfast_set_adaptive(int enabled);
int cnnfast_adaptive_enabled(void);
/* The current cap (>= 1; at least the setting when not capped) and the last
 * waiting fraction per thread measured (-1 before the first window). */
int cnnfast_contention_cap(void);
double cnnfast_last_waiting_fraction(void);

/* The monitor's controller, without the clock and /proc: for tests. */
typedef struct {
    int cap;              /* threads allowed, >= 1 */
    int trial;            /* the cap was just raised: is it still good? */
    double window_start;  /* seconds */
    double window_delay;  /* seconds our threads had waited at window_start */
    double next_trial;    /* earliest time to raise the cap again */
    double backoff;       /* wait before the next trial */
    double last_fraction; /* waiting per thread in the last window, -1 if none */
} cnnfast_monitor;

void cnnfast_monitor_reset(cnnfast_monitor *m, int setting);
/* One reading: `now` and `delay` in seconds (delay: total run-queue wait of
 * this process's threads so far); `in_use`: most threads a kernel started
 * since the last reading.  Updates the cap when a window ends. */
void cnnfast_monitor_update(cnnfast_monitor *m, double now, double delay, int setting, int in_use);

/* ---- test hooks ----------------------------------------------------------
 * Decisions of cnnfast_threads_for: how many calls chose one thread, how many
 * more than one, and the largest count chosen since the last reset. */
void cnnfast_thread_decisions(long *serial, long *parallel, int *largest);
void cnnfast_reset_thread_decisions(void);
/* Force the parallel path (thread_work taken as 0) when non-zero. */
void cnnfast_force_parallel(int enabled);

/* A short description of the compiler that built the kernels. */
const char *cnnfast_compiler(void);

#endif
