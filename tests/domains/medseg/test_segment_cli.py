"""End to end: train the synthetic config a few steps, segment a NIfTI through the script, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from domains.medseg.ensemble import predictive_entropy
from domains.medseg.io import read_nifti, write_nifti
from domains.medseg.metrics import dice
from domains.medseg.segment import main as segment
from domains.medseg.synthetic import SyntheticConfig, synthetic_sample
from sciddm.checkpoints import load_model
from sciddm.cli import main as sciddm

CONFIG = "configs/medseg/synthetic_2d.yaml"
AFFINE = np.array([[0.0, -0.8, 0.0, 40.0], [0.8, 0.0, 0.0, -12.0], [0.0, 0.0, 2.5, 3.0], [0, 0, 0, 1]])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(config, checkpoint) after 3 training steps on 24 synthetic 32x32 images."""
    root = tmp_path_factory.mktemp("medseg")
    assert sciddm(["fit", "--config", CONFIG, "--trainer.max_steps", "3", "--trainer.default_root_dir", str(root),
                   "--trainer.val_check_interval", "3", "--trainer.limit_val_batches", "1",
                   "--trainer.enable_progress_bar", "false", "--model.init_args.val_num_samples", "2",
                   "--data.init_args.synthetic_samples", "24", "--data.init_args.synthetic_shape", "[32, 32]"]) == 0
    (ckpt,) = root.glob("lightning_logs/version_0/checkpoints/*.ckpt")
    return root / "lightning_logs/version_0/config.yaml", ckpt


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    """A 32x32x3 image (three synthetic slices) and its labels on a rotated, anisotropic grid."""
    folder = tmp_path_factory.mktemp("case")
    pairs = [synthetic_sample(i, SyntheticConfig(shape=(32, 32)), seed=5) for i in range(3)]
    image = np.stack([x[0] for x, _ in pairs], axis=-1)
    labels = np.stack([y for _, y in pairs], axis=-1)
    write_nifti(folder / "img.nii.gz", image, AFFINE, (0.8, 0.8, 2.5))
    write_nifti(folder / "gt.nii.gz", labels.astype(np.uint8), AFFINE, (0.8, 0.8, 2.5))
    return folder / "img.nii.gz", folder / "gt.nii.gz"


def segment_args(trained, image: Path, output: Path, *extra: str) -> list[str]:
    config, ckpt = trained
    return ["--config", str(config), "--ckpt_path", str(ckpt), "--image", str(image), "--output", str(output),
            "--ensemble", "3", "--steps", "2", *extra]


def test_segment_writes_labels_and_uncertainty_on_the_image_grid(trained, case, tmp_path, capsys):
    image, reference = case
    out = tmp_path / "seg.nii.gz"
    assert segment(segment_args(trained, image, out, "--fusion", "majority", "--reference", str(reference),
                                "--overlay", str(tmp_path / "overlay.png"))) == 0
    summary = json.loads(capsys.readouterr().out)
    labels, uncertainty = read_nifti(out), read_nifti(tmp_path / "seg_uncertainty.nii.gz")
    source = read_nifti(image)  # the header stores the affine in float32: compare with what was read
    assert np.allclose(source.affine, AFFINE, atol=1e-6)
    for written in (labels, uncertainty):
        assert np.array_equal(written.affine, source.affine) and written.spacing == source.spacing
        assert written.data.shape == (32, 32, 3)
    assert set(np.unique(labels.data)) <= {0, 1} and np.issubdtype(labels.data.dtype, np.integer)
    # majority of 3 votes: the fused probabilities are vote fractions 0, 1/3, 2/3 or 1, so only two entropies exist
    allowed = [0.0, float(predictive_entropy(np.array([1 / 3, 2 / 3])))]
    assert np.all(np.isclose(uncertainty.data[..., None], allowed, atol=1e-6).any(-1))
    truth = read_nifti(reference).data
    assert summary["volume_dice_c1"] == pytest.approx(dice(labels.data == 1, truth == 1))
    assert summary["nfe_per_draw"] == 2 and summary["ensemble"] == 3
    assert (tmp_path / "overlay.png").stat().st_size > 1000


def test_same_seed_same_segmentation(trained, case, tmp_path, capsys):
    image, _ = case
    runs = []
    for name in ("a", "b"):
        assert segment(segment_args(trained, image, tmp_path / f"{name}.nii.gz", "--seed", "3",
                                    "--uncertainty", str(tmp_path / f"{name}_u.nii"))) == 0
        runs.append(read_nifti(tmp_path / f"{name}_u.nii").data)
    assert np.array_equal(runs[0], runs[1])
    capsys.readouterr()


def bad_files(folder: Path, case) -> dict[str, tuple[Path, list[str], str]]:
    """name -> (file the message must name, extra arguments, message fragment)."""
    image, reference = case
    garbage = folder / "garbage.nii.gz"
    garbage.write_bytes(b"\x1f\x8b not a NIfTI at all")
    four_d = folder / "four_d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 2), np.float32), np.eye(4)), four_d)
    small = folder / "small_gt.nii.gz"
    write_nifti(small, np.zeros((32, 30, 3), np.uint8), AFFINE)
    shifted = folder / "shifted_gt.nii.gz"
    moved = AFFINE.copy()
    moved[0, 3] += 1.0  # the same voxels, one millimetre off
    write_nifti(shifted, read_nifti(reference).data, moved)
    return {"missing": (folder / "none.nii.gz", ["--image", str(folder / "none.nii.gz")], "no such NIfTI file"),
            "unreadable": (garbage, ["--image", str(garbage)], "cannot be read as NIfTI"),
            "4D": (four_d, ["--image", str(four_d)], "expected a 2D or 3D image, found 4D"),
            "shape": (small, ["--reference", str(small)], "does not match image"),
            "affine": (shifted, ["--reference", str(shifted)], "affine differs")}


@pytest.mark.parametrize("kind", ["missing", "unreadable", "4D", "shape", "affine"])
def test_bad_input_exits_2_naming_the_file_and_writes_nothing(trained, case, tmp_path, capsys, kind):
    named, extra, message = bad_files(tmp_path, case)[kind]
    out = tmp_path / "seg.nii.gz"
    assert segment(segment_args(trained, case[0], out, *extra)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(named) in lines[0] and message in lines[0]
    assert not out.exists() and not (tmp_path / "seg_uncertainty.nii.gz").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--fusion", "median"], "unknown fusion 'median'"),
    (["--ensemble", "0"], "--ensemble and --batch_size must be >= 1"),
    (["--uncertainty", "u.png"], "--uncertainty u.png must end in .nii or .nii.gz"),
])
def test_bad_options_exit_2(trained, case, tmp_path, capsys, extra, message):
    assert segment(segment_args(trained, case[0], tmp_path / "seg.nii.gz", *extra)) == 2
    assert message in capsys.readouterr().err


def test_sciddm_sample_writes_held_out_segmentations_as_nifti(trained, tmp_path, capsys):
    config, ckpt = trained
    out = tmp_path / "drawn.nii.gz"
    assert sciddm(["sample", "--config", str(config), "--ckpt_path", str(ckpt), "--num_samples", "3",
                   "--batch_size", "3", "--steps", "2", "--output", str(out)]) == 0
    capsys.readouterr()
    written = read_nifti(out)
    assert written.data.shape[:2] == (32, 32) and set(np.unique(written.data)) <= {0, 1}
    metrics = json.loads((tmp_path / "drawn.metrics.json").read_text())  # "x.nii.gz" -> x.metrics.json
    _, datamodule, _ = load_model(config)
    _, context = datamodule.sample_template(3)
    slices = context["position"][:, 0].numpy()
    reference = datamodule.datasets["val"].volumes[0][1][:, :, slices]
    assert metrics["nfe"] == 2
    assert metrics["pooled_dice_c1"] == pytest.approx(dice(written.data[:, :, slices] == 1, reference == 1))


def test_sciddm_sample_in_several_batches_covers_successive_items(trained, tmp_path, capsys):
    config, ckpt = trained
    _, datamodule, _ = load_model(config)
    _, whole = datamodule.sample_template(3)
    _, tail = datamodule.sample_template(2, indices=torch.tensor([1, 2]))
    assert torch.equal(tail["position"], whole["position"][1:])
    out = tmp_path / "batched.nii.gz"
    assert sciddm(["sample", "--config", str(config), "--ckpt_path", str(ckpt), "--num_samples", "3",
                   "--batch_size", "2", "--steps", "2", "--output", str(out)]) == 0
    assert json.loads((tmp_path / "batched.metrics.json").read_text())["num_samples"] == 3
