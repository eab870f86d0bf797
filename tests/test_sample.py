"""Sampling from the model: the decoder fed with random bits."""

import numpy as np
import pytest

from lcodec import learned
from lcodec.errors import InvalidInputError
from lcodec.sample import sample


def test_samples_are_deterministic_images_of_the_model(models):
    a = sample(48, 32, seed=3)
    assert a.shape == (32, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, sample(48, 32, seed=3)) and not np.array_equal(a, sample(48, 32, seed=4))
    gray = sample(20, 10, channels=1, seed=1)
    assert gray.shape == (10, 20) and np.array_equal(gray, sample(20, 10, channels=1, seed=1))
    # a draw is what the model finds plausible: it codes it in fewer bits than uniform noise of the same size
    net = models.load(models.default_for(3))
    noise = np.random.default_rng(0).integers(0, 256, a.shape, dtype=np.uint8)
    assert learned.bits_map(net, a).mean() < learned.bits_map(net, noise).mean()


def test_sample_refuses_bad_sizes():
    with pytest.raises(InvalidInputError, match="out of range"):
        sample(0, 10)
    with pytest.raises(InvalidInputError, match="out of range"):
        sample(10, 5000)
