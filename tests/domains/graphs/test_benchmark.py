"""benchmarks/graphs.py: the paired noise study scores each sampling seed against its own fresh reference."""

import numpy as np
import pytest

from benchmarks import graphs as benchmark
from domains.graphs import generators


def test_paired_differences_are_per_seed_differences_with_their_standard_error():
    values = {"model": [0.1, 0.4, 0.3], "baseline": [0.2, 0.2, 0.6]}
    study = {name: {"fresh": {c: list(v) for c in benchmark.NOISE_COLUMNS}} for name, v in values.items()}
    mean, error = benchmark.paired_differences(study, "model", "baseline")["degree_mmd2_emd"]
    differences = np.array([-0.1, 0.2, -0.3])
    assert mean == pytest.approx(-0.2 / 3)
    assert error == pytest.approx(np.sqrt(((differences - differences.mean()) ** 2).sum() / 2 / 3))


def test_paired_study_draws_one_reference_per_seed():
    seeds, fresh, fresh_seed = [0, 3], 6, 500
    study = benchmark.noise_study("community_small", seeds, fresh, {}, [], True, fresh_seed, paired=True)
    unpaired = benchmark.noise_study("community_small", seeds, fresh, {}, [], True, fresh_seed)
    for k, seed in enumerate(seeds):
        reference = generators.community_small(num_graphs=fresh, seed=fresh_seed + seed)
        expected = benchmark.scored(generators.community_small(num_graphs=fresh, seed=1 + seed), reference,
                                    "connected")
        assert study["generator"]["fresh"]["degree_mmd2_emd"][k] == pytest.approx(expected["degree_mmd2_emd"])
        assert study["generator"]["test"]["orbit_mmd2_tv"][k] == unpaired["generator"]["test"]["orbit_mmd2_tv"][k]
    # seed 0 meets the same reference either way; seed 3 does not
    fresh_values = [run["generator"]["fresh"]["degree_mmd2_emd"] for run in (study, unpaired)]
    assert fresh_values[0][0] == fresh_values[1][0] and fresh_values[0][1] != fresh_values[1][1]
