"""``python -m cnnfast COMMAND``: the same as the ``cnnfast`` console script."""

from .cli import main

raise SystemExit(main())
