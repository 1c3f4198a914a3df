"""The joint state (fields, priors, loss weights), field-level equivariance, and the data module's sampling
side: templates, conditions with dropout, hydrogen removal, metrics, SDF output and pictures."""

import math

import pytest
import torch

from domains.molecules.data import CONDITION_KEY, MoleculeDataModule
from domains.molecules.denoisers import EGNNDenoiser, EQGATDenoiser
from domains.molecules.hydrogens import heavy_atoms
from domains.molecules.io import read_sdf
from domains.molecules.layers import masked_mean
from domains.molecules.representation import LOSS_WEIGHTS, QM9_MARGINALS, molecule_fields
from domains.molecules.validity import canonical_smiles, sanitized
from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.fields import GaussianField
from sciddm.lightning.module import DiffusionModule
from sciddm.sampling import Sampler
from sciddm.self_conditioning import SELF_CONDITION

from .conftest import embedded
from .test_denoisers import random_orthogonal


@pytest.fixture(scope="module")
def data(qm9_cache):
    module = MoleculeDataModule(max_molecules=60, batch_size=8, cache_dir=str(qm9_cache), novelty=True)
    module.setup()
    return module


def test_fields_priors_and_weights(data):
    fields = molecule_fields(data.marginals)
    assert isinstance(fields["pos"], GaussianField) and fields["pos"].prediction == "x0"
    assert {name: f.weight for name, f in fields.items()} == LOSS_WEIGHTS
    for name in ("atom_types", "charges", "bonds"):
        field = fields[name]
        assert isinstance(field, CategoricalField) and field.path.kind == "marginal"
        torch.testing.assert_close(field.path.pi, data.marginals[name].double(), atol=1e-12, rtol=0)
    assert fields["bonds"].symmetric and not fields["atom_types"].symmetric
    # the prior of the bond field is drawn on real pairs only, symmetric, with a zero diagonal kept
    template, context = data.sample_template(300, torch.Generator().manual_seed(0))
    bonds = fields["bonds"].prior(template["bonds"], context, torch.Generator().manual_seed(1))
    torch.testing.assert_close(bonds, bonds.transpose(1, 2), atol=0, rtol=0)
    real = context["node_mask"][:, :, None] & context["node_mask"][:, None, :]
    assert bonds.diagonal(dim1=1, dim2=2).abs().sum() == 0 and bonds[~real].abs().sum() == 0
    upper = real & torch.ones_like(real[0]).triu(1)
    frequency = torch.bincount(bonds[upper], minlength=5).double() / upper.sum()
    assert (frequency - data.marginals["bonds"].double()).abs().max() < 0.01  # ~60k draws, 4 sigma < 0.01


def test_qm9_marginal_constants_match_a_data_subset(data):
    """``molecule_fields``' default constants are the full training split's; 60 molecules agree to sampling error."""
    for name, values in QM9_MARGINALS.items():
        assert math.isclose(sum(values), 1.0, abs_tol=1e-5)
        assert (torch.tensor(values) - data.marginals[name].float()).abs().max() < 0.04


@pytest.mark.parametrize("network", [EGNNDenoiser, EQGATDenoiser])
def test_field_level_prediction_is_e3_equivariant(data, network):
    """Corrupt real molecules through the fields, then rotate/reflect and translate the noisy positions:
    the clean-position estimate moves the same way, categorical estimates do not change."""
    torch.manual_seed(0)
    net = network(hidden_dim=32, edge_dim=8, time_dim=16, num_layers=2)
    fields = molecule_fields(data.marginals)
    x0, context = next(iter(data.val_dataloader()))
    generator = torch.Generator().manual_seed(2)
    t = torch.full((len(x0["pos"]),), 0.6)
    x_t = {name: field.corrupt(x0[name], t, context, generator)[0] for name, field in fields.items()}
    inputs = {name: field.network_input(x_t[name], t) for name, field in fields.items()}
    mask = context["node_mask"][..., None]
    assert masked_mean(inputs["pos"], context["node_mask"]).abs().max() < 1e-5  # zero-CoM noise
    q, shift = random_orthogonal(generator), torch.randn(1, 1, 3, generator=generator)
    moved = dict(inputs, pos=(inputs["pos"] @ q.T + shift) * mask)

    def estimates(network_inputs, state):
        out = net(network_inputs, t, context)
        return {name: field.denoised(out[name], state[name], t) for name, field in fields.items()}

    plain = estimates(inputs, x_t)
    rotated = estimates(moved, dict(x_t, pos=moved["pos"]))
    torch.testing.assert_close(rotated["pos"] * mask, (plain["pos"] @ q.T + shift) * mask, atol=3e-5, rtol=0)
    for name in ("atom_types", "charges", "bonds"):
        torch.testing.assert_close(rotated[name], plain[name], atol=3e-5, rtol=0)
        torch.testing.assert_close(rotated[name].sum(-1), torch.ones_like(rotated[name][..., 0]))


def test_sample_template_follows_training_counts(data):
    train_counts = set(data.tables["train"].num_atoms.tolist())
    template, context = data.sample_template(200, torch.Generator().manual_seed(0))
    counts = context["node_mask"].sum(1)
    assert set(counts.tolist()) <= train_counts and len(set(counts.tolist())) > 3
    n = int(counts.max())
    assert template["pos"].shape == (200, n, 3) and template["bonds"].shape == (200, n, n)
    assert (context["node_mask"] == (torch.arange(n)[None] < counts[:, None])).all()  # real atoms first
    again, again_context = data.sample_template(200, torch.Generator().manual_seed(0))
    assert torch.equal(again_context["node_mask"], context["node_mask"])
    fixed = MoleculeDataModule(max_molecules=60, num_atoms=7, cache_dir=data.hparams.cache_dir)
    assert fixed.sample_template(5)[1]["node_mask"].sum(1).tolist() == [7] * 5


def test_conditions_are_standardised_with_dropout_in_training_only(data):
    module = MoleculeDataModule(max_molecules=60, batch_size=60, cache_dir=data.hparams.cache_dir,
                                condition="alpha", condition_dropout=0.5, seed=1)
    fields, context = next(iter(module.train_dataloader()))
    mean, std = module.condition_stats
    alpha = module.property_values("train")
    assert math.isclose(mean, float(alpha.mean())) and math.isclose(std, float(alpha.std()))
    dropped = torch.isnan(context[CONDITION_KEY])
    assert 15 <= int(dropped.sum()) <= 45  # Binomial(60, 0.5): 4 sigma
    kept = ~dropped
    torch.testing.assert_close(context[CONDITION_KEY][kept].double() * std + mean,
                               context["alpha"][kept].double(), atol=1e-4, rtol=0)
    _, val_context = next(iter(module.val_dataloader()))
    assert not torch.isnan(val_context[CONDITION_KEY]).any()
    template, sample_context = module.sample_template(10, torch.Generator().manual_seed(0))
    assert set(sample_context["alpha"].tolist()) <= set(alpha.float().tolist())
    torch.testing.assert_close(sample_context[CONDITION_KEY].double() * std + mean,
                               sample_context["alpha"].double(), atol=1e-4, rtol=0)


def test_train_halves_partition_the_training_split(data):
    halves = [MoleculeDataModule(max_molecules=60, cache_dir=data.hparams.cache_dir, train_half=h)
              for h in ("first", "second")]
    names = [h.tables["train"].names if h.setup() is None else None for h in halves]
    assert len(names[0]) == 30 and len(names[1]) == 30
    assert names[0] + names[1] == data.tables["train"].names


def test_bad_conditioning_options(data):
    with pytest.raises(ConfigError, match="condition 'bandgap'"):
        MoleculeDataModule(max_molecules=60, cache_dir=data.hparams.cache_dir, condition="bandgap").setup()
    with pytest.raises(ConfigError, match="train_half"):
        MoleculeDataModule(train_half="third")
    with pytest.raises(ConfigError, match="condition_dropout"):
        MoleculeDataModule(condition_dropout=1.0)


def test_heavy_atoms_kekulise_before_dropping_hydrogens():
    pyrrole = embedded("c1cc[nH]c1")
    heavy = heavy_atoms(pyrrole)
    assert heavy.elements == ["C", "C", "C", "N", "C"]
    assert sorted(heavy.bonds[:, 2].tolist()) == [1, 1, 1, 2, 2]  # Kekule, no aromatic code left
    mol = sanitized(heavy, implicit_hydrogens=True)
    assert mol is not None and canonical_smiles(mol) == "c1cc[nH]c1"


def test_samples_are_written_drawn_and_scored(data, tmp_path):
    """Real molecules pass through the sampling side unchanged; a garbage batch is counted invalid."""
    fields, context = next(iter(data.val_dataloader()))
    metrics = data.evaluate_samples(fields, context)
    assert metrics["num_molecules"] == 8 and metrics["validity"] == 1.0 and metrics["uniqueness"] == 1.0
    assert metrics["novelty"] == 1.0  # validation molecules are not training molecules
    path = data.write_samples(fields, context, tmp_path / "s.sdf")
    assert [m.elements for m in read_sdf(path)] == [m.elements for m in data.molecules(fields, context)]
    picture = data.render_samples(fields, context, tmp_path / "s.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "s_3d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    train_fields, train_context = next(iter(data.train_dataloader()))
    assert data.evaluate_samples(train_fields, train_context)["novelty"] == 0.0
    garbage = {"pos": torch.zeros_like(fields["pos"]), "atom_types": torch.full_like(fields["atom_types"], 4),
               "charges": torch.zeros_like(fields["charges"]), "bonds": torch.full_like(fields["bonds"], 3)}
    bad = data.evaluate_samples(garbage, context)
    assert bad["validity"] == 0.0 and bad["num_molecules"] == 8 and bad["uniqueness"] is None


def test_self_conditioned_eqgat_trains_and_samples_on_its_previous_estimates(data):
    """Through DiffusionModule: the loss takes the self-conditioned pass, and while sampling each network call
    after the first receives the previous call's clean estimates: its position output and probability vectors."""
    torch.manual_seed(0)
    network = EQGATDenoiser(hidden_dim=32, vector_dim=8, edge_dim=8, time_dim=16, num_layers=2,
                            self_conditioning=True)
    module = DiffusionModule(network, molecule_fields(data.marginals), self_conditioning_rate=1.0)
    fields, context = next(iter(data.train_dataloader()))
    loss, _ = module.diffusion_loss(network, {**fields, **context}, torch.Generator().manual_seed(0))
    loss.backward()
    sizes = network.embed.sizes["atom_types"] + network.embed.sizes["charges"]
    estimate_columns = network.embed.node[0].weight.grad[:, sizes: 2 * sizes]  # zero if no estimate was read
    assert torch.isfinite(loss) and estimate_columns.abs().sum() > 0
    calls = []
    module.sampling_network.register_forward_hook(  # the EMA copy
        lambda net, args, output: calls.append((args[2].get(SELF_CONDITION), output)))
    with torch.no_grad():
        _, context, nfe = module.sample_from(data, 4, seed=1, sampler=Sampler(steps=5))
    assert len(calls) == nfe == 6 and calls[0][0] is None
    real = context["node_mask"]
    for (received, _), (_, previous_output) in zip(calls[1:], calls[:-1], strict=True):
        torch.testing.assert_close(received["pos"], previous_output["pos"])  # x0 prediction: estimate = output
        for name in ("atom_types", "charges"):
            torch.testing.assert_close(received[name][real].sum(-1), torch.ones(int(real.sum())))
        pairs = real[:, :, None] & real[:, None, :] & ~torch.eye(real.shape[1], dtype=torch.bool)
        torch.testing.assert_close(received["bonds"][pairs].sum(-1), torch.ones(int(pairs.sum())))
