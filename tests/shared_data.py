"""Where the tests find the original data files that cnnfast does not ship.

The full MNIST and Fashion-MNIST IDX files (and their README with the
checksums) live outside the repository: in ``$CNNFAST_SHARED_DATA`` when it
is set, else in ``../shared/data`` beside the checkout.  ``.ci/run`` sets the
variable, so that a clean clone in a scratch directory finds the files too.
Tests that need them skip cleanly when they are absent; the package itself
never reads this location.
"""

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("CNNFAST_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
