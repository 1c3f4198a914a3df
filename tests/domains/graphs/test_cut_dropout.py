import math

import networkx as nx
import pytest
import torch

from domains.graphs.convert import to_data
from domains.graphs.cut_dropout import CutDropoutEdgeField
from domains.graphs.cuts import bisection_sides
from domains.graphs.data import GraphDataModule, dense_batch
from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.paths.categorical import Cosine

MARGINAL = [0.6, 0.4]


def field(cls=CategoricalField, **options) -> CategoricalField:
    return cls(2, prior="marginal", marginal=MARGINAL, schedule=Cosine(), loss="cross_entropy", symmetric=True,
               mask_key="node_mask", **options)


def batch_of_two_community_graphs() -> tuple[torch.Tensor, dict]:
    """Two K4 joined by one edge (8 nodes) and two triangles joined by one edge (6 nodes, padded to 8)."""
    graphs = []
    for k in (4, 3):
        graph = nx.disjoint_union(nx.complete_graph(k), nx.complete_graph(k))
        graph.add_edge(0, k)
        graphs.append(graph)
    items = [to_data(g) for g in graphs]
    for item, graph in zip(items, graphs, strict=True):
        item.cut_side = bisection_sides(graph)
    batch = dense_batch(items)
    return batch["edges"], batch["context"]


def cross_and_same(context: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool [B, N, N] masks of the real off-diagonal pairs across and within the sides."""
    mask, sides = context["node_mask"], context["cut_side"]
    real = mask[:, :, None] & mask[:, None, :] & ~torch.eye(mask.shape[1], dtype=torch.bool)
    cross = sides[:, :, None] != sides[:, None, :]
    return real & cross, real & ~cross


def plain_and_augmented(x0, t, context, seed: int, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """``x_t`` of the plain field and of the cut field with ``options``, drawn with the same seed."""
    plain, _ = field().corrupt(x0, t, context, torch.Generator().manual_seed(seed))
    augmented, _ = field(CutDropoutEdgeField, **options).corrupt(x0, t, context, torch.Generator().manual_seed(seed))
    return plain, augmented


def test_sides_of_the_hand_built_batch():
    _, context = batch_of_two_community_graphs()
    assert context["cut_side"].tolist() == [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]]  # padding 0


def test_rho_one_empties_every_cross_pair_and_keeps_the_paths_same_side_draws():
    x0, context = batch_of_two_community_graphs()
    t = torch.tensor([0.3, 0.45])
    plain, _ = field().corrupt(x0, t, context, torch.Generator().manual_seed(5))
    dropped, _ = field(CutDropoutEdgeField, cut_dropout=1.0).corrupt(x0, t, context, torch.Generator().manual_seed(5))
    cross, same = cross_and_same(context)
    assert (dropped[cross] == 0).all() and (x0[cross] == 1).any()  # the clean bridges are gone from x_t
    assert torch.equal(dropped[same], plain[same]) and not torch.equal(dropped, plain)
    outside = ~(cross | same)
    assert torch.equal(dropped[outside], x0[outside])  # diagonal and padding keep their data values
    assert torch.equal(dropped, dropped.transpose(1, 2))


def test_rho_zero_is_bit_identical_to_the_plain_field():
    x0, context = batch_of_two_community_graphs()
    t = torch.tensor([0.2, 0.7])
    generators = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    plain, _ = field().corrupt(x0, t, context, generators[0])
    same, _ = field(CutDropoutEdgeField, cut_dropout=0.0).corrupt(x0, t, context, generators[1])
    assert torch.equal(plain, same)
    assert torch.equal(generators[0].get_state(), generators[1].get_state())  # no extra random draws


def test_no_side_labels_means_the_plain_field():
    """Validation batches and sampling templates carry no sides: corrupt is the plain path's."""
    x0, context = batch_of_two_community_graphs()
    context = {"node_mask": context["node_mask"]}
    t = torch.tensor([0.2, 0.3])
    plain, _ = field().corrupt(x0, t, context, torch.Generator().manual_seed(2))
    same, _ = field(CutDropoutEdgeField, cut_dropout=1.0).corrupt(x0, t, context, torch.Generator().manual_seed(2))
    assert torch.equal(plain, same)


def test_only_graphs_at_or_below_the_time_limit_are_emptied():
    x0, context = batch_of_two_community_graphs()
    t = torch.tensor([0.5, 0.51])
    plain, dropped = plain_and_augmented(x0, t, context, 3, cut_dropout=1.0, cut_dropout_max_time=0.5)
    cross, _ = cross_and_same(context)
    assert (dropped[0][cross[0]] == 0).all()
    assert torch.equal(dropped[1], plain[1])


def test_the_fraction_of_emptied_graphs_is_rho():
    """At t = 1 the cross pairs of x_t are prior draws (all empty with prob. 0.6^16 ~ 3e-4 for the K4 pair), so a
    graph whose 16 cross pairs are all empty was (almost surely) chosen: the fraction is rho within 4 sigma."""
    x0, context = batch_of_two_community_graphs()
    repeats = 4000
    x0 = x0[:1].expand(repeats, -1, -1)
    context = {k: v[:1].expand(repeats, -1) for k, v in context.items()}
    dropped, _ = field(CutDropoutEdgeField, cut_dropout=0.3).corrupt(
        x0, torch.ones(repeats), context, torch.Generator().manual_seed(0))
    cross, _ = cross_and_same(context)
    emptied = (dropped.masked_fill(~cross, 0) == 0).flatten(1).all(1).double().mean().item()
    expected = 0.3 + 0.7 * 0.6**16
    assert emptied == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / repeats))


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="not probabilities of exclusive events"):
        field(CutDropoutEdgeField, cut_dropout=1.5)
    with pytest.raises(ConfigError, match="not probabilities of exclusive events"):
        field(CutDropoutEdgeField, cut_dropout=0.6, cut_injection=0.5)
    with pytest.raises(ConfigError, match="not probabilities of exclusive events"):
        field(CutDropoutEdgeField, cut_injection=-0.1)
    with pytest.raises(ConfigError, match="cut_injection_edges=0 must be >= 1"):
        field(CutDropoutEdgeField, cut_injection=0.1, cut_injection_edges=0)
    with pytest.raises(ConfigError, match="two different ones"):
        field(CutDropoutEdgeField, cut_injection=0.1, injected_edge=0)
    with pytest.raises(ConfigError, match="symmetric"):
        CutDropoutEdgeField(2, prior="marginal", marginal=MARGINAL, symmetric=False, cut_dropout=0.1)
    with pytest.raises(ConfigError, match="mask-prior path never shows"):
        CutDropoutEdgeField(2, prior="mask", symmetric=True, cut_injection=0.1)
    with pytest.raises(ConfigError, match="no_edge=2"):
        field(CutDropoutEdgeField, no_edge=2)


def test_datamodule_puts_sides_into_training_batches_only():
    dm = GraphDataModule("community_small", max_nodes=20, batch_size=80, cut_sides=True)
    dm.setup()
    train = next(iter(dm.split_loader("train", shuffle=False)))
    assert "cut_side" not in next(iter(dm.split_loader("val", shuffle=False)))["context"]
    for i, graph in enumerate(dm.splits["train"]):
        n = graph.number_of_nodes()
        assert torch.equal(train["context"]["cut_side"][i, :n], bisection_sides(graph))
        # Community-small's communities are the generator's halves: nodes 0..n/2-1 on side 0
        assert train["context"]["cut_side"][i, :n].tolist() == [0] * (n // 2) + [1] * (n - n // 2)
    plain = GraphDataModule("community_small", max_nodes=20, batch_size=80)
    assert "cut_side" not in next(iter(plain.split_loader("train", shuffle=False)))["context"]


def test_injection_adds_exactly_k_cross_edges_where_the_path_left_none_and_nothing_else():
    x0, context = batch_of_two_community_graphs()
    t = torch.tensor([0.05, 0.3])
    plain, injected = plain_and_augmented(x0, t, context, 5, cut_injection=1.0, cut_injection_edges=3)
    cross, same = cross_and_same(context)
    assert torch.equal(injected, injected.transpose(1, 2))
    assert torch.equal(injected[same], plain[same]) and torch.equal(injected[~(cross | same)], plain[~(cross | same)])
    changed = injected != plain
    assert (changed <= cross).all() and (plain[changed] == 0).all() and (injected[changed] == 1).all()
    assert changed.triu(1).flatten(1).sum(1).tolist() == [3, 3]


def test_injection_and_dropout_are_exclusive_with_their_probabilities():
    """rho 0.3 empties, rho_inj 0.5 injects 2 edges: at t = 0.01 (the path keeps x_0: K4 pair with its one bridge)
    a graph has 0 cross edges (emptied), 3 (injected) or 1 (neither) with probabilities 0.3, 0.5, 0.2."""
    x0, context = batch_of_two_community_graphs()
    repeats = 4000
    x0 = x0[:1].expand(repeats, -1, -1)
    context = {k: v[:1].expand(repeats, -1) for k, v in context.items()}
    plain, x_t = plain_and_augmented(x0, torch.full((repeats,), 0.01), context, 1, cut_dropout=0.3,
                                     cut_injection=0.5, cut_injection_edges=2)
    cross, _ = cross_and_same(context)
    bridges = (plain * cross).triu(1).flatten(1).sum(1)
    assert (bridges == 1).double().mean() > 0.99  # the path itself barely moves the cut at t = 0.01
    counts = (x_t * cross).triu(1).flatten(1).sum(1)[bridges == 1]
    for value, probability in ((0, 0.3), (3, 0.5), (1, 0.2)):
        fraction = (counts == value).double().mean().item()
        assert fraction == pytest.approx(probability, abs=4 * math.sqrt(probability * (1 - probability) / repeats))
