"""Every OpenMP construct in csrc/ is one MSVC's C compiler accepts.

The Windows wheels are built by MSVC, which implements OpenMP 2.0 (2002), and
no compiler on a Linux machine can stand in for it: gcc's ``-fopenmp
-fno-openmp-simd`` still honours ``omp simd``, and clang 14 takes
``-fopenmp-version=20`` as 5.0 and, at 31, still accepts ``simd``,
``collapse``, ``task`` and unsigned loop variables.  So this test reads the
sources (``csrc/*.c``, ``*.h``, ``*.inc``: new files are covered) and holds
each construct to the rules below, each naming the MSVC error it prevents:

1. Directives of OpenMP 2.0 only (C3001 otherwise), plus ``simd``: OpenMP
   4.0, which MSVC implements under ``/openmp:experimental`` -- the flag
   setup.py gives it (plain ``/openmp`` rejects ``simd`` with C3001).
2. Clauses OpenMP 2.0 allows on that directive (C3005: ``collapse``,
   ``proc_bind``, ``atomic capture`` ...), ``schedule`` kinds without 3.0+
   modifiers, ``reduction`` operators of C in 2.0 (C3036: no ``min``/``max``),
   ``if`` without a directive-name modifier.
3. The loop after ``for``/``parallel for``/``simd`` in canonical form: its
   variable declared *before* the directive (MSVC's C compiler rejects
   ``for (ptrdiff_t i = 0; ...)`` there with C3015, although OpenMP 2.0 and
   every other compiler allow it), of a signed integer type (C3016), tested
   with ``< <= > >=`` (C3017) and stepped by ``++ -- += -=`` (C3019).
4. Calls to the OpenMP 2.0 runtime library only (``omp_*``): a 3.0+ function
   would not link against vcomp140.dll.

5. No bare C99 ``restrict`` (MSVC's C takes it only under ``/std:c11``,
   C2146): csrc/compiler.h's ``CNNFAST_RESTRICT`` instead.

What this does not prove: that MSVC compiles the rest of our C (see
"Build from source" in docs/install.md for what else differs), nor anything about
run time under vcomp -- only a Windows build and test run shows that.  The
last tests feed the checker constructs MSVC rejects, to show it catches them.
"""

import re
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parent.parent / "csrc"
SOURCES = sorted(p for pattern in ("*.c", "*.h", "*.inc") for p in CSRC.glob(pattern)) if CSRC.is_dir() else []

PARALLEL_CLAUSES = {"if", "private", "firstprivate", "default", "shared", "copyin", "reduction", "num_threads"}
FOR_CLAUSES = {"private", "firstprivate", "lastprivate", "reduction", "ordered", "schedule", "nowait"}
SECTIONS_CLAUSES = {"private", "firstprivate", "lastprivate", "reduction", "nowait"}
# OpenMP 2.0's directives with the clauses each takes; `simd` with the clauses
# MSVC's /openmp:experimental documents for it.
DIRECTIVES = {
    "parallel": PARALLEL_CLAUSES,
    "for": FOR_CLAUSES,
    "parallel for": (PARALLEL_CLAUSES | FOR_CLAUSES) - {"nowait"},
    "sections": SECTIONS_CLAUSES,
    "parallel sections": (PARALLEL_CLAUSES | SECTIONS_CLAUSES) - {"nowait"},
    "section": set(),
    "single": {"private", "firstprivate", "copyprivate", "nowait"},
    "master": set(),
    "critical": set(),
    "barrier": set(),
    "atomic": set(),
    "flush": set(),
    "ordered": set(),
    "threadprivate": set(),
    "simd": {"reduction", "safelen", "simdlen", "linear"},
}
LOOP_DIRECTIVES = {"for", "parallel for", "simd"}
# Words that can start or continue a directive name in any OpenMP version, so
# that `for simd` or `parallel loop` is read as one (refused) directive.
DIRECTIVE_WORDS = {"parallel", "for", "sections", "section", "single", "master", "critical", "barrier", "atomic",
                   "flush", "ordered", "threadprivate", "simd", "task", "taskwait", "taskyield", "taskgroup",
                   "taskloop", "target", "teams", "distribute", "declare", "cancel", "cancellation", "loop",
                   "masked", "scope", "tile", "unroll", "requires", "metadirective", "workshare", "end", "data",
                   "enter", "exit", "update", "point", "variant", "interop", "dispatch", "allocate",
                   "assume", "error", "nothing", "depobj", "scan"}
SCHEDULE_KINDS = {"static", "dynamic", "guided", "runtime"}
REDUCTION_OPERATORS = {"+", "*", "-", "&", "|", "^", "&&", "||"}
SIGNED_TYPES = {"int", "long", "long long", "long int", "long long int", "short", "signed", "signed int",
                "signed long", "ptrdiff_t", "Py_ssize_t", "ssize_t", "intptr_t", "int64_t", "int32_t", "int16_t",
                "int8_t"}
RUNTIME_2_0 = {"omp_set_num_threads", "omp_get_num_threads", "omp_get_max_threads", "omp_get_thread_num",
               "omp_get_num_procs", "omp_in_parallel", "omp_set_dynamic", "omp_get_dynamic", "omp_set_nested",
               "omp_get_nested", "omp_init_lock", "omp_destroy_lock", "omp_set_lock", "omp_unset_lock",
               "omp_test_lock", "omp_init_nest_lock", "omp_destroy_nest_lock", "omp_set_nest_lock",
               "omp_unset_nest_lock", "omp_test_nest_lock", "omp_get_wtime", "omp_get_wtick"}

TOKEN = re.compile(r"\s*,?\s*([A-Za-z_]\w*)\s*(\((?:[^()]|\([^()]*\))*\))?")
COMMENT_OR_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S)


def code_lines(text):
    """Source text -> lines of code: continued lines joined (blank lines left in
    their place, so line numbers hold), comments and string contents blanked."""
    lines, pending = [], []
    for line in text.split("\n"):
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        lines += [" ".join(pending + [line])] + [""] * len(pending)
        pending = []

    def blank(match):
        token = match.group(0)
        inside = re.sub(r"[^\n]", " ", token[1:-1] if token[0] in "\"'" else token)
        return f"{token[0]}{inside}{token[-1]}" if token[0] in "\"'" else inside
    return COMMENT_OR_STRING.sub(blank, "\n".join(lines)).split("\n")


def parse_pragma(text):
    """``omp`` pragma text after ``omp`` -> (directive, [(clause, argument or None)])."""
    words, clauses, position = [], [], 0
    while position < len(text.strip()):
        match = TOKEN.match(text, position)
        if match is None:
            clauses.append((text[position:].strip(), None))  # unparseable: reported as a clause
            break
        name, argument = match.group(1), match.group(2)
        position = match.end()
        if not clauses and name in DIRECTIVE_WORDS and not (words and name == "ordered"):
            words.append(name)
            if argument is not None:  # critical(name), flush(list), threadprivate(list)
                clauses.append(("(argument)", argument))
            continue
        clauses.append((name, argument[1:-1].strip() if argument else None))
    return " ".join(words), [c for c in clauses if c[0] != "(argument)"]


def clause_problems(directive, clause, argument):
    if clause not in DIRECTIVES[directive]:
        return [f"clause {clause!r} is not allowed on {directive!r} in OpenMP 2.0"]
    if clause == "schedule":
        kind, _, chunk = (argument or "").partition(",")
        if kind.strip() not in SCHEDULE_KINDS:
            return [f"schedule({argument}): OpenMP 2.0 knows {sorted(SCHEDULE_KINDS)}, without modifiers"]
        if kind.strip() == "runtime" and chunk:
            return ["schedule(runtime) takes no chunk size"]
    if clause == "reduction":
        operator = (argument or "").partition(":")[0].strip()
        if operator not in REDUCTION_OPERATORS:
            return [f"reduction operator {operator!r}: C in OpenMP 2.0 has {sorted(REDUCTION_OPERATORS)}"]
    if clause == "default" and argument not in ("shared", "none"):
        return [f"default({argument}): OpenMP 2.0 C has shared or none"]
    if clause == "if" and ":" in (argument or ""):
        return ["if(directive: ...) modifiers are OpenMP 4.5"]
    return []


def split_for(line):
    """'for (init; test; step) ...' -> (init, test, step), or None."""
    match = re.match(r"\s*for\s*\(", line)
    if match is None:
        return None
    depth, start = 1, match.end()
    for end in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[end], 0)
        if depth == 0:
            parts = line[start:end].split(";")
            return tuple(part.strip() for part in parts) if len(parts) == 3 else None
    return None


def declared_type(lines, before, var):
    """Type of the nearest declaration of ``var`` above line ``before`` in the same function."""
    declaration = re.compile(rf"^\s*(?:const\s+)?([A-Za-z_][\w ]*?)\s+(?:[^;]*,\s*)?\**{var}\s*(?:=[^;]*)?[;,]")
    for index in range(before - 1, -1, -1):
        if lines[index].startswith("}"):  # the end of the previous function
            return None
        match = declaration.match(lines[index])
        if match and match.group(1) not in ("return", "else"):
            return match.group(1)
    return None


def loop_problems(lines, index):
    """Rule 3 for the loop that follows the directive on line ``index``."""
    following = index + 1
    while following < len(lines) and not lines[following].strip():
        following += 1
    header = split_for(lines[following]) if following < len(lines) else None
    if header is None:
        return ["the directive is not followed by a 'for (init; test; step)' line"]
    init, test, step = header
    match = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*[^=].*", init)
    if match is None:
        return [f"loop 'for ({init}; ...)': declare the variable before the directive and write 'var = start' "
                "(MSVC C3015)"]
    var = match.group(1)
    problems = []
    kind = declared_type(lines, index, var)
    if kind is None:
        problems.append(f"no declaration of loop variable {var!r} found above the directive")
    elif kind not in SIGNED_TYPES:
        problems.append(f"loop variable {var!r} is {kind!r}: OpenMP 2.0 needs a signed integer type (MSVC C3016)")
    if not re.fullmatch(rf"{var}\s*(<|<=|>|>=)\s*[^=].*|.*[^<>=!]\s*(<|<=|>|>=)\s*{var}", test):
        problems.append(f"loop test {test!r}: OpenMP 2.0 needs {var} < <= > >= bound (MSVC C3017)")
    steps = (rf"(\+\+|--){var}", rf"{var}(\+\+|--)", rf"{var}\s*[+-]=\s*.+", rf"{var}\s*=\s*{var}\s*[+-]\s*.+",
             rf"{var}\s*=\s*.+\s*\+\s*{var}")
    if not any(re.fullmatch(pattern, step) for pattern in steps):
        problems.append(f"loop step {step!r}: OpenMP 2.0 needs ++, --, += or -= on {var} (MSVC C3019)")
    return problems


def check(text):
    """Every rule above on one source text -> ['line N: problem', ...]."""
    lines = code_lines(text)
    problems = []
    for index, line in enumerate(lines):
        match = re.match(r"\s*#\s*pragma\s+omp\b(.*)", line)
        if match is None:
            continue
        directive, clauses = parse_pragma(match.group(1))
        if directive not in DIRECTIVES:
            found = [f"directive {directive or match.group(1).strip()!r} is not OpenMP 2.0 (MSVC C3001)"]
        else:
            found = [p for clause, argument in clauses for p in clause_problems(directive, clause, argument)]
            if directive in LOOP_DIRECTIVES:
                found += loop_problems(lines, index)
        problems += [f"line {index + 1}: {problem}" for problem in found]
    for index, line in enumerate(lines):
        for name in re.findall(r"\b(omp_\w+)\s*\(", line):
            if name not in RUNTIME_2_0:
                problems.append(f"line {index + 1}: {name}() is not in the OpenMP 2.0 runtime library")
    return problems


@pytest.mark.skipif(not SOURCES, reason="needs the csrc/ sources (a checkout)")
def test_every_pragma_in_csrc_is_one_msvc_accepts():
    problems, pragmas = [], {}
    for path in SOURCES:
        text = path.read_text()
        problems += [f"{path.name} {problem}" for problem in check(text)]
        for line in code_lines(text):
            match = re.match(r"\s*#\s*pragma\s+omp\b(.*)", line)
            if match:
                directive = parse_pragma(match.group(1))[0]
                pragmas[directive] = pragmas.get(directive, 0) + 1
    print(f"OpenMP directives in csrc/: {dict(sorted(pragmas.items()))}")
    assert sum(pragmas.values()) >= 10  # the scan itself found the kernels' pragmas
    assert not problems, "\n".join(problems)


GOOD = """
void kernel(float *a, ptrdiff_t n, int threads)
{
    int failed = 0;
    #pragma omp parallel num_threads(threads) if(n > 100) default(shared)
    {
        ptrdiff_t i;
        #pragma omp for schedule(dynamic, 4) nowait
        for (i = 0; i < n; ++i) a[i] = 0;
        #pragma omp critical(kernel_failure)
        failed = 1;
        #pragma omp barrier
    }
    float s = 0;
    ptrdiff_t j, k;
    #pragma omp parallel for num_threads(threads) schedule(static) reduction(+:s)
    for (j = n - 1; j >= 0; j -= 2) s += a[j];
    #pragma omp simd reduction(+:s)
    for (k = 0; k <= n - 1; k++) s += a[k];
    a[0] = s + failed + omp_get_thread_num() + omp_get_max_threads();
}
"""

BAD = {
    "declaration in the for-init": ("#pragma omp parallel for\nfor (ptrdiff_t i = 0; i < n; ++i) a[i] = 0;",
                                    "C3015"),
    "unsigned loop variable": ("size_t i;\n#pragma omp parallel for\nfor (i = 0; i < n; ++i) a[i] = 0;", "C3016"),
    "undeclared loop variable": ("#pragma omp parallel for\nfor (i = 0; i < n; ++i) a[i] = 0;", "no declaration"),
    "!= test": ("int i;\n#pragma omp parallel for\nfor (i = 0; i != n; ++i) a[i] = 0;", "C3017"),
    "multiplying step": ("int i;\n#pragma omp parallel for\nfor (i = 1; i < n; i *= 2) a[i] = 0;", "C3019"),
    "no loop": ("#pragma omp for\na[0] = 0;", "not followed by"),
    "collapse": ("int i;\n#pragma omp parallel for collapse(2)\nfor (i = 0; i < n; ++i) a[i] = 0;", "collapse"),
    "schedule modifier": ("int i;\n#pragma omp for schedule(nonmonotonic: dynamic)\nfor (i = 0; i < n; ++i) ;",
                          "schedule("),
    "schedule auto": ("int i;\n#pragma omp for schedule(auto)\nfor (i = 0; i < n; ++i) ;", "schedule("),
    "max reduction": ("int i;\n#pragma omp parallel for reduction(max:s)\nfor (i = 0; i < n; ++i) ;",
                      "reduction operator 'max'"),
    "task": ("#pragma omp task\nwork();", "'task' is not OpenMP 2.0"),
    "for simd": ("int i;\n#pragma omp for simd\nfor (i = 0; i < n; ++i) ;", "'for simd' is not OpenMP 2.0"),
    "atomic capture": ("#pragma omp atomic capture\nv = x++;", "'capture'"),
    "proc_bind": ("#pragma omp parallel proc_bind(close)\n{}", "'proc_bind'"),
    "if modifier": ("#pragma omp parallel if(parallel: n > 1)\n{}", "modifiers"),
    "nowait on parallel for": ("int i;\n#pragma omp parallel for nowait\nfor (i = 0; i < n; ++i) ;", "'nowait'"),
    "3.0 runtime call": ("int n = omp_get_thread_limit();", "omp_get_thread_limit"),
    "continued line": ("int i;\n#pragma omp parallel for \\\n    collapse(2)\nfor (i = 0; i < n; ++i) ;",
                       "collapse"),
}


def test_the_checker_passes_valid_openmp_2_0():
    assert check(GOOD) == []


def test_comments_and_strings_are_not_read_as_code():
    assert check('/* #pragma omp task */\n// omp_get_thread_limit()\nconst char *s = "omp_get_thread_limit()";\n') == []


@pytest.mark.parametrize("case", list(BAD))
def test_the_checker_catches_what_msvc_rejects(case):
    source, expected = BAD[case]
    problems = check("void f(float *a, ptrdiff_t n) {\n" + source + "\n}\n")
    assert len(problems) == 1 and expected in problems[0], problems


# ------------------------------------------------------- restrict (not OpenMP)
# MSVC's C knows C99's `restrict` only under /std:c11; in its default mode the
# word is an identifier and the declaration fails (C2146).  csrc/compiler.h
# defines CNNFAST_RESTRICT (`__restrict` under MSVC); only that line may say
# `restrict`.

RESTRICT_DEFINITION = re.compile(r"\s*#\s*define\s+CNNFAST_RESTRICT\s+restrict\s*$")


def bare_restrict(text):
    """Lines of code (comments and strings aside) that use C99's ``restrict`` keyword."""
    return [f"line {index + 1}: bare 'restrict' (MSVC C2146): write CNNFAST_RESTRICT from compiler.h"
            for index, line in enumerate(code_lines(text))
            if re.search(r"\brestrict\b", line) and not RESTRICT_DEFINITION.match(line)]


@pytest.mark.skipif(not SOURCES, reason="needs the csrc/ sources (a checkout)")
def test_no_bare_restrict_in_csrc():
    problems = [f"{path.name} {problem}" for path in SOURCES for problem in bare_restrict(path.read_text())]
    assert not problems, "\n".join(problems)
    uses = sum(path.read_text().count("CNNFAST_RESTRICT") for path in SOURCES)
    assert uses >= 20  # the scan saw the kernels' qualifiers


def test_the_restrict_checker_catches_the_keyword_and_only_it():
    assert len(bare_restrict("void f(float *restrict a, const float *restrict b);\n")) == 1
    assert len(bare_restrict("void f(float *a)\n{\n    float *restrict p = a;\n}\n")) == 1
    assert bare_restrict("/* with restrict: */\nvoid f(float *CNNFAST_RESTRICT a, int restricted);\n"
                         '#define CNNFAST_RESTRICT restrict\nconst char *s = "restrict";\n') == []
