"""The model's former module path, kept so that ``from cnnfast.model import Sequential, load_model`` works.

The model is ``cnnfast.Sequential`` (the same class as ``cnnfast.layers.Sequential``),
defined in :mod:`cnnfast.layers.sequential`; its training verbs live in
:mod:`cnnfast.training`.  Ready-made networks are in :mod:`cnnfast.models`.
"""

from .layers.sequential import Sequential, load_model

__all__ = ["Sequential", "load_model"]
