import numpy as np

from domains.graphs import generators
from domains.graphs.baselines import ErdosRenyiBaseline, SBMBaseline


def test_erdos_renyi_matches_pooled_density_and_node_counts():
    train = generators.community_small(num_graphs=20, seed=0)
    model = ErdosRenyiBaseline().fit(train)
    pairs = sum(len(g) * (len(g) - 1) / 2 for g in train)
    assert model.p == sum(g.number_of_edges() for g in train) / pairs
    samples = model.sample(200, seed=1)
    assert {len(g) for g in samples} <= {len(g) for g in train}
    sampled_pairs = sum(len(g) * (len(g) - 1) / 2 for g in samples)
    density = sum(g.number_of_edges() for g in samples) / sampled_pairs
    assert abs(density - model.p) < 3 * np.sqrt(model.p * (1 - model.p) / sampled_pairs)


def test_sbm_fit_recovers_generator_parameters():
    train = generators.sbm(num_graphs=10, seed=0)
    model = SBMBaseline().fit(train)
    assert abs(model.p_intra - 0.3) < 0.02 and abs(model.p_inter - 0.005) < 0.002
    sizes = {tuple(s) for s in model.block_sizes}
    assert all(len(g) in {sum(s) for s in sizes} for g in model.sample(5, seed=2))


def test_samplers_are_seeded():
    train = generators.community_small(num_graphs=10, seed=0)
    for model in (ErdosRenyiBaseline().fit(train), SBMBaseline().fit(train)):
        a, b = model.sample(3, seed=4), model.sample(3, seed=4)
        assert [sorted(g.edges()) for g in a] == [sorted(g.edges()) for g in b]
