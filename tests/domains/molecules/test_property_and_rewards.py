"""Rewards on samples (QED / SA / logP as Reward objects, the property predictor as a differentiable reward),
the EGNN property predictor (invariances, training, files), EDM's atom-count baseline, conditioning with a
NaN null for classifier-free guidance, and the conditional protocol end to end at tiny sizes."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from rdkit import Chem
from rdkit.Chem import QED

from domains.molecules import conditional
from domains.molecules.data import CONDITION_KEY, MoleculeDataset
from domains.molecules.denoisers import EGNNDenoiser
from domains.molecules.property import PropertyPredictor, PropertyReward, atom_count_baseline
from domains.molecules.property import train_property_predictor as train_predictor
from domains.molecules.rewards import QED_FLOOR, SA_FLOOR, MoleculeReward
from domains.molecules.validity import sanitized
from sciddm.cli import main
from sciddm.errors import ConfigError, DataError
from sciddm.guidance import ClassifierFreeGuidance
from sciddm.rewards import WeightedSum, score

from .test_denoisers import random_orthogonal
from .test_end_to_end import CONFIGS


@pytest.fixture(scope="module")
def batch(qm9_test_table):
    dataset = MoleculeDataset(qm9_test_table)
    return dataset.collate([dataset[i] for i in range(12)])


def test_molecule_rewards_score_samples(batch, qm9_molecules):
    fields, context = batch
    reward = MoleculeReward("qed")
    values = score(reward, fields, context, 12)
    expected = [QED.qed(Chem.RemoveHs(sanitized(m))) for m in qm9_molecules[:12]]
    torch.testing.assert_close(values, torch.tensor(expected, dtype=torch.float32))
    probabilities = {**fields, "atom_types": F.one_hot(fields["atom_types"], 5).float(),
                     "bonds": F.one_hot(fields["bonds"], 5).float() * 0.9 + 0.02}  # decoded by the argmax
    torch.testing.assert_close(reward(probabilities, context), values)
    garbage = {**fields, "bonds": torch.full_like(fields["bonds"], 3)}
    assert reward(garbage, context).tolist() == [QED_FLOOR] * 12
    easy = WeightedSum([MoleculeReward("sa_score")], [-1.0])
    assert easy(garbage, context).tolist() == [-SA_FLOOR] * 12 and not easy.differentiable
    with pytest.raises(ConfigError, match="unknown molecule reward 'toxicity'"):
        MoleculeReward("toxicity")


def test_property_predictor_is_invariant_and_differentiable(batch):
    torch.manual_seed(0)
    fields, context = batch
    predictor = PropertyPredictor(hidden_dim=32, num_layers=2, mean=70.0, std=8.0)
    mask = context["node_mask"]
    plain = predictor(fields["pos"], fields["atom_types"], mask)
    q, shift = random_orthogonal(torch.Generator().manual_seed(1)), torch.tensor([1.0, -2.0, 0.5])
    moved = predictor((fields["pos"] @ q.T + shift) * mask[..., None], fields["atom_types"], mask)
    torch.testing.assert_close(moved, plain, atol=1e-4, rtol=0)
    perm = torch.randperm(mask.shape[1], generator=torch.Generator().manual_seed(2))
    permuted = predictor(fields["pos"][:, perm], fields["atom_types"][:, perm], mask[:, perm])
    torch.testing.assert_close(permuted, plain, atol=1e-4, rtol=0)
    probabilities = F.one_hot(fields["atom_types"], 5).float().requires_grad_()
    pos = fields["pos"].clone().requires_grad_()
    reward = PropertyReward(predictor, name="alpha")
    values = score(reward, {"pos": pos, "atom_types": probabilities}, context, 12)
    torch.testing.assert_close(values, plain)
    values.sum().backward()
    assert torch.isfinite(pos.grad).all() and pos.grad.abs().sum() > 0 and probabilities.grad.abs().sum() > 0


def test_property_predictor_learns_and_round_trips(qm9_cache, tmp_path):
    from domains.molecules.data import MoleculeDataModule

    data = MoleculeDataModule(max_molecules=60, batch_size=30, cache_dir=str(qm9_cache), condition="alpha",
                              train_half="first")
    mean, std = data.condition_stats
    predictor = PropertyPredictor(hidden_dim=32, num_layers=2, mean=mean, std=std)
    losses = train_predictor(data, predictor, steps=40, lr=3e-3)
    assert len(losses) == 40 and sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    path = tmp_path / "alpha.pt"
    predictor.save(path)
    again = PropertyPredictor.load(path)
    fields, context = next(iter(data.val_dataloader()))
    torch.testing.assert_close(again(fields["pos"], fields["atom_types"], context["node_mask"]),
                               predictor(fields["pos"], fields["atom_types"], context["node_mask"]), atol=0, rtol=0)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(DataError, match="junk.pt.*not a property predictor file"):
        PropertyPredictor.load(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="missing.pt.*not found"):
        PropertyPredictor.load(tmp_path / "missing.pt")


def test_atom_count_baseline_by_hand():
    prediction = atom_count_baseline(torch.tensor([3, 3, 4]), torch.tensor([1.0, 3.0, 10.0]), torch.tensor([3, 4, 5]))
    torch.testing.assert_close(prediction, torch.tensor([2.0, 10.0, 14.0 / 3.0], dtype=torch.float64))


def test_nan_is_the_null_condition_for_classifier_free_guidance(batch):
    torch.manual_seed(0)
    fields, context = batch
    net = EGNNDenoiser(hidden_dim=16, edge_dim=8, time_dim=16, num_layers=1, condition_key=CONDITION_KEY)
    inputs = {"pos": fields["pos"], "atom_types": F.one_hot(fields["atom_types"], 5).float(),
              "charges": F.one_hot(fields["charges"], 3).float(), "bonds": F.one_hot(fields["bonds"], 5).float()}
    t = torch.full((12,), 0.5)

    def run(condition, scale=None):
        ctx = {**context, CONDITION_KEY: condition}
        network = net if scale is None else ClassifierFreeGuidance(net, scale, CONDITION_KEY, float("nan"))
        return network(inputs, t, ctx)

    condition = torch.linspace(-1, 1, 12)
    null = run(torch.full((12,), float("nan")))
    conditional_out, zero = run(condition), run(torch.zeros(12))
    assert all(torch.isfinite(v).all() for v in null.values())
    assert (null["atom_types"] - zero["atom_types"]).abs().max() > 1e-4  # null is not "condition 0"
    for name in inputs:
        torch.testing.assert_close(run(condition, 0.0)[name], null[name], atol=0, rtol=0)
        torch.testing.assert_close(run(condition, 1.0)[name], conditional_out[name], atol=0, rtol=0)
        torch.testing.assert_close(run(condition, 2.0)[name], 2 * conditional_out[name] - null[name],
                                   atol=1e-5, rtol=1e-5)


def test_conditional_protocol_end_to_end(qm9_cache, tmp_path, capsys):
    """Generator (second half) and predictor (first half) at tiny sizes; the JSON has EDM's rows."""
    config = CONFIGS / "qm9_conditional.yaml"
    sizes = ["--model.init_args.network.init_args.hidden_dim", "16", "--model.init_args.network.init_args.vector_dim",
             "4", "--model.init_args.network.init_args.edge_dim", "8", "--model.init_args.network.init_args.num_layers",
             "1", "--data.init_args.max_molecules", "40", "--data.init_args.cache_dir", str(qm9_cache),
             "--data.init_args.batch_size", "8", "--data.init_args.num_workers", "0", "--trainer.max_steps", "2",
             "--trainer.limit_val_batches", "1", "--trainer.val_check_interval", "2",
             "--trainer.check_val_every_n_epoch", "1", "--model.init_args.val_num_samples", "0",
             "--trainer.accelerator", "cpu", "--trainer.devices", "1",
             "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path)]  # fmt: skip
    assert main(["fit", "--config", str(config), *sizes]) == 0
    run_config = next(tmp_path.rglob("config.yaml"))
    checkpoint = next(tmp_path.rglob("*.ckpt"))
    predictor = tmp_path / "alpha.pt"
    torch.manual_seed(0)
    PropertyPredictor(hidden_dim=16, num_layers=1, mean=75.0, std=8.0).save(predictor)
    output = tmp_path / "alpha.json"
    assert conditional.main(["evaluate", "--config", str(run_config), "--ckpt_path", str(checkpoint),
                             "--predictor", str(predictor), "--num_samples", "6", "--guidance_scale", "2.0",
                             "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["nfe"] == 2 * 101  # two network calls per step with guidance, 100 steps + final denoising
    for key in ("mae", "naive_mae", "atom_count_mae", "data_mae"):
        assert math.isfinite(report[key]) and report[key] >= 0
    assert report["num_molecules"] == 6 and len(list(tmp_path.glob("alpha.sdf"))) == 1
    assert conditional.main(["evaluate", "--config", str(CONFIGS / "qm9_quick.yaml"), "--ckpt_path",
                             str(checkpoint), "--predictor", str(predictor)]) == 2
    assert "qm9_quick.yaml is not a conditional molecules config" in capsys.readouterr().err
