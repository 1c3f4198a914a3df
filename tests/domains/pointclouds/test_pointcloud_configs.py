"""Every point-cloud config builds through the sciddm CLI parser and trains on a batch (tiny data sizes)."""

import math
from pathlib import Path

import pytest
import torch

from domains.pointclouds.latent_priors import MixturePrior
from sciddm.checkpoints import build_cli

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "pointclouds"

# network class, and the parameter count stated in the config header where it states one
EXPECTED = {
    "quickstart.yaml": "PointTransformerDenoiser",
    "transformer_procedural.yaml": ("PointTransformerDenoiser", 163_267),
    "transformer_completion.yaml": ("KnownPointsDenoiser", 163_267),
    "pvcnn_procedural.yaml": ("PointVoxelDenoiser", 178_595),
    "latent_procedural.yaml": ("LatentPointDenoiser", 208_339),
    "pvcnn_gpu.yaml": "PointVoxelDenoiser",
    "transformer_gpu.yaml": "PointTransformerDenoiser",
}
TINY = ["--data.init_args.source.init_args.count_per_family", "2", "--data.init_args.source.init_args.n_points", "32",
        "--data.init_args.batch_size", "4", "--data.init_args.val_fraction", "0.34", "--data.init_args.num_workers",
        "0", "--trainer.accelerator", "cpu", "--trainer.precision", "32", "--trainer.logger", "false"]  # fmt: skip


def test_every_config_is_listed():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_builds_and_gives_a_finite_loss(name, tmp_path):
    extra = {"pvcnn_gpu.yaml": ["--model.init_args.network.init_args.resolution", "8"],  # CPU cost
             "transformer_completion.yaml": ["--data.init_args.known_points", "8"],  # 32 points
             "latent_procedural.yaml": ["--data.init_args.source.init_args.count_per_family", "6"],  # its prior's fit
             }.get(name, [])  # fmt: skip
    cli = build_cli(["--config", str(CONFIGS / name), *TINY, *extra, "--trainer.default_root_dir", str(tmp_path)])
    expected = EXPECTED[name] if isinstance(EXPECTED[name], tuple) else (EXPECTED[name], None)
    network = cli.model.network
    assert type(network).__name__ == expected[0]
    if expected[1] is not None:
        assert sum(p.numel() for p in network.parameters()) == expected[1]
    cli.datamodule.setup("fit")
    batch = next(iter(cli.datamodule.train_dataloader()))
    assert batch["points"].shape == (4, 32, 3) and set(batch["label"].tolist()) <= {-1, 0, 1, 2}
    radii = batch["points"].norm(dim=-1).amax(dim=1)  # unit_sphere: centroid 0, largest radius exactly 1
    torch.testing.assert_close(radii, torch.ones(4), atol=1e-6, rtol=0)
    if name == "latent_procedural.yaml":  # the encoder sees the clean cloud; the prior picks its components
        assert torch.equal(batch["shape"], batch["points"])
        prior = cli.datamodule.sampling_steering({})["network_wrapper"](cli.model.network).prior
        assert isinstance(prior, MixturePrior) and all(max(s, key=s.get) == k for s, k in zip(
            prior.scores, prior.components, strict=True))  # fmt: skip
    if name == "transformer_completion.yaml":  # 8 of the 32 points known; the loss is taken over the other 24
        assert batch["known_mask"].sum().item() == 4 * 8 and batch["free_mask"].sum().item() == 4 * 24
    loss, _ = cli.model.diffusion_loss(cli.model.network, batch, torch.Generator().manual_seed(0))
    assert math.isfinite(loss.item()) and loss.item() > 0
