"""Data sources on real data with known answers (QM9, PDB), the ShapeNet layout, and the data module."""

import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from domains.pointclouds.data import (
    MeshFiles,
    PointCloudDataModule,
    PointCloudDataset,
    PointCloudSet,
    ProceduralShapes,
    ProteinCAlpha,
    QM9Molecules,
)
from domains.pointclouds.io import write_points
from domains.pointclouds.proteins import ca_windows, read_ca_trace, shipped_pdb_files
from domains.pointclouds.qm9 import qm9_csv_files, read_qm9_csv
from domains.pointclouds.shapenet import load_shapenet
from sciddm.errors import ConfigError, DataError

PDB = """\
ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  GLY A   1       1.000   2.000   3.000  1.00  0.00           C
ATOM      3  CA  ALA A   2       4.800   2.000   3.000  1.00  0.00           C
HETATM    4  O   HOH A 101       9.000   9.000   9.000  1.00  0.00           O
ATOM      5  CA  GLY B   1      -1.000  -2.000  -3.000  1.00  0.00           C
END
"""


def test_qm9_geometry_and_atom_counts():
    """Methane's C-H bonds are 1.092 A and water's O-H 0.962 A in QM9 (B3LYP); atom counts match N_atoms."""
    csv = qm9_csv_files()[0]
    positions, elements = read_qm9_csv(csv, max_molecules=200)
    assert elements[0] == ["C", "H", "H", "H", "H"] and elements[2] == ["O", "H", "H"]
    np.testing.assert_allclose(np.linalg.norm(positions[0][1:] - positions[0][0], axis=1), 1.092, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(positions[2][1:] - positions[2][0], axis=1), 0.962, atol=1e-3)
    counts = pd.read_csv(csv, usecols=["N_atoms"], nrows=200)["N_atoms"].to_numpy()
    cloud_set = QM9Molecules(max_molecules=200).load()
    np.testing.assert_array_equal(cloud_set.mask.sum(axis=1), counts)
    assert cloud_set.points.shape[1] == counts.max() and np.all(cloud_set.points[~cloud_set.mask] == 0)


def test_qm9_bad_record_is_named(tmp_path):
    csv = tmp_path / "qm9.csv"
    csv.write_text('Elements,XYZ_Ang\n"[\'H\']","[[0.,0.,0.]]"\n"[\'H\',\'H\']","[[0.,0.,0.]]"\n')
    with pytest.raises(DataError, match=r"qm9\.csv, record 1: 2 elements but 1 positions"):
        read_qm9_csv(csv)


def test_protein_trace_of_a_real_structure():
    """1ete chain A: its C-alpha count equals the ATOM/CA records of the file; consecutive C-alphas 3.8 A apart."""
    path = next(p for p in shipped_pdb_files() if p.name == "1eteA.pdb.gz")
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    expected = sum(1 for line in lines if line.startswith("ATOM") and line[12:16].strip() == "CA")
    trace = read_ca_trace(path)
    assert len(trace) == expected == 134
    assert np.median(np.linalg.norm(np.diff(trace, axis=0), axis=1)) == pytest.approx(3.8, abs=0.05)


def test_protein_trace_of_a_hand_written_file(tmp_path):
    (tmp_path / "two.pdb").write_text(PDB)
    np.testing.assert_allclose(read_ca_trace(tmp_path / "two.pdb"), [[1, 2, 3], [4.8, 2, 3]])  # water skipped
    np.testing.assert_allclose(read_ca_trace(tmp_path / "two.pdb", chain="B"), [[-1, -2, -3]])
    with pytest.raises(DataError, match=r"two\.pdb: no chain 'C'; chains present: A, B"):
        read_ca_trace(tmp_path / "two.pdb", chain="C")
    (tmp_path / "empty.pdb").write_text("")
    with pytest.raises(DataError, match=r"empty\.pdb: file is empty"):
        read_ca_trace(tmp_path / "empty.pdb")


def test_ca_windows_hand_counted():
    trace = np.arange(30, dtype=float).reshape(10, 3)
    windows = ca_windows(trace, length=4, stride=3)  # starts 0, 3, 6
    np.testing.assert_array_equal(windows[:, 0, 0], [0, 9, 18])
    np.testing.assert_array_equal(windows[2], trace[6:10])
    assert ca_windows(trace, 11, 1).shape == (0, 11, 3)


def test_shapenet_pointflow_layout(tmp_path):
    rng = np.random.default_rng(0)
    shapes = {("02691156", "plane1"): rng.normal(size=(30, 3)), ("03001627", "chair1"): rng.normal(size=(30, 3))}
    for (synset, model), points in shapes.items():
        write_points(tmp_path / synset / "train" / f"{model}.npy", points)
    clouds, labels = load_shapenet(tmp_path, ["airplane", "03001627"], "train", n_points=10, seed=0)
    np.testing.assert_array_equal(labels, [0, 1])
    for cloud, source in zip(clouds, shapes.values(), strict=True):  # each cloud is a subset of its file's points
        assert all(np.isclose(source, point, atol=1e-6).all(axis=1).any() for point in cloud)
        assert len(np.unique(cloud, axis=0)) == 10
    with pytest.raises(DataError, match=r"04379243/test: no \.npy shapes for category 'table'"):
        load_shapenet(tmp_path, ["table"], "test", 10, 0)
    with pytest.raises(DataError, match=r"plane1\.npy: need one cloud of at least 100 points"):
        load_shapenet(tmp_path, ["airplane"], "train", 100, 0)
    with pytest.raises(ConfigError, match="unknown ShapeNet category 'plane'"):
        load_shapenet(tmp_path, ["plane"], "train", 10, 0)


def test_datamodule_batches_splits_and_normalisation():
    source = ProceduralShapes(families=["torus", "table"], count_per_family=5, n_points=64, seed=1)
    module = PointCloudDataModule(source, normalization="unit_sphere", batch_size=4, val_fraction=0.2,
                                  class_conditional=True, seed=3)  # fmt: skip
    module.setup()
    assert len(module.datasets["train"]) == 8 and len(module.datasets["val"]) == 2
    batch = next(iter(module.train_dataloader()))
    assert batch["points"].shape == (4, 64, 3) and batch["node_mask"].all()
    assert set(batch["label"].tolist()) <= {0, 1}
    radii = batch["points"].norm(dim=-1).amax(dim=1)
    np.testing.assert_allclose(radii.numpy(), 1.0, rtol=1e-6)
    again = PointCloudDataModule(source, "unit_sphere", 4, 0.2, True, seed=3)
    again.setup()
    assert (next(iter(again.train_dataloader()))["points"] == batch["points"]).all()


def test_label_dropout_rate_seed_and_training_split_only():
    """Label dropout p: the null label -1 replaces a label with probability p (2000 draws at p = 0.25 lie within
    4.5 binomial standard deviations of 500), p = 0 and p = 1 are exact, the same seed repeats the draws, and the
    validation split keeps every label."""
    labelled = PointCloudSet(np.zeros((4, 2, 3)), np.ones((4, 2), dtype=bool), np.array([0, 1, 2, 1]))

    def labels(p, seed, passes):
        dataset = PointCloudDataset(labelled, with_labels=True, label_dropout=p, seed=seed)
        return np.array([int(dataset[i % 4]["label"]) for i in range(4 * passes)])

    assert labels(0.0, 0, 3).tolist() == [0, 1, 2, 1] * 3 and (labels(1.0, 0, 3) == -1).all()
    drawn = labels(0.25, 5, 500)
    kept = drawn != -1
    assert abs((~kept).sum() - 500) < 4.5 * np.sqrt(2000 * 0.25 * 0.75)
    assert (drawn[kept] == np.tile([0, 1, 2, 1], 500)[kept]).all()
    np.testing.assert_array_equal(drawn, labels(0.25, 5, 500))
    source = ProceduralShapes(families=["torus", "table"], count_per_family=4, n_points=16, seed=1)
    module = PointCloudDataModule(source, val_fraction=0.5, class_conditional=True, label_dropout=1.0)
    module.setup()
    assert all(int(module.datasets["train"][i]["label"]) == -1 for i in range(4))
    assert sorted(int(module.datasets["val"][i]["label"]) for i in range(4)) == sorted(
        module.datasets["val"].labels.tolist()) and (module.datasets["val"].labels >= 0).all()  # fmt: skip
    with pytest.raises(ConfigError, match="label_dropout must be in \\[0, 1\\] and needs class_conditional, got 0.1"):
        PointCloudDataModule(source, label_dropout=0.1)


def test_global_normalisation_is_fitted_on_train_only_and_ignores_padding():
    module = PointCloudDataModule(QM9Molecules(max_molecules=60), normalization="global", val_fraction=0.25)
    module.setup()
    train = module.datasets["train"]
    real = train.points[train.mask].double()
    np.testing.assert_allclose(real.mean(0).numpy(), 0, atol=1e-5)
    assert real.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    assert (train.points[~train.mask] == 0).all()
    assert "label" not in next(iter(module.train_dataloader()))


def test_protein_source_windows_are_labelled_by_file():
    cloud_set = ProteinCAlpha(length=64, stride=32).load()
    counts = [len(ca_windows(read_ca_trace(f), 64, 32)) for f in shipped_pdb_files()]
    np.testing.assert_array_equal(np.bincount(cloud_set.labels), counts)


def test_datamodule_bad_options_and_files(tmp_path):
    with pytest.raises(ConfigError, match="class_conditional needs a labelled source; QM9Molecules has none"):
        PointCloudDataModule(QM9Molecules(10), class_conditional=True).setup()
    with pytest.raises(ConfigError, match="unknown normalization 'sphere'"):
        PointCloudDataModule(QM9Molecules(10), normalization="sphere")
    write_points(tmp_path / "few.xyz", np.zeros((5, 3)))
    with pytest.raises(DataError, match=r"few\.xyz: need one cloud of at least 16 points, got shape \[5, 3\]"):
        MeshFiles([str(tmp_path)], n_points=16).load()
    with pytest.raises(ConfigError, match="no protein has 500 residues"):
        ProteinCAlpha(length=500).load()


def test_mesh_files_sample_real_meshes():
    meshes = str(shipped_pdb_files()[0].parents[1] / "meshes")
    cloud_set = MeshFiles([meshes], n_points=256, seed=0).load()
    assert cloud_set.points.shape == (3, 256, 3)  # airplane, ant, nut


def test_sampling_hooks_follow_the_training_split(tmp_path):
    """Templates draw sizes from the training clouds; written samples return to Angstrom; validation clouds
    scored against themselves give MMD 0, COV 1 and 1-NNA 0."""
    module = PointCloudDataModule(QM9Molecules(max_molecules=40), normalization="global", val_fraction=0.25)
    module.setup()
    template, context = module.sample_template(64, torch.Generator().manual_seed(0))
    train_sizes = set(module.datasets["train"].mask.sum(1).tolist())
    assert set(context["node_mask"].sum(1).tolist()) <= train_sizes
    assert template["points"].shape == (64, module.datasets["train"].mask.shape[1], 3)
    val = module.datasets["val"]
    written = module.write_samples({"points": val.points}, {"node_mask": val.mask}, tmp_path / "samples.npy")
    raw = QM9Molecules(max_molecules=40).load()
    order = np.random.default_rng(0).permutation(40)[:10]
    np.testing.assert_allclose(np.load(written), raw.points[order], atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "samples.mask.npy"), raw.mask[order])
    assert module.render_samples({"points": val.points}, {"node_mask": val.mask}, tmp_path / "grid.png").is_file()

    shapes = PointCloudDataModule(ProceduralShapes(["torus"], count_per_family=12, n_points=64), val_fraction=0.5,
                                  class_conditional=True)  # fmt: skip
    shapes.setup()
    _, shape_context = shapes.sample_template(5)
    assert shape_context["node_mask"].all() and (shape_context["label"] == 0).all()
    val = shapes.datasets["val"]
    metrics = shapes.evaluate_samples({"points": val.points}, {"node_mask": val.mask})
    assert metrics == {"mmd_cd": 0.0, "cov_cd": 1.0, "one_nna_cd": 0.0}
