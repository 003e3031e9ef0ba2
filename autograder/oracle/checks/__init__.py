"""The one entry point hidden tests call: ``check(name, *student_objects)``.

Each check is registered under the ``grade_id`` of the test cell that calls it,
runs the student's objects on inputs the student never sees, compares with
``autograder.reference`` and raises ``AssertionError`` naming the likely mistake.
"""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HELPERS_PATH = ROOT / "solutions" / "batchnorm" / "bn_helpers.py"

_CHECKS = {}


def _load_helpers():
    # A private copy of the student helper module: the comparison code is
    # written once, and a student's patches to their own `bn_helpers` do not reach it.
    spec = importlib.util.spec_from_file_location("autograder._bn_helpers", HELPERS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _load_helpers()


def rng(seed):
    """The random generator of one check: fixed seeds make grading repeatable."""
    import numpy as np
    return np.random.default_rng(seed)


def register(name):
    """Register the decorated function as the hidden check called ``name``."""
    def decorate(fn):
        if name in _CHECKS:
            raise ValueError(f"two hidden checks are named {name!r}")
        _CHECKS[name] = fn
        return fn
    return decorate


def names():
    """Names of all registered checks."""
    return sorted(_CHECKS)


def check(name, *objects):
    """Run the hidden check ``name`` on the student's objects; raise AssertionError on failure."""
    try:
        fn = _CHECKS[name]
    except KeyError:
        raise KeyError(f"no hidden check is named {name!r}") from None
    fn(*objects)


from . import axes, backward, family, forward, network, running  # noqa: E402,F401  (registering the checks)
from . import why  # noqa: E402,F401
