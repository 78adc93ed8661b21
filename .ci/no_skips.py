"""Fail unless a pytest run ran every test it collected: python .ci/no_skips.py JUNIT_XML LABEL.

For CI steps whose point is that some tests *run* (the PyTorch oracles, the
full-MNIST training): pytest passes a run whose tests were all skipped (a
missing torch makes ``pytest.importorskip`` skip whole modules), so the step
reads pytest's JUnit report (``--junitxml``) and exits 1 on any skip, on zero
tests, or on a failure or error.  Prints one line of counts under LABEL.
"""

import sys
import xml.etree.ElementTree as ET


def main(path, label):
    suites = list(ET.parse(path).getroot().iter("testsuite"))
    count = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    ran = count["tests"] - count["skipped"]
    print(f"{label}: {count['tests']} tests, {ran} ran, {count['skipped']} skipped, "
          f"{count['failures']} failed, {count['errors']} errors")
    for case in ET.parse(path).getroot().iter("testcase"):
        for skip in case.findall("skipped"):
            where = ".".join(filter(None, (case.get("classname"), case.get("name"))))
            print(f"  SKIPPED {where}: {(skip.text or skip.get('message', '')).strip()}", file=sys.stderr)
    return 0 if count["tests"] and not (count["skipped"] or count["failures"] or count["errors"]) else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[0])
    sys.exit(main(*sys.argv[1:]))
