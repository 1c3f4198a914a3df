import networkx as nx
import pytest

from domains.graphs import datasets, generators, molecular
from domains.graphs.metrics import evaluate_file, graph_metrics
from domains.graphs.readers import write_graphs
from sciddm.errors import ConfigError, DataError
from sciddm.evaluation import evaluate


def test_reference_against_itself_gives_zero_mmd_and_train_copy_has_no_novelty(tmp_path):
    graphs = generators.community_small(num_graphs=10, seed=0)
    write_graphs(tmp_path / "g.g6", graphs)
    out = evaluate_file(tmp_path / "g.g6", tmp_path / "g.g6", train=tmp_path / "g.g6", validity="connected")
    assert out["num_graphs"] == 10 and out["uniqueness"] == 1.0 and out["novelty"] == 0.0 and out["vun"] == 0.0
    assert out["validity"] == 1.0
    for stat in ("degree", "clustering", "orbit", "spectral"):
        for protocol in ("emd", "tv"):
            assert out[f"{stat}_mmd2_{protocol}"] == pytest.approx(0.0, abs=1e-12)
    assert out["nspdk_mmd2"] == pytest.approx(0.0, abs=1e-12)


def test_ratio_is_one_when_samples_are_the_training_set():
    train = generators.planar(num_graphs=10, seed=1)
    test = generators.planar(num_graphs=10, seed=2)
    out = graph_metrics(train, reference=test, train=train, validity="planar", nspdk=False)
    assert out["mean_ratio"] == pytest.approx(1.0)
    assert out["validity"] == 1.0 and out["novelty"] == 0.0


def test_dataset_option_uses_its_test_split_train_split_and_validity(tmp_path):
    write_graphs(tmp_path / "er.g6", generators.erdos_renyi([64] * 5, p=0.09, seed=0))
    out = evaluate_file(tmp_path / "er.g6", dataset="planar", nspdk=False)
    assert out["validity"] == 0.0 and out["novelty"] == 1.0
    assert out["degree_ratio"] > 10 and out["orbit_mmd2_tv"] > 0.5
    assert "nspdk_mmd2" not in out


def test_entry_point_is_registered(tmp_path):
    write_graphs(tmp_path / "g.g6", [nx.cycle_graph(4)])
    assert evaluate("graphs", tmp_path / "g.g6")["num_graphs"] == 1


def test_molecular_metrics_on_real_qm9():
    graphs = molecular.smiles_to_graphs(molecular.qm9_smiles(100), molecular.QM9_ATOMS)
    broken = graphs[50].copy()
    broken.add_edges_from((0, v, {"type": 3}) for v in range(1, len(broken)) if not broken.has_edge(0, v))
    out = graph_metrics(graphs[:50] + [broken, graphs[0]], train=graphs[:10], atoms=molecular.QM9_ATOMS)
    assert out["mol_validity"] == pytest.approx(51 / 52)
    assert out["mol_uniqueness"] == pytest.approx(50 / 51)
    assert out["mol_novelty"] == pytest.approx(40 / 50)


def test_bad_options_and_files(tmp_path):
    write_graphs(tmp_path / "g.g6", [nx.cycle_graph(4), nx.cycle_graph(9)])
    with pytest.raises(ConfigError, match="unknown graph evaluation option"):
        evaluate_file(tmp_path / "g.g6", colour="red")
    with pytest.raises(ConfigError, match="unknown graph validity 'cubic'"):
        evaluate_file(tmp_path / "g.g6", validity="cubic")
    with pytest.raises(DataError, match=r"g.g6, record 1: 9 nodes, more than the maximum 8"):
        evaluate_file(tmp_path / "g.g6", max_nodes=8)


def test_statistic_with_zero_train_vs_test_mmd_has_no_ratio():
    grids = generators.grid(min_side=3, max_side=5)  # all clustering coefficients are 0
    out = graph_metrics(grids[:3], reference=grids[3:6], train=grids[6:9])
    assert "clustering_ratio" not in out and out["clustering_mmd2_tv"] == 0.0
    ratios = [out[f"{s}_ratio"] for s in ("degree", "orbit", "spectral")]
    assert out["mean_ratio"] == pytest.approx(sum(ratios) / 3)


def test_molecular_dataset_option_with_limit_scores_its_own_test_split(tmp_path):
    test = datasets.load_dataset("qm9", limit=200).test
    write_graphs(tmp_path / "test.pt", test)
    out = evaluate_file(tmp_path / "test.pt", dataset="qm9", limit=200)
    assert out["mol_validity"] == 1.0 and out["num_graphs"] == 20
    assert out["degree_mmd2_tv"] == pytest.approx(0.0, abs=1e-12) and out["nspdk_mmd2"] == pytest.approx(0.0, abs=1e-12)
