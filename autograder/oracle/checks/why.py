"""Hidden checks for lesson 7: the three concept questions (why batch norm works)."""
import numpy as np

from .. import reference as ref
from . import register, rng
from .questions import choice, number


@register("q_scaled_gradient")
def q_scaled_gradient(answer):
    r = rng(701)
    u, W = r.standard_normal((40, 6)), r.standard_normal((6, 5))
    gamma, beta, dout = r.uniform(0.5, 2, 5), r.standard_normal(5), r.standard_normal((40, 5))

    def grad_W(weights):
        _, cache = ref.batchnorm_forward(u @ weights, gamma, beta)
        return u.T @ ref.batchnorm_backward(dout, cache)[0]

    # the fact the question asks about, measured: the factor by which dW changes when W is multiplied by 10
    factor = np.linalg.norm(grad_W(10 * W)) / np.linalg.norm(grad_W(W))
    number("the question on the gradient of weights scaled by 10", answer, round(float(factor), 3), misconceptions=[
        (10, "That is the factor for an affine layer that nothing normalises. Here batch norm divides z = u @ W by "
             "its standard deviation, which grows with W too: redo the chain rule through that division."),
        (1, "The output does not change, but the gradient is taken with respect to W itself: a change dW moves "
            "10 W by a smaller fraction of its size than it moves W."),
        (0.01, "A factor 1/a^2 is how the relative step, |lr * dW| / |W|, changes (section 1): it combines the "
               "change of the gradient with the change of |W|. The question asks about the gradient alone."),
    ])


@register("q_noisy_bn")
def q_noisy_bn(answer):
    choice("the question on noisy batch norm", answer, "b", "abcd", {
        "a": "That is what the internal-covariate-shift explanation predicts. Santurkar et al. measured otherwise, "
             "and so does section 3: compare the accuracies of the three networks there.",
        "c": "The random scale multiplies the gradient by a factor between 0.5 and 2 per feature and step: noisy, "
             "but not growing from step to step. Section 3 shows how the run ends.",
        "d": "Eval mode uses the running statistics and no noise; the noise only made training harder. Section 3 "
             "measures the accuracy in eval mode.",
    })


@register("q_sorted_batches")
def q_sorted_batches(answer):
    choice("the question on class-sorted batches", answer, "b", "abcd", {
        "a": "The running statistics average the batches the network saw in training, but the network learned with "
             "each batch normalised by its own class's statistics: eval mode gives it inputs it never saw.",
        "c": "Eval mode normalises with the running statistics, not the batch's: it cannot recover what training "
             "learned from batches of one class. Section 5 measures both.",
        "d": "With momentum 0.1 the running statistics weight the most recent batches most (lesson 5), not the "
             "first ones.",
    })
