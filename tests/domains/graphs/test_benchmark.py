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


def _study(seeds, methods, fresh_seed=30000):
    """A paired-study JSON payload whose values encode (method, seed), so misalignment shows."""
    columns = benchmark.NOISE_COLUMNS + benchmark.PROFILE_COLUMNS
    results = {method: {"fresh": {c: [offset + seed for seed in seeds] for c in columns}}
               for method, offset in methods.items()}
    return {"settings": {"sampling_seeds": list(seeds), "fresh": 200, "fresh_seed": fresh_seed, "paired": True},
            "results": {"community_small": results}}


def test_pooling_aligns_methods_by_seed_across_files():
    baselines = _study(range(0, 6), {"SBM fit": 1000.0})
    model_a, model_b = _study([3, 4, 5], {"model": 2000.0}), _study([0, 1, 2, 7], {"model": 2000.0})
    pooled, seeds = benchmark.pool_paired([baselines, model_b, model_a], "community_small")
    assert seeds == [0, 1, 2, 3, 4, 5]  # seed 7 has no baseline row
    assert pooled["model"]["fresh"]["degree_mmd2_emd"] == [2000.0 + s for s in seeds]
    assert pooled["SBM fit"]["fresh"]["validity"] == [1000.0 + s for s in seeds]
    mean, error = benchmark.paired_differences(pooled, "model", "SBM fit")["orbit_mmd2_tv"]
    assert mean == pytest.approx(1000.0) and error == pytest.approx(0.0)


def test_pooling_refuses_other_references_and_repeated_seeds():
    with pytest.raises(benchmark.ConfigError, match="share one reference"):
        benchmark.pool_paired([_study([0, 1], {"a": 0.0}), _study([2, 3], {"a": 0.0}, fresh_seed=20000)],
                              "community_small")
    with pytest.raises(benchmark.ConfigError, match="seed 1 in two pooled files, with different values"):
        benchmark.pool_paired([_study([0, 1], {"a": 0.0}), _study([1, 2], {"a": 5.0})], "community_small")
    # a rerun of the same rows (equal values at the shared seed) is pooled once
    pooled, seeds = benchmark.pool_paired([_study([0, 1], {"a": 0.0}), _study([1, 2], {"a": 0.0})], "community_small")
    assert seeds == [0, 1, 2] and pooled["a"]["fresh"]["validity"] == [0.0, 1.0, 2.0]


def test_training_count_generator_takes_its_node_counts_from_the_training_graphs():
    train = generators.community_small(num_graphs=5, seed=3)  # a few sizes only
    drawn = benchmark.generator_with_training_counts(train, 400, seed=2)
    counts = {g.number_of_nodes() for g in train}
    assert {g.number_of_nodes() for g in drawn} == counts  # every training size, and only those
    again = benchmark.generator_with_training_counts(train, 400, seed=2)
    assert [sorted(g.edges()) for g in again] == [sorted(g.edges()) for g in drawn]
    study = benchmark.noise_study("community_small", [0, 1], 4, {}, [], True)
    train_split = benchmark.load_dataset("community_small").train
    for k, seed in enumerate([0, 1]):
        reference = generators.community_small(num_graphs=4, seed=benchmark.FRESH_REFERENCE_SEED)
        expected = benchmark.scored(benchmark.generator_with_training_counts(train_split, 4, seed), reference,
                                    "connected")
        assert study[benchmark.TRAINING_COUNTS_ROW]["fresh"]["degree_mmd2_emd"][k] == \
            pytest.approx(expected["degree_mmd2_emd"])
