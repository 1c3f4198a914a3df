"""The synthetic generator: seeds, exact masks, intensities and the bias-field bound."""

import numpy as np
import pytest

from domains.medseg.synthetic import SyntheticConfig, bias_field, random_rotation, synthetic_dataset, synthetic_sample
from sciddm.errors import ConfigError

CLEAN = dict(texture_std=0.0, blur_sigma=0.0, bias_strength=0.0, noise_std=0.0)


def test_same_seed_same_samples_and_sample_index_independent_of_count():
    config = SyntheticConfig(shape=(24, 24))
    images, labels = synthetic_dataset(5, config, seed=7)
    again, _ = synthetic_dataset(3, config, seed=7)
    assert np.array_equal(images[:3], again)
    assert not np.array_equal(images, synthetic_dataset(5, config, seed=8)[0])
    assert images.shape == (5, 1, 24, 24) and labels.shape == (5, 24, 24)


@pytest.mark.parametrize("shape, classes", [((40, 40), 2), ((20, 22, 18), 3)])
def test_clean_image_is_the_class_intensity_map(shape, classes):
    config = SyntheticConfig(shape=shape, num_classes=classes, background=0.1, contrast=0.8, **CLEAN)
    for index in range(4):
        image, labels = synthetic_sample(index, config, seed=1)
        expected = 0.1 + 0.8 * labels / (classes - 1)
        assert np.allclose(image[0], expected, atol=1e-6)
        assert 0 < np.count_nonzero(labels) < labels.size
        assert set(np.unique(labels)) <= set(range(classes))


def test_noise_has_the_configured_standard_deviation():
    config = SyntheticConfig(shape=(96, 96), noise_std=0.2, texture_std=0.0, blur_sigma=0.0, bias_strength=0.0)
    image, labels = synthetic_sample(0, config)
    residual = image[0] - (config.background + config.contrast * labels)
    assert residual.std() == pytest.approx(0.2, rel=0.05)


def test_bias_field_log_is_bounded_by_the_strength_and_reaches_it():
    field = bias_field(np.random.default_rng(0), (16, 12, 10), strength=0.4)
    assert np.abs(np.log(field)).max() == pytest.approx(0.4)


def test_random_rotation_is_a_proper_rotation():
    r = random_rotation(np.random.default_rng(2), 3)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)


def test_invalid_configurations():
    with pytest.raises(ConfigError, match="2D or 3D"):
        SyntheticConfig(shape=(8,))
    with pytest.raises(ConfigError, match="num_classes must be >= 2"):
        SyntheticConfig(num_classes=1)
    with pytest.raises(ConfigError, match="radius_max < 0.5"):
        SyntheticConfig(radius_max=0.6)
