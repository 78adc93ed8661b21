#ifndef CNNFAST_COMPILER_H
#define CNNFAST_COMPILER_H

/* C99's `restrict` under a project name.  MSVC's C accepts the keyword only
 * with /std:c11 (VS 2019 16.8+); in its default mode `restrict` is an
 * identifier and the declaration fails (C2146).  Its `__restrict` means the
 * same and works in every mode.  `#define restrict __restrict` would be no
 * cure: the Windows SDK headers write `__declspec(restrict)`.  (NumPy's
 * NPY_RESTRICT and Cython's CYTHON_RESTRICT do the same.)
 * tests/test_openmp_msvc.py refuses a bare `restrict` anywhere in csrc/. */
#if defined(_MSC_VER)
#define CNNFAST_RESTRICT __restrict
#else
#define CNNFAST_RESTRICT restrict
#endif

#endif
