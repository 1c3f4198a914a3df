"""The graph DataModule as the core sees it: sample templates, writing, scoring, and the configs' fields."""

import dataclasses
from pathlib import Path

import networkx as nx
import pytest
import torch
import yaml

from domains.graphs.convert import to_data
from domains.graphs.data import GraphDataModule, dense_batch, marginals
from domains.graphs.readers import read_graphs, write_graphs
from sciddm.checkpoints import load_model

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "graphs"
CONFIG_NAMES = ("community_small", "community_small_large", "community_small_cut_dropout",
                "community_small_large_cut_dropout", "planar", "sbm", "grid", "qm9", "moses")


def test_template_node_counts_follow_the_training_distribution(tmp_path):
    write_graphs(tmp_path / "train.pt", [nx.path_graph(3), nx.path_graph(3), nx.cycle_graph(5)])
    dm = GraphDataModule(train_file=str(tmp_path / "train.pt"), max_nodes=8)
    template, context = dm.sample_template(3000, torch.Generator().manual_seed(0))
    counts = context["node_mask"].sum(1)
    assert set(counts.tolist()) == {3, 5} and context["node_mask"].shape == (3000, 5)
    assert (counts == 3).float().mean().item() == pytest.approx(2 / 3, abs=0.03)  # 5 sigma of a binomial
    # real nodes first, then padding; the template is the empty graph
    assert torch.equal(context["node_mask"], torch.arange(5)[None] < counts[:, None])
    assert template["nodes"].abs().sum() == 0 and template["edges"].abs().sum() == 0
    again, context_again = dm.sample_template(3000, torch.Generator().manual_seed(0))
    assert torch.equal(context_again["node_mask"], context["node_mask"])  # same seed, same sizes


def test_written_samples_read_back_as_the_same_graphs_and_score_zero_against_themselves(tmp_path):
    dm = GraphDataModule("community_small", max_nodes=20)
    dm.setup()
    test = dm.splits["test"]
    batch = dense_batch([to_data(g) for g in test])
    samples = {"nodes": batch["nodes"], "edges": batch["edges"]}
    path = dm.write_samples(samples, batch["context"], tmp_path / "s.pt")
    back = read_graphs(path)
    assert [sorted(g.edges()) for g in back] == [sorted(g.edges()) for g in test]
    metrics = dm.evaluate_samples(samples, batch["context"])
    assert metrics["num_graphs"] == 20 and metrics["novelty"] == 1.0  # test graphs are not training graphs
    for stat in ("degree", "clustering", "orbit", "spectral"):
        assert metrics[f"{stat}_mmd2_emd"] == pytest.approx(0.0, abs=1e-12)
    assert "validity" not in metrics  # Community-small has no validity rule
    assert dm.render_samples(samples, batch["context"], tmp_path / "s.png").stat().st_size > 0


def test_planar_module_scores_validity_and_vun():
    dm = GraphDataModule("planar", max_nodes=64, nspdk=False)
    dm.setup()
    graphs = dm.splits["test"][:3] + [nx.complete_graph(5)]  # K5 is not planar
    batch = dense_batch([to_data(g) for g in graphs])
    metrics = dm.evaluate_samples({"nodes": batch["nodes"], "edges": batch["edges"]}, batch["context"])
    assert metrics["validity"] == 0.75 and metrics["vun"] == 0.75
    assert "nspdk_mmd2" not in metrics


def _config(name: str) -> dict:
    return yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_marginals_and_sizes_match_its_data(name):
    """The configs take their priors from the data (marginal: data); the core's count over the training loader
    equals DiGress's marginals of the training graphs (edge types over all pairs of distinct nodes)."""
    config = _config(name)
    data = config["data"]["init_args"]
    fields = config["model"]["init_args"]["fields"]
    network = config["model"]["init_args"]["network"]["init_args"]
    assert fields["nodes"]["init_args"]["marginal"] == fields["edges"]["init_args"]["marginal"] == "data"
    module, datamodule, _ = load_model(CONFIGS / f"{name}.yaml")
    datamodule.setup("fit")
    module.count_data_marginals(datamodule.train_dataloader)
    train = datamodule.splits["train"]
    node, edge = marginals(train, data["num_node_types"], data["num_edge_types"])
    torch.testing.assert_close(module.fields["nodes"].path.pi, node)
    torch.testing.assert_close(module.fields["edges"].path.pi, edge)
    assert fields["edges"]["init_args"]["symmetric"] is True
    assert network["num_node_types"] == data["num_node_types"] and network["num_edge_types"] == data["num_edge_types"]
    assert max(g.number_of_nodes() for g in train) <= data["max_nodes"]


def test_large_community_config_changes_only_the_model_and_its_training():
    """community_small_large.yaml is scored beside community_small.yaml: same data, fields and sampler (so the
    comparison is of the network and its training only), a wider and deeper network, a cosine-decayed lr."""
    small, large = _config("community_small"), _config("community_small_large")
    assert large["data"] == small["data"] and large["seed_everything"] == small["seed_everything"]
    for key in ("fields", "sampler"):
        assert large["model"]["init_args"][key] == small["model"]["init_args"][key]
    net_small = small["model"]["init_args"]["network"]["init_args"]
    net_large = large["model"]["init_args"]["network"]["init_args"]
    changed = {k for k in net_small if net_small[k] != net_large[k]}
    assert changed == {"node_dim", "edge_dim", "global_dim", "num_layers"}
    assert all(net_large[k] > net_small[k] for k in changed)
    assert large["model"]["init_args"]["lr_decay"] == "cosine"
    assert large["trainer"]["max_steps"] == 9000


@pytest.mark.parametrize("name", ["community_small", "community_small_large"])
def test_cut_dropout_config_changes_only_the_training_corruption(name):
    """{name}_cut_dropout.yaml is {name}.yaml with the edge field's cut dropout (rho 0.2 at t <= 0.5) and the data
    module's bisection sides: nothing else (network, sampler, data, training) differs."""
    plain, dropout = _config(name), _config(f"{name}_cut_dropout")
    edges_plain = plain["model"]["init_args"]["fields"].pop("edges")
    edges_dropout = dropout["model"]["init_args"]["fields"].pop("edges")
    assert edges_dropout["class_path"] == "domains.graphs.cut_dropout.CutDropoutEdgeField"
    assert edges_dropout["init_args"] == edges_plain["init_args"] | {"cut_dropout": 0.2, "cut_dropout_max_time": 0.5}
    assert dropout["data"]["init_args"] == plain["data"]["init_args"] | {"cut_sides": True}
    for config in (plain, dropout):
        config["trainer"].pop("default_root_dir")
        config.pop("data")
    assert dropout == plain


def test_cut_augment_config_adds_only_the_cut_injection():
    """community_small_cut_augment.yaml is community_small_cut_dropout.yaml plus cut injection (rho 0.2, 2 edges)."""
    dropout, augment = _config("community_small_cut_dropout"), _config("community_small_cut_augment")
    edges_dropout = dropout["model"]["init_args"]["fields"].pop("edges")
    edges_augment = augment["model"]["init_args"]["fields"].pop("edges")
    assert edges_augment == edges_dropout | {"init_args": edges_dropout["init_args"] | {
        "cut_injection": 0.2, "cut_injection_edges": 2}}
    for config in (dropout, augment):
        config["trainer"].pop("default_root_dir")
    assert augment == dropout


def test_cut_dropout_config_samples_exactly_like_the_plain_config():
    """Cut dropout acts in training only: with the same network and seed both configs draw the same graphs."""
    modules = []
    for name in ("community_small", "community_small_cut_dropout"):
        torch.manual_seed(0)
        module, datamodule, _ = load_model(CONFIGS / f"{name}.yaml")
        module.ema = None
        datamodule.setup()
        module.count_data_marginals(datamodule.train_dataloader)
        modules.append((module, datamodule))
    (plain, data), (dropout, data_dropout) = modules
    dropout.network.load_state_dict(plain.network.state_dict())
    sampler = dataclasses.replace(plain.sampler, steps=8)
    first, _, _ = plain.sample_from(data, 6, seed=4, sampler=sampler)
    second, _, _ = dropout.sample_from(data_dropout, 6, seed=4, sampler=sampler)
    assert torch.equal(first["edges"], second["edges"]) and first["edges"].sum() > 0


class PathOracle(torch.nn.Module):
    """Predicts, whatever the noisy input, the path 0-1-...-(n-1) over the real nodes with certainty."""

    def forward(self, x_t, t, context):
        mask = context["node_mask"]
        n = mask.shape[1]
        index = torch.arange(n)
        path = ((index[:, None] - index[None, :]).abs() == 1) & mask[:, :, None] & mask[:, None, :]
        edges = torch.stack([~path, path], dim=-1).float() * 40.0
        return {"nodes": torch.zeros_like(x_t["nodes"]), "edges": edges}


def test_config_fields_sample_exactly_the_graph_an_exact_denoiser_predicts():
    """Through the community_small config's fields and sampler, a certain denoiser gives exactly its graph:
    symmetric, no self-loops, nothing on padded nodes, node counts from the training distribution."""
    module, datamodule, _ = load_model(CONFIGS / "community_small.yaml")
    module.ema = None
    module.network = PathOracle()
    datamodule.setup()
    module.count_data_marginals(datamodule.train_dataloader)  # what fit does first (marginal: data)
    samples, context, nfe = module.sample_from(datamodule, 12, seed=3)
    assert nfe == module.sampler.steps
    for edges, mask in zip(samples["edges"], context["node_mask"], strict=True):
        n = int(mask.sum())
        expected = torch.zeros_like(edges)
        expected[:n, :n] = torch.from_numpy(nx.to_numpy_array(nx.path_graph(n), dtype=int))
        assert torch.equal(edges, expected)
    sizes = {g.number_of_nodes() for g in datamodule.splits["train"]}
    assert set(context["node_mask"].sum(1).tolist()) <= sizes


def test_user_files_take_the_configured_validity_rule(tmp_path):
    write_graphs(tmp_path / "train.g6", [nx.path_graph(4), nx.star_graph(3)])
    graphs = [nx.path_graph(4), nx.cycle_graph(4), nx.empty_graph(4)]  # a training copy, new and valid, disconnected
    batch = dense_batch([to_data(g) for g in graphs])
    samples = {"nodes": batch["nodes"], "edges": batch["edges"]}
    dm = GraphDataModule(train_file=str(tmp_path / "train.g6"), max_nodes=8, validity="connected")
    metrics = dm.evaluate_samples(samples, batch["context"])
    assert metrics["validity"] == pytest.approx(2 / 3) and metrics["novelty"] == pytest.approx(2 / 3)
    assert metrics["vun"] == pytest.approx(1 / 3)
    untyped = GraphDataModule(train_file=str(tmp_path / "train.g6"), max_nodes=8)
    assert "validity" not in untyped.evaluate_samples(samples, batch["context"])
