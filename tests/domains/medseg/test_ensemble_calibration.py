"""Fusion (mean, majority, STAPLE), entropy and the AUROC / error-rate calibration helpers."""

import numpy as np
import pytest

from domains.medseg.calibration import auroc, error_rate_by_bin, midranks, uncertainty_calibration
from domains.medseg.ensemble import fuse, one_hot, predictive_entropy, staple
from sciddm.errors import ConfigError


def test_majority_vote_and_mean_fusion_by_hand():
    votes = np.array([[0, 1, 2, 1], [0, 1, 2, 2], [1, 1, 0, 0]])  # three samples, four voxels
    probabilities = np.stack([one_hot(v, 3) for v in votes])
    labels, fractions = fuse(probabilities, "majority")
    assert labels.tolist() == [0, 1, 2, 0]  # last voxel: a three-way tie goes to the lowest class
    assert fractions[:, 0].tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    soft = np.array([[[0.6, 0.4]], [[0.6, 0.4]], [[0.1, 0.9]]]).transpose(0, 2, 1)  # [K=3, C=2, 1 voxel]
    assert fuse(soft, "mean")[0].tolist() == [1]  # mean p1 = 0.567 although two of three samples vote 0
    assert fuse(soft, "majority")[0].tolist() == [0]
    with pytest.raises(ConfigError, match="unknown fusion 'median'"):
        fuse(soft, "median")


def test_staple_of_agreeing_raters_is_their_segmentation():
    labels = np.random.default_rng(0).integers(0, 3, size=(50,))
    posterior, theta = staple(np.stack([labels] * 4), 3)
    assert np.array_equal(posterior.argmax(axis=0), labels)
    assert np.allclose(theta, np.eye(3), atol=1e-3)


def test_staple_recovers_rater_sensitivity_and_specificity():
    rng = np.random.default_rng(1)
    truth = rng.random(40000) < 0.3
    performance = [(0.95, 0.98), (0.8, 0.9), (0.6, 0.95)]  # (sensitivity, specificity) of each rater
    raters = np.stack([np.where(truth, rng.random(truth.size) < se, rng.random(truth.size) > sp)
                       for se, sp in performance]).astype(int)
    posterior, theta = staple(raters, 2)
    for j, (se, sp) in enumerate(performance):
        assert theta[j, 1, 1] == pytest.approx(se, abs=0.02) and theta[j, 0, 0] == pytest.approx(sp, abs=0.02)
    fused = posterior.argmax(axis=0) == 1
    majority = raters.sum(axis=0) >= 2
    assert np.mean(fused != truth) < np.mean(majority != truth)  # weighting raters beats counting them


def test_entropy_is_zero_for_agreement_and_one_for_a_tie():
    assert predictive_entropy(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist() == [0.0, 0.0]
    assert predictive_entropy(np.array([[0.5], [0.5]]))[0] == pytest.approx(1.0)
    assert predictive_entropy(np.full((4, 1), 0.25))[0] == pytest.approx(1.0)


def test_auroc_matches_brute_force_pair_counting_with_ties():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, 200).astype(float)
    positives = rng.random(200) < scores / 6
    pos, neg = scores[positives], scores[~positives]
    brute = np.mean((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None]))
    assert auroc(scores, positives) == pytest.approx(brute)
    assert auroc([0.1, 0.2, 0.9], [False, False, True]) == 1.0
    assert auroc([0.9, 0.2, 0.1], [True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9], [True, False, False]) == 0.0
    assert np.isnan(auroc([0.1, 0.2], [False, False]))
    assert midranks(np.array([5.0, 1.0, 5.0, 3.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_error_rate_by_bin_by_hand():
    uncertainty = np.array([0.05, 0.05, 0.55, 0.95, 1.0])
    errors = np.array([0, 1, 1, 1, 0], bool)
    bins = error_rate_by_bin(uncertainty, errors, n_bins=2)
    assert bins["counts"].tolist() == [2, 3] and bins["error_rate"].tolist() == pytest.approx([0.5, 2 / 3])
    summary = uncertainty_calibration(uncertainty, np.array([1, 0, 0, 1, 1]), np.array([1, 1, 1, 0, 1]))
    assert summary["error_rate"] == pytest.approx(0.6)
    assert summary["auroc"] == pytest.approx(2.5 / 6)  # errors at 0.05, 0.55, 0.95; correct at 0.05, 1.0
    assert summary["bin_counts"].tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]  # ten bins by default
