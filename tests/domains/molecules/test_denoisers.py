"""E(3) and permutation equivariance of the molecule denoisers (float32 tolerances)."""

import pytest
import torch

from domains.molecules.denoisers import EGNNDenoiser, EQGATDenoiser, SparseEGNNDenoiser, SparseEQGATDenoiser
from domains.molecules.layers import masked_mean
from domains.molecules.tensor_product import TensorProductDenoiser
from sciddm.errors import ConfigError
from sciddm.self_conditioning import SELF_CONDITION, is_self_conditioned, with_estimates

SIZES = {"num_atom_types": 5, "num_charges": 3, "num_bond_types": 5}
NETWORKS = {
    "egnn": lambda **kw: EGNNDenoiser(**SIZES, hidden_dim=32, edge_dim=8, time_dim=16, num_layers=3, **kw),
    "eqgat": lambda **kw: EQGATDenoiser(**SIZES, hidden_dim=32, vector_dim=8, edge_dim=8, time_dim=16,
                                        num_layers=3, **kw),
    "egnn_sparse": lambda **kw: SparseEGNNDenoiser(**SIZES, hidden_dim=32, edge_dim=8, time_dim=16, num_layers=3,
                                                   **kw),
    "eqgat_sparse": lambda **kw: SparseEQGATDenoiser(**SIZES, hidden_dim=32, vector_dim=8, edge_dim=8, time_dim=16,
                                                     num_layers=3, **kw),
    "tensor_product": lambda **kw: TensorProductDenoiser(**SIZES, hidden_dim=32, vector_dim=8, edge_dim=8,
                                                         time_dim=16, num_layers=3, **kw),
}
ATOL = 2e-5


def noisy_batch(generator: torch.Generator, real: tuple[int, ...] = (7, 5, 1), atoms: int = 7):
    """Random noisy inputs; molecule b has ``real[b]`` atoms (a single atom is the degenerate case)."""
    batch = len(real)
    mask = torch.arange(atoms)[None, :] < torch.tensor(real)[:, None]
    bonds = torch.rand(batch, atoms, atoms, 5, generator=generator)
    x_t = {
        "pos": torch.randn(batch, atoms, 3, generator=generator) * mask[..., None],
        "atom_types": torch.rand(batch, atoms, 5, generator=generator).softmax(-1),
        "charges": torch.rand(batch, atoms, 3, generator=generator).softmax(-1),
        "bonds": (bonds + bonds.transpose(1, 2)).softmax(-1),
    }
    x_t["pos"] = (x_t["pos"] - masked_mean(x_t["pos"], mask)) * mask[..., None]
    return x_t, torch.rand(batch, generator=generator), {"node_mask": mask}


def random_orthogonal(generator: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator))
    return q @ torch.diag(torch.tensor([1.0, 1.0, -1.0]))  # include a reflection: E(3), not only SE(3)


@pytest.fixture(params=sorted(NETWORKS))
def name(request):
    return request.param


@pytest.mark.parametrize("displacement", [False, True])
def test_rotation_reflection_translation(name, displacement):
    torch.manual_seed(0)
    net = NETWORKS[name](predict_displacement=displacement)
    generator = torch.Generator().manual_seed(1)
    x_t, t, context = noisy_batch(generator)
    mask = context["node_mask"][..., None]
    q, shift = random_orthogonal(generator), torch.randn(1, 1, 3, generator=generator)
    moved = dict(x_t, pos=(x_t["pos"] @ q.T + shift) * mask)
    out, out_moved = net(x_t, t, context), net(moved, t, context)
    expected = out["pos"] @ q.T + (0.0 if displacement else shift)
    torch.testing.assert_close(out_moved["pos"], expected * mask, atol=ATOL, rtol=0)
    for field in ("atom_types", "charges", "bonds"):
        torch.testing.assert_close(out_moved[field], out[field], atol=ATOL, rtol=0)


def test_permutation(name):
    torch.manual_seed(0)
    net = NETWORKS[name]()
    x_t, t, context = noisy_batch(torch.Generator().manual_seed(2), real=(6,), atoms=6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    permuted = {"pos": x_t["pos"][:, perm], "atom_types": x_t["atom_types"][:, perm],
                "charges": x_t["charges"][:, perm], "bonds": x_t["bonds"][:, perm][:, :, perm]}
    out, out_perm = net(x_t, t, context), net(permuted, t, context)
    for field in ("pos", "atom_types", "charges"):
        torch.testing.assert_close(out_perm[field], out[field][:, perm], atol=ATOL, rtol=0)
    torch.testing.assert_close(out_perm["bonds"], out["bonds"][:, perm][:, :, perm], atol=ATOL, rtol=0)


def test_padding_does_not_change_real_atoms(name):
    """Extra padded atoms (with arbitrary content) leave every output of the real atoms unchanged."""
    torch.manual_seed(0)
    net = NETWORKS[name]()
    generator = torch.Generator().manual_seed(3)
    x_t, t, context = noisy_batch(generator, real=(5,), atoms=5)
    big, _, _ = noisy_batch(generator, real=(9,), atoms=9)
    padded = {k: big[k].clone() for k in big}
    padded["pos"][:, :5] = x_t["pos"]
    padded["atom_types"][:, :5], padded["charges"][:, :5] = x_t["atom_types"], x_t["charges"]
    padded["bonds"][:, :5, :5] = x_t["bonds"]
    mask = torch.zeros(1, 9, dtype=torch.bool)
    mask[:, :5] = True
    out, out_padded = net(x_t, t, context), net(padded, t, {"node_mask": mask})
    for field in ("pos", "atom_types", "charges"):
        torch.testing.assert_close(out_padded[field][:, :5], out[field], atol=ATOL, rtol=0)
        assert out_padded[field][:, 5:].abs().max() == 0
    torch.testing.assert_close(out_padded["bonds"][:, :5, :5], out["bonds"], atol=ATOL, rtol=0)


def test_outputs_symmetric_zero_com_and_trainable(name):
    torch.manual_seed(0)
    net = NETWORKS[name]()
    x_t, t, context = noisy_batch(torch.Generator().manual_seed(4))
    out = net(x_t, t, context)
    torch.testing.assert_close(out["bonds"], out["bonds"].transpose(1, 2), atol=0, rtol=0)
    assert masked_mean(out["pos"], context["node_mask"]).abs().max() < 1e-6
    loss = sum(v.pow(2).mean() for v in out.values())
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(int(g.abs().sum() > 0) for g in grads) >= 0.9 * len(grads)


def with_estimate(x_t: dict, context: dict, generator: torch.Generator) -> dict:
    """``context`` carrying a previous clean estimate (the form ``Field.denoised`` gives: positions, probabilities)."""
    estimate, _, _ = noisy_batch(generator, real=tuple(int(n) for n in context["node_mask"].sum(1)),
                                 atoms=context["node_mask"].shape[1])
    return with_estimates(context, estimate)


def test_self_conditioned_networks_are_e3_equivariant_in_input_and_estimate(name):
    """Rotating/reflecting and translating the noisy positions and the estimated positions together rotates the
    position output (plus the shift) and leaves the logits unchanged."""
    torch.manual_seed(0)
    net = NETWORKS[name](self_conditioning=True)
    generator = torch.Generator().manual_seed(11)
    x_t, t, context = noisy_batch(generator)
    context = with_estimate(x_t, context, generator)
    mask = context["node_mask"][..., None]
    q, shift = random_orthogonal(generator), torch.randn(1, 1, 3, generator=generator)
    estimate = context[SELF_CONDITION]
    moved_context = with_estimates(context, dict(estimate, pos=(estimate["pos"] @ q.T + shift) * mask))
    out = net(x_t, t, context)
    out_moved = net(dict(x_t, pos=(x_t["pos"] @ q.T + shift) * mask), t, moved_context)
    torch.testing.assert_close(out_moved["pos"], (out["pos"] @ q.T + shift) * mask, atol=ATOL, rtol=0)
    for field in ("atom_types", "charges", "bonds"):
        torch.testing.assert_close(out_moved[field], out[field], atol=ATOL, rtol=0)


def test_self_conditioned_networks_read_the_estimate_and_zeros_when_there_is_none(name):
    torch.manual_seed(0)
    net = NETWORKS[name](self_conditioning=True)
    assert is_self_conditioned(net) and not is_self_conditioned(NETWORKS[name]())
    generator = torch.Generator().manual_seed(12)
    x_t, t, context = noisy_batch(generator)
    zeros = with_estimates(context, {k: torch.zeros_like(v) for k, v in x_t.items()})
    without, with_zeros = net(x_t, t, context), net(x_t, t, zeros)
    for field in without:
        torch.testing.assert_close(with_zeros[field], without[field], atol=0, rtol=0)
    for field in ("pos", "atom_types", "charges", "bonds"):  # each part of the estimate is read
        estimate = {k: torch.zeros_like(v) for k, v in x_t.items()}
        estimate[field] = with_estimate(x_t, context, generator)[SELF_CONDITION][field]
        changed = net(x_t, t, with_estimates(context, estimate))
        assert max((changed[k] - without[k]).abs().max() for k in without) > 1e-6, field  # unread: exactly 0


def test_an_estimate_of_another_width_is_refused_by_name():
    net = NETWORKS["eqgat"](self_conditioning=True)
    x_t, t, context = noisy_batch(torch.Generator().manual_seed(13))
    estimate = {k: torch.zeros_like(v) for k, v in x_t.items()}
    estimate["atom_types"] = torch.zeros(*x_t["atom_types"].shape[:-1], 4)  # as from a 4-class field
    with pytest.raises(ConfigError, match="estimate of 'atom_types' has 4 channels, this network reads 5"):
        net(x_t, t, with_estimates(context, estimate))
