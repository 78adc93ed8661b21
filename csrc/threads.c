#if defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
/* The contention monitor reads /proc and the monotonic clock (POSIX 2008). */
#define CNNFAST_HAVE_MONITOR 1
#define _POSIX_C_SOURCE 200809L
#endif

#include "threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef CNNFAST_HAVE_MONITOR
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#endif

/* Relaxed atomics where the compiler has them: several Python threads may run
 * kernels at once (the GIL is released).  Every shared value below is a plain
 * int or long that is correct whichever of two racing values a reader sees. */
#if defined(__GNUC__) || defined(__clang__)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v) ((void)__atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED))
#else
#define LOAD(x) (x)
#define STORE(x, v) ((x) = (v))
#define ADD(x, v) ((void)((x) += (v)))
#endif

/* Written by set_num_threads, read at the start of each kernel. */
static int kernel_num_threads = 1;

int cnnfast_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int cnnfast_openmp_version(void)
{
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

int cnnfast_default_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ------------------------------------------------------ contention monitor */

/* Seconds of kernel activity per measurement: long enough to span a few
 * scheduler time slices (a few ms each), short enough that a collapse (20x
 * slower while it lasts) costs little before it is noticed. */
#define CNNFAST_MONITOR_WINDOW 0.05
/* A window longer than this (the process sat idle or ran serial code between
 * kernels) says nothing about contention: it is restarted instead. */
#define CNNFAST_MONITOR_STALE 0.5
/* Waiting for a CPU per thread in use, as a fraction of the window, above
 * which the CPUs count as contended.  Measured on 2 cores, LeNet-5 training
 * with the monitor off, per 50 ms window: 2 threads with both CPUs free,
 * 0.003; 1 thread beside one busy process, 0.003; 2 threads beside one busy
 * process, 0.5-0.8 (8x slower than 1 thread); two 2-thread processes,
 * 0.73-0.87.  0.15 is far from both sides (0.3 measured the same). */
#ifndef CNNFAST_MONITOR_BUSY /* (-D overrides it, for measuring) */
#define CNNFAST_MONITOR_BUSY 0.15
#endif
/* Wait before trying a higher cap again, doubled after each failed trial:
 * a trial beside another busy process costs about one window at the slow
 * rate, so at the longest back-off trials cost about 1% of the time. */
#define CNNFAST_MONITOR_BACKOFF_MIN 0.2
#define CNNFAST_MONITOR_BACKOFF_MAX 3.2

void cnnfast_monitor_reset(cnnfast_monitor *m, int setting)
{
    m->cap = setting < 1 ? 1 : setting;
    m->trial = 0;
    m->window_start = -1.0;
    m->window_delay = 0.0;
    m->next_trial = 0.0;
    m->backoff = CNNFAST_MONITOR_BACKOFF_MIN;
    m->last_fraction = -1.0;
}

void cnnfast_monitor_update(cnnfast_monitor *m, double now, double delay, int setting, int in_use)
{
    if (setting < 1) setting = 1;
    if (m->cap > setting) m->cap = setting;
    if (m->window_start < 0 || now - m->window_start > CNNFAST_MONITOR_STALE || delay < m->window_delay ||
        now < m->window_start) {
        /* First reading, a stale window, or a thread that exited took its
         * delay with it: start a new window. */
        m->window_start = now;
        m->window_delay = delay;
        return;
    }
    if (now - m->window_start < CNNFAST_MONITOR_WINDOW) return;
    if (in_use < 1) in_use = 1;
    const double fraction = (delay - m->window_delay) / (now - m->window_start) / (double)in_use;
    m->last_fraction = fraction;
    m->window_start = now;
    m->window_delay = delay;
    if (fraction > CNNFAST_MONITOR_BUSY) {
        if (m->trial) {
            m->backoff *= 2;
            if (m->backoff > CNNFAST_MONITOR_BACKOFF_MAX) m->backoff = CNNFAST_MONITOR_BACKOFF_MAX;
        }
        m->trial = 0;
        if (m->cap > 1) m->cap /= 2;
        m->next_trial = now + m->backoff;
    } else if (m->cap < setting && now >= m->next_trial) {
        m->cap = 2 * m->cap < setting ? 2 * m->cap : setting;
        m->trial = 1;
    } else if (m->trial) {
        m->trial = 0; /* the raised cap held for a whole window */
        m->backoff = CNNFAST_MONITOR_BACKOFF_MIN;
    }
}

static cnnfast_monitor monitor = {1, 0, -1.0, 0.0, 0.0, CNNFAST_MONITOR_BACKOFF_MIN, -1.0};
static int monitor_enabled = 1;

#ifdef CNNFAST_HAVE_MONITOR
static int monitor_busy;           /* one thread updates the monitor at a time */
static int monitor_busy_pid;       /* the process that set monitor_busy */
static int monitor_window_threads; /* most threads started during the window */

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* Seconds this process's threads have spent runnable but waiting for a CPU
 * (the second field of each /proc/self/task/TID/schedstat), or -1 when the
 * kernel does not provide it.  About 3 us per thread of the process. */
static double process_run_delay(void)
{
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1.0;
    double total = 0.0;
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        char path[64], text[96];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", entry->d_name);
        const int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue; /* the thread just exited */
        const ssize_t length = read(fd, text, sizeof text - 1);
        close(fd);
        if (length <= 0) continue;
        text[length] = '\0';
        char *field = text;
        strtoull(field, &field, 10);            /* time on a CPU */
        const unsigned long long waited = strtoull(field, NULL, 10);
        total += 1e-9 * (double)waited;
        found = 1;
    }
    closedir(tasks);
    return found ? total : -1.0;
}

/* `threads` (>= 2) lowered to the contention cap; runs the monitor when a
 * window is due.  The cost when none is due: one clock read (~40 ns). */
static int contention_limited(int threads)
{
    if (!LOAD(monitor_enabled)) return threads;
    if (__atomic_exchange_n(&monitor_busy, 1, __ATOMIC_ACQUIRE) == 0) {
        STORE(monitor_busy_pid, (int)getpid());
        const int setting = LOAD(kernel_num_threads);
        const int started = threads < monitor.cap ? threads : monitor.cap;
        if (started > monitor_window_threads) monitor_window_threads = started;
        const double now = monotonic_seconds();
        if (monitor.window_start < 0 || now - monitor.window_start >= CNNFAST_MONITOR_WINDOW) {
            const double delay = process_run_delay();
            if (delay < 0) {
                STORE(monitor_enabled, 0);
            } else {
                cnnfast_monitor_update(&monitor, now, delay, setting, monitor_window_threads);
                monitor_window_threads = 0;
            }
        }
        __atomic_store_n(&monitor_busy, 0, __ATOMIC_RELEASE);
    } else if (LOAD(monitor_busy_pid) != 0 && LOAD(monitor_busy_pid) != (int)getpid()) {
        /* Set by a thread of the parent that was updating the monitor when
         * this process forked: that thread does not exist here. */
        __atomic_store_n(&monitor_busy, 0, __ATOMIC_RELEASE);
    }
    const int cap = LOAD(monitor.cap);
    return threads < cap ? threads : cap;
}
#else
static int contention_limited(int threads) { return threads; }
#endif

int cnnfast_set_adaptive(int enabled)
{
#ifdef CNNFAST_HAVE_MONITOR
    enabled = enabled && process_run_delay() >= 0;
#else
    enabled = 0;
#endif
    STORE(monitor_enabled, enabled);
    cnnfast_monitor_reset(&monitor, LOAD(kernel_num_threads));
    return enabled;
}

int cnnfast_adaptive_enabled(void)
{
#ifdef CNNFAST_HAVE_MONITOR
    return LOAD(monitor_enabled);
#else
    return 0;
#endif
}

int cnnfast_contention_cap(void)
{
    const int setting = LOAD(kernel_num_threads);
    if (!cnnfast_adaptive_enabled()) return setting;
    const int cap = LOAD(monitor.cap);
    return cap < setting ? cap : setting;
}

double cnnfast_last_waiting_fraction(void)
{
    return monitor.last_fraction;
}

/* ------------------------------------------------------------ the setting */

void cnnfast_set_num_threads(int num_threads)
{
#ifdef _OPENMP
    STORE(kernel_num_threads, num_threads < 1 ? 1 : num_threads);
#else
    (void)num_threads;
    STORE(kernel_num_threads, 1);
#endif
    cnnfast_monitor_reset(&monitor, LOAD(kernel_num_threads));
}

int cnnfast_get_num_threads(void)
{
    return LOAD(kernel_num_threads);
}

/* --------------------------------------------------------------- the rule */

static long decisions_serial, decisions_parallel;
static int decisions_largest;
static int parallel_forced;

int cnnfast_threads_for(double work, double thread_work, ptrdiff_t items)
{
    int threads = LOAD(kernel_num_threads);
    if (items < threads) threads = items < 1 ? 1 : (int)items;
    if (!LOAD(parallel_forced) && work < (double)threads * thread_work) {
        /* Fewer threads than the items allow: each gets thread_work at least. */
        const double affordable = work / thread_work;
        threads = affordable < 1.0 ? 1 : (int)affordable;
    }
    if (threads > 1) threads = contention_limited(threads);
    if (threads > 1) {
        ADD(decisions_parallel, 1);
        if (threads > LOAD(decisions_largest)) STORE(decisions_largest, threads);
    } else {
        ADD(decisions_serial, 1);
    }
    return threads;
}

void cnnfast_thread_decisions(long *serial, long *parallel, int *largest)
{
    *serial = LOAD(decisions_serial);
    *parallel = LOAD(decisions_parallel);
    *largest = LOAD(decisions_largest);
}

void cnnfast_reset_thread_decisions(void)
{
    STORE(decisions_serial, 0);
    STORE(decisions_parallel, 0);
    STORE(decisions_largest, 0);
}

void cnnfast_force_parallel(int enabled)
{
    STORE(parallel_forced, enabled != 0);
}

#define CNNFAST_STR2(x) #x
#define CNNFAST_STR(x) CNNFAST_STR2(x)

const char *cnnfast_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
    return "msvc " CNNFAST_STR(_MSC_FULL_VER);
#else
    return "unknown C compiler";
#endif
}
