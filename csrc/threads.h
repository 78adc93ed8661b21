/* Thread settings shared by every kernel: one knob, read by every OpenMP region.
 *
 * Policy (one thread pool busy at a time): kernels parallelise with OpenMP over
 * independent work items (images, groups, row tiles, planes) and call BLAS from
 * inside those regions with BLAS itself pinned to one thread (see blas.h).  BLAS
 * worker threads therefore never spin beside OpenMP workers. */
#ifndef CNNFAST_THREADS_H
#define CNNFAST_THREADS_H

#include <stddef.h>

/* 1 when compiled with OpenMP, 0 otherwise (then every kernel runs serially). */
int cnnfast_openmp_enabled(void);

/* The OpenMP version macro (_OPENMP, e.g. 201511), 0 without OpenMP. */
int cnnfast_openmp_version(void);

/* What OpenMP would use by default: OMP_NUM_THREADS when set, else the cores. */
int cnnfast_default_num_threads(void);

/* The thread count every kernel uses; values below 1 are taken as 1. */
void cnnfast_set_num_threads(int num_threads);
int cnnfast_get_num_threads(void);

/* Threads to start for `work` multiply-adds shared out as `items` independent
 * items: one when work < min_parallel_work (waking a second thread costs more
 * than it saves), never more than there are items, at most the setting. */
int cnnfast_threads_for(double work, double min_parallel_work, ptrdiff_t items);

/* A short description of the compiler that built the kernels. */
const char *cnnfast_compiler(void);

#endif
