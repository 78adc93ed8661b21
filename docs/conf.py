"""Sphinx configuration of the cnnfast documentation.

Build (from the repository root, with cnnfast and the ``docs`` extra installed)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest

The API reference is generated from the docstrings of the *installed* package
(autodoc imports ``cnnfast``, compiled kernels included): nothing here puts the
checkout on ``sys.path``.
"""

import argparse
import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path

import numpydoc.numpydoc as numpydoc_extension
from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import cnnfast
import cnnfast.cli

logger = logging.getLogger(__name__)

project = "cnnfast"
copyright = "the cnnfast developers"  # noqa: A001  (Sphinx's name)
release = cnnfast.__version__
version = ".".join(release.split(".")[:2])
# Which cnnfast autodoc reads: CI checks that it is the installed wheel.
print(f"cnnfast {release} from {cnnfast.__file__}")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# The API pages: one page per public function and class, generated at build
# time from each module's ``__all__`` (templates in _templates/autosummary/).
autosummary_generate = True
autosummary_ignore_module_all = False
autosummary_imported_members = True


def _aliases(modules):
    """Map every second public path of a class or function to its first one.

    An object exported twice (``cnnfast.Sequential`` and
    ``cnnfast.layers.Sequential``; Keras spellings such as
    ``cnnfast.layers.MaxPooling2D`` for ``MaxPool2D``) is documented once, on
    the page of the path that carries its own name, earliest in ``modules``;
    the other pages point there (documenting it twice is a Sphinx warning).
    """
    exported = [
        (f"{name}.{member}", getattr(module, member))
        for name in modules
        for module in [importlib.import_module(name)]
        for member in getattr(module, "__all__", [])
        if inspect.isclass(getattr(module, member)) or inspect.isfunction(getattr(module, member))
    ]
    canonical = {}
    for path, obj in exported:
        if path.rsplit(".", 1)[1] == obj.__name__:
            canonical.setdefault(id(obj), path)
    return {path: canonical[id(obj)] for path, obj in exported if canonical.get(id(obj), path) != path}


# The modules of the API reference (api.rst), the package first.
API_MODULES = [
    "cnnfast",
    "cnnfast.functional",
    "cnnfast.reference",
    "cnnfast.layers",
    "cnnfast.layers.initializers",
    "cnnfast.losses",
    "cnnfast.optim",
    "cnnfast.callbacks",
    "cnnfast.models",
    "cnnfast.datasets",
    "cnnfast.utils",
    "cnnfast.distributed",
    "cnnfast.training",
    "cnnfast.training.data",
    "cnnfast.training.loop",
    "cnnfast.training.metrics",
    "cnnfast.training.objective",
]
autosummary_context = {"aliases": _aliases(API_MODULES)}
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types

# numpydoc renders the Parameters/Returns/... sections; the class template
# lists the members itself, so numpydoc does not add a second table.
numpydoc_show_class_members = False
# PR02: a documented parameter the signature does not have -- which is also how
# a paragraph left below the Parameters section shows up (numpydoc reads its
# first line as a parameter).  register(cls=None, *, name=None) is a decorator
# whose first argument numpydoc drops as a classmethod's ``cls``.
numpydoc_validation_checks = {"PR02"}
numpydoc_validation_exclude = {r"^cnnfast\.layers\.register$"}

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# The docstrings' Examples sections and the guide's ``>>>`` blocks run under
# `sphinx-build -b doctest`; every example starts from this namespace.
doctest_global_setup = """
import numpy as np
import cnnfast
np.set_printoptions(precision=4, suppress=True)
"""
doctest_default_flags = (
    __import__("doctest").ELLIPSIS
    | __import__("doctest").NORMALIZE_WHITESPACE
    | __import__("doctest").DONT_ACCEPT_TRUE_FOR_1
)


def _escape_star_args(app, what, name, obj, options, lines):
    """Escape the star of ``(N, *input_shape)``-style shapes in docstrings.

    The docstrings write batch shapes as Python does, ``(N, *input_shape)``;
    in reStructuredText a lone ``*`` opens emphasis (a warning, and with -W an
    error), so it is escaped here instead of in every docstring.  Stars inside
    inline literals (double backquotes) are left alone.
    """
    for i, line in enumerate(lines):
        parts = line.split("``")
        for j in range(0, len(parts), 2):  # even parts are outside ``literals``
            parts[j] = _STAR_ARG.sub(r"\\*", parts[j])
        lines[i] = "``".join(parts)


_STAR_ARG = re.compile(r"(?<=[(,] )\*(?=[A-Za-z_])|(?<=\()\*(?=[A-Za-z_])")


def _qualified_name(obj):
    obj = getattr(obj, "fget", obj)  # a property: its getter holds the docstring
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def _record_examples(app, what, name, obj, options, lines):
    """Remember, per page, which docstrings with ``>>>`` examples autodoc rendered."""
    if any(line.lstrip().startswith(">>>") for line in lines):
        rendered = app.env.__dict__.setdefault("cnnfast_examples", {})
        rendered.setdefault(app.env.docname, set()).add(_qualified_name(obj))


def _forget_examples(app, env, docname):
    """Drop what a page recorded when Sphinx reads it again."""
    env.__dict__.get("cnnfast_examples", {}).pop(docname, None)


def _package_examples():
    """Every public function, class, method and property of cnnfast whose docstring has ``>>>``."""
    found = set()
    for module_info in pkgutil.walk_packages(cnnfast.__path__, "cnnfast."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            members = (
                [obj] + [m for n, m in vars(obj).items() if not n.startswith("_")] if inspect.isclass(obj) else [obj]
            )
            for member in members:
                member = getattr(member, "__func__", member)  # classmethod, staticmethod
                documented = inspect.isclass(member) or inspect.isfunction(member) or isinstance(member, property)
                if documented and ">>>" in (inspect.getdoc(getattr(member, "fget", member)) or ""):
                    found.add(_qualified_name(member))
    return found


def _check_examples_rendered(app, exception):
    """Warn (an error under -W) about docstring examples the site does not show.

    The doctest builder runs the examples of the pages it reads, so an
    example is tested exactly when its object is in the API reference.
    """
    if exception is not None:
        return
    rendered = set().union(*app.env.__dict__.get("cnnfast_examples", {}).values())
    for name in sorted(_package_examples() - rendered):
        logger.warning(
            "the docstring examples of %s are in no page, so no doctest runs them: "
            "add it to the API reference (docs/api.rst)",
            name,
        )


class CommandHelp(SphinxDirective):
    """``.. cnnfast-help:: train``: the ``--help`` text of a ``cnnfast`` sub-command, from its parser."""

    required_arguments = 1

    def run(self):
        """Format the sub-command's help as argparse prints it (80 columns)."""
        os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal width
        parser = cnnfast.cli.build_parser()
        (commands,) = (action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
        text = commands.choices[self.arguments[0]].format_help()
        return [nodes.literal_block(text, text, language="text")]


def _check_api_modules(app):
    """Warn when api.rst's module list and API_MODULES differ (the aliases are computed from the latter)."""
    modules_section = (Path(app.srcdir) / "api.rst").read_text().split("\nModules\n-------\n", 1)[1]
    documented = sorted(re.findall(r"^   (cnnfast[\w.]*)$", modules_section, re.MULTILINE))
    if documented != sorted(API_MODULES[1:]):
        logger.warning("api.rst documents the modules %s, API_MODULES in conf.py %s", documented, API_MODULES[1:])


def _validate_callables_only(validate):
    """Wrap numpydoc's ``validate``: functions and classes only; data attributes pass.

    PR02 is about signatures, which data attributes lack, and numpydoc 1.9's
    validate() raises AttributeError on an attribute whose value is None
    (``Sequential.declared_input_shape``): it asks the value for ``__module__``.
    """

    def validate_callable(doc):
        if callable(doc._obj):
            return validate(doc)
        return {"errors": [], "docstring": ""}

    return validate_callable


def setup(app):
    """Register the docstring hooks above (Sphinx calls this for conf.py)."""
    numpydoc_extension.validate = _validate_callables_only(numpydoc_extension.validate)
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", _escape_star_args, priority=400)
    app.connect("autodoc-process-docstring", _record_examples)
    app.connect("env-purge-doc", _forget_examples)
    app.connect("build-finished", _check_examples_rendered)
    app.add_directive("cnnfast-help", CommandHelp)
    app.connect("builder-inited", _check_api_modules)


html_theme = "alabaster"
html_title = f"cnnfast {release}"
html_theme_options = {
    "description": "Fast CPU convolutional neural networks",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_static_path = []
