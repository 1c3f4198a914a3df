"""The ConStruct edge projector: every projected graph keeps the property, is edge-maximal among the proposals,
keeps earlier edges, and repeats under a seed; through a data module, every sample is planar."""

import dataclasses
import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
import yaml

from domains.graphs.constraints import (
    EdgeProjector,
    add_edges_keeping,
    check_absorbing_edges,
    project_graphs,
)
from domains.graphs.convert import to_data
from domains.graphs.data import GraphDataModule, dense_batch
from domains.graphs.readers import write_graphs
from domains.graphs.validity import is_planar
from sciddm.categorical_fields import CategoricalField
from sciddm.checkpoints import load_model
from sciddm.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "graphs"


def _state(graphs: list[nx.Graph], edge_class: int = 1) -> tuple[dict, dict]:
    batch = dense_batch([to_data(g) for g in graphs])
    return {"nodes": batch["nodes"], "edges": batch["edges"] * edge_class}, batch["context"]


def _graphs(edges: torch.Tensor, context: dict) -> list[nx.Graph]:
    out = []
    for adjacency, mask in zip(edges, context["node_mask"], strict=True):
        n = int(mask.sum())
        graph = nx.empty_graph(n)
        graph.add_edges_from(torch.nonzero(torch.triu(adjacency[:n, :n] > 0, diagonal=1)).tolist())
        out.append(graph)
    return out


def _project(projector: EdgeProjector, graphs: list[nx.Graph], seed: int = 0, edge_class: int = 1):
    state, context = _state(graphs, edge_class)
    projected = projector(state, 0.5, context, torch.Generator().manual_seed(seed))
    edges = projected["edges"]
    assert torch.equal(edges, edges.transpose(1, 2)) and not edges.diagonal(dim1=1, dim2=2).any()
    return edges, context


@pytest.mark.parametrize(("proposal", "kept"), [(nx.complete_graph(5), 9), (nx.complete_bipartite_graph(3, 3), 8)])
def test_kuratowski_graphs_lose_exactly_one_edge_whatever_the_order(proposal, kept):
    """K5 and K3,3 are not planar, and each minus any one edge is: every order tried keeps all edges but one."""
    results = set()
    for seed in range(12):
        edges, context = _project(EdgeProjector("planar"), [proposal], seed)
        (graph,) = _graphs(edges, context)
        assert graph.number_of_edges() == kept and nx.check_planarity(graph)[0]
        assert set(graph.edges()) <= set(proposal.edges())
        results.add(frozenset(graph.edges()))
    assert len(results) > 1  # the refused edge depends on the seeded order


def test_projection_of_a_dense_proposal_is_edge_maximal_planar_and_a_subgraph():
    """Brute force on random dense proposals: the result is planar, inside the proposal, and adding back any
    refused proposal breaks planarity; for the complete graph that makes a triangulation, 3n - 6 edges."""
    proposals = [nx.gnp_random_graph(n, 0.7, seed=n) for n in (7, 9, 11)] + [nx.complete_graph(8)]
    edges, context = _project(EdgeProjector("planar"), proposals, seed=3)
    for proposal, graph in zip(proposals, _graphs(edges, context), strict=True):
        assert nx.check_planarity(graph)[0] and set(graph.edges()) <= set(proposal.edges())
        for edge in set(proposal.edges()) - set(graph.edges()):
            assert not nx.check_planarity(nx.Graph([*graph.edges(), edge]))[0]
    assert _graphs(edges, context)[-1].number_of_edges() == 3 * 8 - 6


def test_earlier_edges_are_kept_and_removed_edges_stay_removed():
    projector = EdgeProjector("planar")
    without_01 = nx.complete_graph(5)
    without_01.remove_edge(0, 1)
    edges, context = _project(projector, [without_01])
    assert _graphs(edges, context)[0].number_of_edges() == 9  # planar as proposed: all kept
    # the next step proposes K5: the new edge (0, 1) is the one refused, whatever the order
    edges, context = _project(projector, [nx.complete_graph(5)], seed=7)
    assert set(_graphs(edges, context)[0].edges()) == set(without_01.edges())
    # a step that drops (2, 3) and proposes (0, 1) gives K5 minus (2, 3): planar, so (0, 1) now fits
    without_23 = nx.complete_graph(5)
    without_23.remove_edge(2, 3)
    edges, context = _project(projector, [without_23])
    assert set(_graphs(edges, context)[0].edges()) == set(without_23.edges())


def test_same_seed_same_projection_and_edge_classes_kept():
    proposals = [nx.gnp_random_graph(10, 0.8, seed=1), nx.complete_graph(6)]
    first, _ = _project(EdgeProjector("planar"), proposals, seed=11, edge_class=2)
    second, _ = _project(EdgeProjector("planar"), proposals, seed=11, edge_class=2)
    assert torch.equal(first, second) and set(first.unique().tolist()) == {0, 2}


def test_graphs_of_different_sizes_in_one_batch():
    edges, context = _project(EdgeProjector("planar"), [nx.complete_graph(4), nx.complete_graph(7)])
    small, large = _graphs(edges, context)
    assert small.number_of_edges() == 6 and large.number_of_edges() == 3 * 7 - 6  # K4 planar; K7 -> triangulation


def test_adding_edges_skips_pairs_already_there_and_empty_candidate_lists():
    graph = nx.complete_graph(5)
    graph.remove_edge(0, 1)
    assert add_edges_keeping(graph, [(0, 1), (2, 3)], is_planar) == [(0, 1)]
    assert graph.has_edge(2, 3) and not graph.has_edge(0, 1)  # the existing edge survives the all-at-once try
    assert add_edges_keeping(nx.empty_graph(0), [], nx.is_forest) == []
    assert [g.number_of_nodes() for g in project_graphs([nx.empty_graph(0)], "forest")] == [0]


def test_forest_constraint_keeps_a_spanning_forest_of_a_cycle():
    edges, context = _project(EdgeProjector("forest"), [nx.cycle_graph(6), nx.complete_graph(5)])
    for graph in _graphs(edges, context):
        assert nx.is_tree(graph)  # connected proposals: edge-maximal acyclic = spanning tree


def test_euler_bound_and_unknown_constraint():
    assert is_planar(nx.complete_graph(4)) and not is_planar(nx.complete_graph(5))
    assert is_planar(nx.empty_graph(2)) and not is_planar(nx.petersen_graph())
    with pytest.raises(ConfigError, match="unknown graph constraint 'outerplanar'"):
        EdgeProjector("outerplanar")
    with pytest.raises(ConfigError, match="unknown graph constraint"):
        GraphDataModule("planar", constraint="outerplanar")


def test_constraint_needs_an_edge_field_absorbing_into_no_edge(tmp_path):
    module, _, _ = load_model(CONFIGS / "planar_absorbing.yaml")
    check_absorbing_edges(module.fields["edges"])
    plain, _, _ = load_model(CONFIGS / "planar.yaml")
    plain.fields["edges"].set_marginal([0.9, 0.1])
    with pytest.raises(ConfigError, match="absorb into 'no edge'.*0.9, 0.1"):
        check_absorbing_edges(plain.fields["edges"])
    for prior in ("mask", "uniform"):
        with pytest.raises(ConfigError, match="absorb into 'no edge'"):
            check_absorbing_edges(CategoricalField(2, prior=prior))
    # through sampling: the data module's constraint refuses the plain config's model
    plain.fields["nodes"].set_marginal([1.0])
    write_graphs(tmp_path / "train.pt", [nx.cycle_graph(5)])
    data = GraphDataModule(train_file=str(tmp_path / "train.pt"), max_nodes=5, constraint="planar")
    with pytest.raises(ConfigError, match="absorb into 'no edge'"):
        plain.sample_from(data, 2, seed=0)


class CompleteGraphOracle(torch.nn.Module):
    """Predicts an edge between every pair of real nodes with certainty, whatever the input."""

    def forward(self, x_t, t, context):
        edges = torch.zeros(*x_t["edges"].shape[:3], 2)
        edges[..., 1] = 40.0
        return {"nodes": torch.zeros_like(x_t["nodes"]), "edges": edges}


class ConstantEdgeNetwork(torch.nn.Module):
    """Predicts every pair to be an edge with probability ``p`` (or random logits with ``p=None``)."""

    def __init__(self, p: float | None):
        super().__init__()
        self.p = p

    def forward(self, x_t, t, context):
        shape = (*x_t["edges"].shape[:3], 2)
        if self.p is None:
            edges = 3.0 * torch.randn(shape)
        else:
            edges = torch.zeros(shape)
            edges[..., 1] = float(np.log(self.p / (1 - self.p)))
        return {"nodes": torch.zeros_like(x_t["nodes"]), "edges": edges}


def _module_with(network: torch.nn.Module):
    module, _, _ = load_model(CONFIGS / "planar_absorbing.yaml")
    module.ema = None
    module.network = network
    module.fields["nodes"].set_marginal([1.0])
    return module


@pytest.mark.parametrize("sampler_change", [{"resample": 2}, {"t_min": 0.05}])
def test_projection_holds_through_repaint_and_the_final_estimate(tmp_path, sampler_change):
    """Random logits propose dense graphs; RePaint re-noising between repeats and the final most-likely-class
    estimate (a grid stopping at t_min > 0) both change edges outside the reverse step, and every sample is still
    planar with the projector, while most are not without it."""
    write_graphs(tmp_path / "train.pt", [nx.cycle_graph(n) for n in (9, 12)])
    torch.manual_seed(0)
    module = _module_with(ConstantEdgeNetwork(None))
    sampler = dataclasses.replace(module.sampler, steps=12, **sampler_change)
    planar = {}
    for constraint in (None, "planar"):
        data = GraphDataModule(train_file=str(tmp_path / "train.pt"), max_nodes=12, constraint=constraint)
        samples, context, _ = module.sample_from(data, 8, seed=1, sampler=sampler)
        planar[constraint] = [is_planar(g) for g in data.sample_graphs(samples, context)]
    assert all(planar["planar"]) and sum(planar[None]) < len(planar[None]) / 2


def test_a_run_with_the_projector_draws_the_same_noise_as_one_without(tmp_path):
    """Graphs of at most 5 nodes at edge probability 0.3 are all but surely planar (only K5 is not), so nothing is
    refused; the projector's orders come from its own generator, hence both runs give the same samples."""
    write_graphs(tmp_path / "train.pt", [nx.path_graph(n) for n in (4, 5)])
    module = _module_with(ConstantEdgeNetwork(0.3))
    sampler = dataclasses.replace(module.sampler, steps=10)
    drawn = []
    for constraint in (None, "planar"):
        data = GraphDataModule(train_file=str(tmp_path / "train.pt"), max_nodes=5, constraint=constraint)
        samples, _, _ = module.sample_from(data, 16, seed=5, sampler=sampler)
        drawn.append(samples["edges"])
    assert torch.equal(drawn[0], drawn[1]) and drawn[0].sum() > 0


def test_constrained_sampling_turns_a_complete_graph_oracle_into_triangulations(tmp_path):
    """Through planar_absorbing.yaml's fields and sampler: without the constraint the oracle's samples are complete
    graphs; with it every sample is an edge-maximal planar graph, 3n - 6 edges (a triangulation)."""
    write_graphs(tmp_path / "train.pt", [nx.cycle_graph(n) for n in (6, 8, 9)])
    module, _, _ = load_model(CONFIGS / "planar_absorbing.yaml")
    module.ema = None
    module.network = CompleteGraphOracle()
    module.fields["nodes"].set_marginal([1.0])
    sampler = dataclasses.replace(module.sampler, steps=10)
    for constraint, expected in ((None, lambda n: n * (n - 1) // 2), ("planar", lambda n: 3 * n - 6)):
        data = GraphDataModule(train_file=str(tmp_path / "train.pt"), max_nodes=9, constraint=constraint)
        samples, context, _ = module.sample_from(data, 6, seed=2, sampler=sampler)
        graphs = data.sample_graphs(samples, context)
        assert {g.number_of_nodes() for g in graphs} <= {6, 8, 9}
        assert all(g.number_of_edges() == expected(g.number_of_nodes()) for g in graphs)
        assert all(is_planar(g) for g in graphs) == (constraint is not None)


def test_every_pair_order_is_reachable_for_k4_plus_one():
    """Small exhaustive check: a proposal of K5 on top of a kept K4 (nodes 0-3) refuses exactly one of the four
    new edges of node 4, and over seeds each of the four is refused at least once."""
    refused_edges = set()
    for seed in range(40):
        projector = EdgeProjector("planar")
        k4_and_a_node = nx.complete_graph(4)
        k4_and_a_node.add_node(4)
        _project(projector, [k4_and_a_node], seed)  # the projector's orders are seeded by its first call
        state, context = _state([nx.complete_graph(5)])
        edges = projector(state, 0.5, context, torch.Generator().manual_seed(seed))["edges"]
        (graph,) = _graphs(edges, context)
        (missing,) = set(itertools.combinations(range(5), 2)) - set(graph.edges())
        refused_edges.add(missing)
    assert refused_edges == {(i, 4) for i in range(4)}


def test_absorbing_planar_config_changes_only_the_edge_prior_and_the_constraint():
    """planar_absorbing.yaml is planar.yaml with the edge field absorbing into 'no edge' and the planar projector
    on the data module: network, training and sampler are the same."""
    plain, absorbing = (yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
                        for name in ("planar", "planar_absorbing"))
    edges_plain = plain["model"]["init_args"]["fields"].pop("edges")["init_args"]
    edges_absorbing = absorbing["model"]["init_args"]["fields"].pop("edges")["init_args"]
    assert edges_absorbing == edges_plain | {"marginal": [1.0, 0.0]}
    assert absorbing["data"]["init_args"] == plain["data"]["init_args"] | {"constraint": "planar"}
    for config in (plain, absorbing):
        config["trainer"].pop("default_root_dir")
        config.pop("data")
    assert absorbing == plain


def test_projecting_graph_lists_keeps_attributes_and_is_edge_maximal():
    typed = nx.complete_graph(5)
    nx.set_node_attributes(typed, 1, "type")
    nx.set_edge_attributes(typed, 2, "type")
    graphs = [typed, nx.petersen_graph(), nx.path_graph(4)]
    projected = project_graphs(graphs, "planar", seed=1)
    assert projected[0].number_of_edges() == 9 and set(nx.get_edge_attributes(projected[0], "type").values()) == {2}
    assert set(nx.get_node_attributes(projected[0], "type").values()) == {1}
    assert nx.utils.graphs_equal(projected[2], graphs[2])  # planar already: unchanged
    for graph, original in zip(projected, graphs, strict=True):
        assert is_planar(graph) and set(graph.edges()) <= set(original.edges())
        assert all(not is_planar(nx.Graph([*graph.edges(), e])) for e in set(original.edges()) - set(graph.edges()))
    again = project_graphs(graphs, "planar", seed=1)
    assert [sorted(g.edges()) for g in again] == [sorted(g.edges()) for g in projected]
