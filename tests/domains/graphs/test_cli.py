"""The Community-small config through the ``sciddm`` CLI (fit a few steps, sample, evaluate), and bad input."""

import json
from pathlib import Path

import pytest
import torch

from domains.graphs.readers import read_graphs
from sciddm.cli import main

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "graphs" / "community_small.yaml"
TINY = ["--model.init_args.network.init_args.node_dim", "8", "--model.init_args.network.init_args.edge_dim", "4",
        "--model.init_args.network.init_args.global_dim", "8", "--model.init_args.network.init_args.num_layers", "1",
        "--model.init_args.network.init_args.num_heads", "2", "--model.init_args.sampler.steps", "3",
        "--model.init_args.val_num_samples", "3", "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
        "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false"]  # fmt: skip


def test_fit_sample_evaluate_end_to_end(tmp_path, capsys):
    assert main(["fit", "--config", str(CONFIG), *TINY, "--trainer.default_root_dir", str(tmp_path)]) == 0
    logged = next(tmp_path.rglob("metrics.csv")).read_text()
    assert "val/degree_mmd2_emd" in logged and "val/novelty" in logged  # validation sampled and scored graphs
    checkpoint = next(tmp_path.rglob("*.ckpt"))
    run_config = next(tmp_path.rglob("config.yaml"))
    output = tmp_path / "samples" / "graphs.pt"
    assert main(["sample", "--config", str(run_config), "--ckpt_path", str(checkpoint), "--num_samples", "5",
                 "--output", str(output)]) == 0  # fmt: skip

    dense = torch.load(output, weights_only=True)
    edges, mask = dense["edges"], dense["node_mask"]
    assert set(dense) == {"nodes", "edges", "node_mask"} and edges.shape[0] == 5
    assert torch.equal(edges, edges.transpose(1, 2))  # undirected
    assert edges.diagonal(dim1=1, dim2=2).abs().sum() == 0  # no self-loops
    pair = mask[:, :, None] & mask[:, None, :]
    assert edges[~pair].abs().sum() == 0 and set(edges.unique().tolist()) <= {0, 1}  # nothing on padding
    assert set(mask.sum(1).tolist()) <= set(range(12, 21))  # Community-small sizes
    graphs = read_graphs(output)
    assert [g.number_of_nodes() for g in graphs] == mask.sum(1).tolist()
    assert [g.number_of_edges() for g in graphs] == (edges.sum((1, 2)) // 2).tolist()
    assert output.with_suffix(".png").stat().st_size > 0

    capsys.readouterr()
    assert main(["evaluate", "graphs", str(output), "--dataset", "community_small"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    written = json.loads(output.with_suffix(".metrics.json").read_text())  # scored by the data module
    assert metrics["num_graphs"] == 5 and written["nfe"] == 3
    for key in ("degree_mmd2_emd", "clustering_mmd2_tv", "orbit_mmd2_emd", "spectral_mmd2_tv", "mean_ratio",
                "uniqueness", "novelty", "mean_edges"):
        assert metrics[key] == pytest.approx(written[key], abs=1e-12)


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("bad.txt", "0 1\n1 2\n\n0 1\n1 x\n", "line 5: expected 'u v' or 'u v type'"),
    ("loop.txt", "0 1\n\n0 1\n2 2\n", "self-loop at node 2"),
])  # fmt: skip
def test_bad_edge_lists_exit_2_naming_file_and_graph(tmp_path, capsys, name, content, problem):
    (tmp_path / name).write_text(content)
    capsys.readouterr()
    assert main(["evaluate", "graphs", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{name}, record 1: " in err and problem in err


def test_asymmetric_and_oversized_sample_files_exit_2(tmp_path, capsys):
    edges = torch.zeros(2, 4, 4, dtype=torch.long)
    edges[:, 0, 1] = edges[:, 1, 0] = 1
    edges[1, 2, 3] = 1  # one direction only: a directed edge
    dense = {"nodes": torch.zeros(2, 4, dtype=torch.long), "edges": edges, "node_mask": torch.ones(2, 4, dtype=bool)}
    torch.save(dense, tmp_path / "directed.pt")
    capsys.readouterr()
    assert main(["evaluate", "graphs", str(tmp_path / "directed.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "directed.pt, record 1: edges tensor is not symmetric" in err and len(err.splitlines()) == 1
    assert main(["evaluate", "graphs", str(tmp_path / "directed.pt"), "--max_nodes", "3"]) == 2
    assert "directed.pt, record 0: 4 nodes, more than the maximum 3" in capsys.readouterr().err


@pytest.mark.slow
def test_default_community_small_run_beats_erdos_renyi(tmp_path):
    """The shipped config trained as is (about 4 CPU minutes) beats the Erdos-Renyi baseline on every GDSS MMD."""
    from domains.graphs.baselines import ErdosRenyiBaseline
    from domains.graphs.metrics import graph_metrics
    from sciddm.checkpoints import build_cli

    cli = build_cli(["--config", str(CONFIG), "--model.init_args.val_num_samples", "0",
                     "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path)])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    splits = cli.datamodule.splits
    samples, context, _ = cli.model.sample_from(cli.datamodule, len(splits["test"]), seed=0)
    ours = graph_metrics(cli.datamodule.sample_graphs(samples, context), splits["test"], splits["train"])
    er = ErdosRenyiBaseline().fit(splits["train"]).sample(len(splits["test"]), seed=0)
    baseline = graph_metrics(er, splits["test"], splits["train"])
    for key in ("degree_mmd2_emd", "clustering_mmd2_emd", "orbit_mmd2_emd"):
        assert ours[key] < baseline[key], key
