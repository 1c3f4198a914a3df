"""Checks that need a CUDA device (skipped where there is none; CI has none, the device machine has one).

The molecule model is the one configs/molecules/qm9.yaml trains on a GPU, at a small width: its outputs must
agree with the CPU's, sampling through ``sample_from`` must be seeded and keep the joint state's constraints,
and a checkpoint written during GPU training must load on the CPU (``weights_only=True``) with the same weights.
"""

from __future__ import annotations

import os

import pytest
import pytorch_lightning as pl
import torch

from domains.molecules.data import MoleculeDataModule
from domains.molecules.denoisers import EGNNDenoiser, EQGATDenoiser
from domains.molecules.io import write_sdf
from domains.molecules.representation import molecule_fields
from sciddm.checkpoints import load_weights
from sciddm.lightning.module import DiffusionModule
from sciddm.sampling import Sampler
from tests.domains.molecules.conftest import embedded

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SMILES = ["C", "CC", "CO", "CN", "C=O", "C#N", "O", "N", "CCO", "CCC", "c1ccccc1", "[NH4+]", "CC(=O)O", "C1CC1"]


@pytest.fixture(autouse=True)
def full_precision_matmuls():
    """TF32 would loosen the comparisons; TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 (used for training runs) forces
    it whatever the flags say, so it must be unset here."""
    if os.environ.get("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE") == "1":
        pytest.fail("unset TORCH_ALLOW_TF32_CUBLAS_OVERRIDE: it forces TF32 matrix products")
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "set.sdf"
    write_sdf([embedded(s) for s in SMILES], path)
    module = MoleculeDataModule(source="sdf", path=str(path), batch_size=4, seed=0, novelty=False)
    module.setup()
    return module


def small_network(kind):
    torch.manual_seed(0)
    if kind is EQGATDenoiser:
        return EQGATDenoiser(hidden_dim=32, vector_dim=8, edge_dim=16, time_dim=16, num_layers=2)
    return EGNNDenoiser(hidden_dim=32, edge_dim=16, num_layers=2)


@pytest.mark.parametrize("kind", [EGNNDenoiser, EQGATDenoiser])
def test_denoiser_outputs_on_cuda_match_the_cpu(data, kind):
    fields, context = next(iter(data.train_dataloader()))
    module = DiffusionModule(small_network(kind), molecule_fields(data.marginals))
    t = torch.tensor([0.1, 0.4, 0.7, 0.95])
    generator = torch.Generator().manual_seed(1)
    inputs = {name: field.network_input(field.corrupt(fields[name], t, context, generator)[0], t)
              for name, field in module.fields.items()}
    with torch.no_grad():
        on_cpu = module.network(inputs, t, context)
        network = module.network.to("cuda")
        on_gpu = network({k: v.cuda() for k, v in inputs.items()}, t.cuda(), {k: v.cuda() for k, v in context.items()})
    for name, value in on_cpu.items():
        torch.testing.assert_close(on_gpu[name].cpu(), value, atol=2e-4, rtol=1e-4)


def test_sampling_on_cuda_is_seeded_and_keeps_the_constraints(data):
    module = DiffusionModule(small_network(EQGATDenoiser), molecule_fields(data.marginals)).to("cuda")
    sampler = Sampler(solver="dpmpp_2m", steps=8, grid="log_snr", categorical_solver="ancestral")
    first, context, nfe = module.sample_from(data, 6, seed=3, sampler=sampler)
    again, _, _ = module.sample_from(data, 6, seed=3, sampler=sampler)
    other, _, _ = module.sample_from(data, 6, seed=4, sampler=sampler)
    assert nfe == 9 and first["pos"].device.type == "cuda"  # 8 steps and the final denoising call
    for name in first:
        assert torch.equal(first[name], again[name])
    assert not torch.equal(first["pos"], other["pos"])
    mask = context["node_mask"]
    centre = (first["pos"] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    assert centre.abs().max() < 1e-4  # zero centre of mass over the real atoms
    assert torch.equal(first["bonds"], first["bonds"].transpose(1, 2))
    assert first["bonds"].diagonal(dim1=1, dim2=2).abs().sum() == 0
    padding = ~(mask[:, :, None] & mask[:, None, :])
    assert first["bonds"][padding].abs().sum() == 0 and first["pos"][~mask].abs().sum() == 0


def test_a_checkpoint_written_during_gpu_training_loads_on_the_cpu(data, tmp_path):
    """As in a GPU run: ModelCheckpoint writes while the weights are on the device (after ``fit`` Lightning has
    moved them back to the CPU, so a checkpoint saved then would not test this)."""
    module = DiffusionModule(small_network(EQGATDenoiser), molecule_fields(data.marginals), lr=1e-3)
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_epochs=1,
                                               save_on_train_epoch_end=True)
    trainer = pl.Trainer(accelerator="gpu", devices=1, max_steps=12, logger=False, callbacks=[checkpoints],
                         enable_progress_bar=False, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=data)
    path = tmp_path / "last.ckpt"
    saved = torch.load(path, weights_only=True)["state_dict"]  # tensors come back on the device they were saved from
    assert {value.device.type for value in saved.values()} == {"cuda"}
    assert torch.load(path, weights_only=True)["global_step"] == 12
    trained = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())
    fresh = DiffusionModule(small_network(EQGATDenoiser), molecule_fields(data.marginals))
    changed = [k for k, v in fresh.state_dict().items() if v.is_floating_point() and not torch.equal(v, trained[k])]
    assert any(k.startswith("network.") for k in changed)  # the optimiser moved the weights
    load_weights(fresh, path)  # map_location="cpu", weights_only=True
    for key, value in fresh.state_dict().items():
        assert value.device.type == "cpu" and torch.equal(value, trained[key]), key
