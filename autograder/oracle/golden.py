"""PyTorch's numbers for the reference: the cases, their inputs, and the calls both sides make.

``tests/test_reference.py`` runs every case of ``CASES`` on the reference and compares with ``golden_pytorch.npz``
(on every run), and with PyTorch itself where it is installed. PyTorch is not a requirement: the file is made with
it, in an environment of its own, and committed::

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy==<requirements.txt's pin>
    /tmp/torchvenv/bin/python autograder/oracle/golden.py

The file holds, per case, the inputs (drawn here with a seed of the case's name, float64) and what PyTorch returned
for them, with the versions of PyTorch and numpy that made it.
"""
import functools
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

GOLDEN = Path(__file__).with_name("golden_pytorch.npz")
STEPS = 4            # training steps (forward and backward) before eval mode
EVAL_BATCHES = (1, 3)


class Case(NamedTuple):
    name: str
    kind: str        # what it is compared with: "BatchNorm1d", "BatchNorm2d", "layer_norm" or "group_norm"
    shape: tuple
    options: dict = {}
    groups: int = 0  # group norm's G


def _batchnorm_cases():
    layouts = {"NC": (6, 4), "NCL": (5, 4, 3), "NCHW": (3, 4, 2, 3)}
    options = [{}, {"momentum": None}, {"momentum": 0.3}, {"affine": False}, {"track_running_stats": False},
               {"affine": False, "track_running_stats": False}]
    for layout, shape in layouts.items():
        for o in options:
            label = ",".join(f"{k}={v}" for k, v in o.items()) or "defaults"
            kind = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
            yield Case(f"{kind}-{layout}-{label}", kind, shape, o)


CASES = (list(_batchnorm_cases()) + [Case("layer_norm", "layer_norm", (3, 5))]
         + [Case(f"group_norm-G={g}", "group_norm", (2, 6, 3, 2), groups=g) for g in (1, 2, 6)])


def inputs(case):
    """The case's inputs by name, the same on every machine with the pinned numpy."""
    r = np.random.default_rng(zlib.crc32(case.name.encode()))
    offset = lambda shape: 5 * r.standard_normal(shape) + 12  # noqa: E731  (mean and scale far from 0 and 1)
    c = case.shape[1]
    if not case.kind.startswith("BatchNorm"):
        return dict(x=offset(case.shape), dout=r.standard_normal(case.shape),
                    gamma=r.uniform(0.5, 2, c), beta=r.standard_normal(c))
    data = dict(x=offset((STEPS,) + case.shape), dout=r.standard_normal((STEPS,) + case.shape))
    if case.options.get("affine", True):
        data.update(gamma=r.uniform(0.5, 2, c), beta=r.standard_normal(c))
    batch_stats = not case.options.get("track_running_stats", True)
    for batch in EVAL_BATCHES:
        if batch == 1 and batch_stats and len(case.shape) == 2:
            continue  # eval mode on batch statistics of one value per channel: PyTorch raises
        data[f"x_eval_batch{batch}"] = offset((batch,) + case.shape[1:])
    return data


def _present(suffix="", **values):
    """The values that are not None, as arrays, by name (with ``suffix``)."""
    return {k + suffix: np.asarray(v) for k, v in values.items() if v is not None}


def _buffers(layer, suffix=""):
    return _present(suffix, running_mean=layer.running_mean, running_var=layer.running_var,
                    num_batches_tracked=layer.num_batches_tracked)


def run(case, data, library):
    """What ``library`` returns for the case on ``data``, by name: ``library`` is the reference module or
    ``torch_library(case)``, which offers the same functions and layer. A batch-norm layer makes ``STEPS`` training
    steps (outputs, gradients and buffers after each, stacked), then eval mode on each eval batch (the buffers
    after it), then ``reset_running_stats()``."""
    if case.kind == "layer_norm":
        x, gamma, beta, dout = data["x"], data["gamma"], data["beta"], data["dout"]
        dx, dgamma, dbeta = library.layernorm_backward(dout, x, gamma)
        return _present(out=library.layernorm_forward(x, gamma, beta), dx=dx, dgamma=dgamma, dbeta=dbeta)
    if case.kind == "group_norm":
        x, gamma, beta, dout, G = data["x"], data["gamma"], data["beta"], data["dout"], case.groups
        dx, dgamma, dbeta = library.groupnorm_backward(dout, x, gamma, G)
        return _present(out=library.groupnorm_forward(x, gamma, beta, G), dx=dx, dgamma=dgamma, dbeta=dbeta)
    layer = library.BatchNorm(case.shape[1], **case.options)
    if "gamma" in data:
        layer.gamma, layer.beta = data["gamma"].copy(), data["beta"].copy()
    steps = []
    for x, dout in zip(data["x"], data["dout"]):
        out = layer.forward(x)
        dx = layer.backward(dout)
        steps.append(_present(out=out, dx=dx, dgamma=layer.dgamma, dbeta=layer.dbeta) | _buffers(layer))
    result = {k: np.stack([step[k] for step in steps]) for k in steps[0]}
    layer.eval()
    for batch in EVAL_BATCHES:
        if f"x_eval_batch{batch}" in data:
            result[f"out_eval_batch{batch}"] = np.asarray(layer.forward(data[f"x_eval_batch{batch}"]))
    result |= _buffers(layer, "_after_eval")
    layer.reset_running_stats()
    return result | _buffers(layer, "_after_reset")


# --- PyTorch behind the reference's interface ----------------------------------------

class _TorchBatchNorm:
    """A ``torch.nn.BatchNorm1d`` or ``BatchNorm2d`` in float64 with the reference layer's attributes and methods."""

    def __init__(self, module):
        self.module = module.double()

    @property
    def gamma(self):
        return None if self.module.weight is None else self.module.weight.detach().numpy().copy()

    @gamma.setter
    def gamma(self, value):
        self._set(self.module.weight, value)

    @property
    def beta(self):
        return None if self.module.bias is None else self.module.bias.detach().numpy().copy()

    @beta.setter
    def beta(self, value):
        self._set(self.module.bias, value)

    @staticmethod
    def _set(parameter, value):
        import torch
        with torch.no_grad():
            parameter.copy_(torch.from_numpy(value))

    def _buffer(self, name):
        value = getattr(self.module, name)
        return None if value is None else value.numpy().copy()

    running_mean = property(lambda self: self._buffer("running_mean"))
    running_var = property(lambda self: self._buffer("running_var"))
    num_batches_tracked = property(lambda self: None if self.module.num_batches_tracked is None
                                   else int(self.module.num_batches_tracked))

    def forward(self, x):
        import torch
        self._x = torch.from_numpy(x.copy()).requires_grad_(True)
        self._out = self.module(self._x)
        return self._out.detach().numpy().copy()

    def backward(self, dout):
        import torch
        self._out.backward(torch.from_numpy(dout.copy()))
        self.dgamma, self.dbeta = (None if p is None else p.grad.numpy().copy()
                                   for p in (self.module.weight, self.module.bias))
        self.module.zero_grad(set_to_none=True)
        return self._x.grad.numpy().copy()

    def eval(self):
        self.module.eval()
        return self

    def reset_running_stats(self):
        self.module.reset_running_stats()


def torch_library(case):
    """PyTorch (``nn.BatchNorm1d/2d``, ``F.layer_norm``, ``F.group_norm``) with the reference's function names and
    signatures, numpy in and out, float64."""
    import torch
    F = torch.nn.functional
    tensor = lambda v: torch.from_numpy(np.array(v, dtype=np.float64))  # noqa: E731

    def layer_norm(x, gamma, beta):
        return F.layer_norm(x, gamma.shape, gamma, beta, 1e-5)

    def group_norm(G):
        return lambda x, gamma, beta: F.group_norm(x, G, gamma, beta, 1e-5)

    def forward(normalize, x, gamma, beta):
        return normalize(tensor(x), tensor(gamma), tensor(beta)).numpy()

    def gradients(normalize, dout, x, gamma):
        leaves = [tensor(v).requires_grad_(True) for v in (x, gamma, np.zeros_like(gamma))]
        normalize(*leaves).backward(tensor(dout))
        return tuple(v.grad.numpy().copy() for v in leaves)

    def batchnorm(num_features, **options):
        return _TorchBatchNorm(getattr(torch.nn, case.kind)(num_features, **options))

    return SimpleNamespace(
        BatchNorm=batchnorm,
        layernorm_forward=lambda x, gamma, beta: forward(layer_norm, x, gamma, beta),
        layernorm_backward=lambda dout, x, gamma: gradients(layer_norm, dout, x, gamma),
        groupnorm_forward=lambda x, gamma, beta, G: forward(group_norm(G), x, gamma, beta),
        groupnorm_backward=lambda dout, x, gamma, G: gradients(group_norm(G), dout, x, gamma),
    )


# --- the file --------------------------------------------------------------------------

@functools.cache
def load(path=GOLDEN):
    """``(torch_version, {case name: (inputs, PyTorch's results)})`` from the golden file."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {key: f[key] for key in f.files}
    cases = {}
    for key, value in arrays.items():
        if "/" in key:
            name, side, quantity = key.split("/")
            cases.setdefault(name, ({}, {}))[side == "pytorch"][quantity] = value
    return str(arrays["torch_version"]), cases


def main():
    import torch
    arrays = {"torch_version": np.array(torch.__version__), "numpy_version": np.array(np.__version__)}
    for case in CASES:
        data = inputs(case)
        arrays |= {f"{case.name}/inputs/{k}": v for k, v in data.items()}
        arrays |= {f"{case.name}/pytorch/{k}": v for k, v in run(case, data, torch_library(case)).items()}
    np.savez_compressed(GOLDEN, **arrays)
    print(f"{GOLDEN.name}: {len(CASES)} cases, {len(arrays)} arrays, {GOLDEN.stat().st_size // 1024} KB, "
          f"PyTorch {torch.__version__}")


if __name__ == "__main__":
    main()
