"""The reference layer with one value per channel: batch statistics raise, as in PyTorch; running ones do not."""
import numpy as np
import pytest

from autograder.oracle import reference as ref
from test_reference import trains_over_every_axis_but_1

ONE_VALUE = [(1, 3), (1, 3, 1), (1, 3, 1, 1)]        # N, N*L, N*H*W = 1
ONE_SAMPLE_MANY_VALUES = [(1, 3, 4), (1, 3, 2, 3)]  # one sample, but L or H*W values per channel
MESSAGE = "Expected more than 1 value per channel when training"


def _x(shape, seed=0):
    return 5 * np.random.default_rng(seed).standard_normal(shape) + 12


@pytest.mark.parametrize("shape", ONE_VALUE, ids=str)
@pytest.mark.parametrize("options", [{}, {"affine": False}, {"track_running_stats": False}, {"momentum": None}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_training_on_one_value_per_channel_raises_and_stores_nothing(shape, options):
    layer = ref.BatchNorm(3, **options)
    layer.forward(_x((4,) + shape[1:]))
    before = (layer.running_mean, layer.running_var)
    with pytest.raises(ValueError, match=MESSAGE) as err:
        layer.forward(_x(shape, 1))
    assert str(shape) in str(err.value)
    for was, now in zip(before, (layer.running_mean, layer.running_var)):
        assert (was is None and now is None) or np.array_equal(was, now)  # no nan stored, nothing blended in


@pytest.mark.parametrize("shape", ONE_VALUE, ids=str)
def test_eval_mode_takes_one_value_per_channel_with_running_statistics_but_not_without(shape):
    layer = ref.BatchNorm(3)
    for seed in range(3):
        layer.forward(_x((4,) + shape[1:], seed))
    layer.eval()
    x1 = _x(shape, 9)
    out = layer.forward(x1)
    per_channel = (1, 3) + (1,) * (len(shape) - 2)
    assert out.shape == shape
    assert np.allclose(out, (x1 - layer.running_mean.reshape(per_channel))
                       / np.sqrt(layer.running_var.reshape(per_channel) + 1e-5))
    without = ref.BatchNorm(3, track_running_stats=False).eval()  # eval mode on batch statistics
    with pytest.raises(ValueError, match=MESSAGE):
        without.forward(x1)


@pytest.mark.parametrize("shape", ONE_SAMPLE_MANY_VALUES, ids=str)
def test_one_sample_with_several_values_per_channel_trains(shape):
    trains_over_every_axis_but_1(shape)


@pytest.mark.parametrize("shape", ONE_VALUE + ONE_SAMPLE_MANY_VALUES, ids=str)
@pytest.mark.parametrize("track_running_stats", [True, False])
def test_raises_exactly_where_pytorch_raises(shape, track_running_stats):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison skipped")
    x = _x(shape)
    for training in (True, False):
        tbn = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(
            3, track_running_stats=track_running_stats).double().train(training)
        mine = ref.BatchNorm(3, track_running_stats=track_running_stats).train()
        if not training:
            mine.eval()
        outcomes = []
        for call in (lambda: tbn(torch.from_numpy(x)), lambda: mine.forward(x)):
            try:
                call()
                outcomes.append("returned")
            except ValueError as err:
                outcomes.append(str(err))
        assert outcomes[0] == outcomes[1].replace(str(shape), str(torch.Size(shape))), (training, outcomes)
