"""Hidden checks for lesson 5: layer norm, and batch norm inside a network.

The network checks put the reference BatchNorm into the student's network, so
they grade this lesson's code (composition, backpropagation, training) and not
the layer carried over from lesson 4, which lesson 4 grades.
"""
import copy

import numpy as np

from .. import reference as ref
from . import helpers as h
from . import register, rng
from .forward import EPS, features
from .questions import choice

TRAIN = dict(lr=0.5, epochs=30, batch_size=50)
DIMS = [2, 64, 64, 3]
LOSS_THRESHOLD = 0.5  # ln(3) = 1.10 at chance; the reference reaches 0.07-0.28 over 20 seeds


@register("layernorm_values")
def layernorm_values(fn):
    r = rng(501)
    for n, d in [(5, 7), (1, 4), (3, 6), (4, 4)]:
        x = features(r, n, d)
        x[:, -1] = r.standard_normal(n)  # no tiny-variance column: layer norm mixes features
        gamma, beta = r.uniform(0.5, 2.5, d), r.uniform(-3, 3, d)
        got = h.call(fn, x.copy(), gamma.copy(), beta.copy())
        hints = [("normalised over axis 0: that is batch norm; layer norm uses axis 1 (per sample)",
                  gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + EPS) + beta),
                 ("used the unbiased variance (ddof=1)",
                  gamma * (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + EPS) + beta)]
        if n == d:
            hints.append(("reduced over axis 1 without keepdims=True: the (N,) statistics broadcast along the "
                          "features", gamma * (x - x.mean(axis=1)) / np.sqrt(x.var(axis=1) + EPS) + beta))
        h.check_array(f"layernorm_forward(x) for x of shape {(n, d)}", got, ref.layernorm_forward(x, gamma, beta),
                      hints=hints)


def _nets(seed, dims=(3, 6, 5, 4)):
    """(student's copy, reference copy) of a BN network with non-trivial gamma and beta, and a plain one."""
    r = rng(seed)
    bn_net = h.init_network(list(dims), ref.BatchNorm, None, seed)
    for bn in bn_net["bn"]:
        bn.gamma, bn.beta = r.uniform(0.5, 2, bn.gamma.size), r.uniform(-1, 1, bn.beta.size)
    plain = h.init_network(list(dims), None, None, seed + 1)
    for net in (bn_net, plain):
        yield copy.deepcopy(net), net


def _scores(forward, net, x):
    result = h.call(forward, net, x.copy())
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"network_forward must return (scores, caches); got {type(result).__name__}")
    return result


def _order_hints(net, x):
    """Scores of networks built in other orders."""
    def run(block):
        out = x
        for i in range(len(net["W"]) - 1):
            out = block(i, out @ net["W"][i] + net["b"][i])
        return out @ net["W"][-1] + net["b"][-1]

    def bn(i, v):
        return net["bn"][i].forward(v) if net["bn"] else v

    return [("ReLU was applied before batch norm; the blocks are affine - BN - ReLU",
             lambda: run(lambda i, v: bn(i, np.maximum(v, 0)))),
            ("the ReLU is missing", lambda: run(lambda i, v: bn(i, v))),
            ("the batch-norm layers were not applied", lambda: run(lambda i, v: np.maximum(v, 0)))]


@register("net_forward")
def net_forward(forward):
    x = features(rng(511), 8, 3)
    for mine, want in _nets(512):
        kind = "with batch norm" if want["bn"] else "without normalisation layers"
        for mode, steps in [("training", 2), ("eval", 1)]:
            h.set_mode(mine, mode == "training")
            h.set_mode(want, mode == "training")
            for step in range(steps):
                hints = [(m, f()) for m, f in _order_hints(copy.deepcopy(mine), x)]
                scores, _ = _scores(forward, mine, x)
                h.check_array(f"scores of the network {kind}, {mode} mode, call {step + 1}", scores,
                              ref.network_forward(want, x)[0], hints=hints)


@register("net_backward")
def net_backward(forward, backward):
    r = rng(521)
    x = features(r, 8, 3)
    dscores = r.standard_normal((8, 4))
    for mine, want in _nets(522):
        kind = "with batch norm" if want["bn"] else "without normalisation layers"
        _, caches = _scores(forward, mine, x)
        grads = h.call(backward, mine, dscores.copy(), caches)
        want_grads = ref.network_backward(want, dscores, ref.network_forward(want, x)[1])
        keys = ["W", "b"] + (["gamma", "beta"] if want["bn"] else [])
        if not isinstance(grads, dict) or any(k not in grads for k in keys):
            raise AssertionError(f"network_backward must return a dict with lists under {keys}")
        for key in keys:
            if len(grads[key]) != len(want_grads[key]):
                raise AssertionError(f"grads[{key!r}] has {len(grads[key])} entries, expected {len(want_grads[key])}")
            for i, (g, w) in enumerate(zip(grads[key], want_grads[key])):
                h.check_array(f"grads[{key!r}][{i}] of the network {kind}", g, w, tol=1e-6)


def trained_loss(forward, backward, seed, layer=ref.BatchNorm):
    """Mean loss over the last 3 epochs of the standard training run."""
    x, y = h.make_spirals(100, 3, seed=seed)
    net = h.init_network(DIMS, layer, None, seed)
    losses = h.train_network(net, forward, backward, x, y, seed=seed, **TRAIN)
    steps_per_epoch = len(x) // TRAIN["batch_size"]
    return float(np.mean(losses[-3 * steps_per_epoch:]))


@register("net_trains")
def net_trains(forward, backward):
    loss = trained_loss(forward, backward, seed=3)
    if not np.isfinite(loss) or loss >= LOSS_THRESHOLD:
        raise AssertionError(
            f"after {TRAIN['epochs']} epochs of SGD (lr {TRAIN['lr']}) on the spirals the loss is {loss:.3f}; a "
            f"working network gets below {LOSS_THRESHOLD} (chance is ln 3 = 1.10). Check the update direction "
            "of the gradients and the backward pass through every block")


# --- concept questions ---------------------------------------------------------------

@register("q_preprocessing")
def q_preprocessing(answer):
    choice("the question on preprocessing", answer, "c", "abcd", {
        "a": "Both of those standardise each feature over examples (the training set, or a mini-batch): that is "
             "batch norm twice. Layer norm's statistics never involve another example.",
        "b": "The two are swapped: compare the axis each one averages over with section 1's table.",
        "d": "Layer norm subtracts each example's mean before it divides: scaling a row to unit length does not "
             "centre it, and divides by the row's norm, not by its standard deviation about its mean.",
    })


@register("q_bias_before_bn")
def q_bias_before_bn(answer):
    net = h.init_network(list(DIMS), ref.BatchNorm, None, 521)
    x, y = h.make_spirals(20, 3, seed=521)
    scores, caches = ref.network_forward(net, x)
    grads = ref.network_backward(net, h.softmax_loss(scores, y)[1], caches)
    # the fact the question asks about, measured: the bias of every layer that feeds batch norm gets 0
    assert all(np.abs(db).max() < 1e-12 for db in grads["b"][:-1]), "the reference contradicts the question"
    choice("the question on the bias before batch norm", answer, "b", "abcd", {
        "a": "The gradient arriving at z is batch norm's dx, and its sum over the batch is not arbitrary: follow a "
             "constant added to one feature of every example through that feature's batch mean.",
        "c": "beta is added after the normalisation: it cannot change what the normalisation does to a constant "
             "added before it, at initialisation or later.",
        "d": "eps enters only through the variance, and adding the same constant to a feature of every example "
             "leaves that feature's variance unchanged.",
    })
