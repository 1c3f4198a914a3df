"""DRaFT-K on a Gaussian toy whose optimum is known in closed form.

Data :math:`\\mathcal N(m, I_2)` with the exact x0-denoiser and a learnable mean :math:`m`. Deterministic DDIM maps
noise linearly, :math:`x_0 = A m + B\\varepsilon`, so for the reward :math:`r(x)=x_1` the reward gradient is exact
(no noise) and the per-sample KL is :math:`C\\|m-m_{\\text{ref}}\\|^2`. The fine-tuning optimum of
:math:`A_{11}m_1 - \\beta C\\|\\Delta m\\|^2` is :math:`\\Delta m_1 = A_{11}/(2\\beta C)`, with :math:`A` measured
with the plain sampler and :math:`C` from the DDPM solver's own kernel means and noise scale.
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from sciddm.errors import ConfigError, DataError
from sciddm.fields import GaussianField
from sciddm.finetune import DRaFT, load_pretrained_network
from sciddm.rewards import FunctionReward
from sciddm.sampling import Sampler, sample_fields
from sciddm.schedules import VPCosine
from sciddm.solvers.ddim import DDPM

FIELD = GaussianField(VPCosine(), prediction="x0")
SAMPLER = Sampler(solver="ddim", steps=8, grid="uniform")


class GaussianDenoiser(nn.Module):
    """Exact x0-denoiser of N(mean, I) with a learnable ``mean``."""

    def __init__(self, dim: int = 2):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(dim))

    def forward(self, x_t, t, context):
        x = x_t["x"]
        alpha, sigma = FIELD.path.coefficients(t, x)
        return {"x": self.mean + alpha / (alpha**2 + sigma**2) * (x - alpha * self.mean)}


def first_coordinate(scale: float = 1.0) -> FunctionReward:
    return FunctionReward(lambda samples, context: scale * samples["x"][:, 0], differentiable=True, name="x1")


def templates(batch: int = 64, count: int = 64) -> DataLoader:
    return DataLoader([{"x": torch.zeros(2)} for _ in range(count)], batch_size=batch)


def fit(module: pl.LightningModule, steps: int) -> None:
    trainer = pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", max_epochs=-1)
    trainer.fit(module, train_dataloaders=templates())


def kernel_kl_coefficient() -> float:
    """C: sum over steps of |mean difference|^2 / (2 c^2) of the DDPM kernels for a unit change of the mean."""
    times = SAMPLER.grid_for({"x": FIELD}).tolist()
    x = torch.zeros(1, 2, dtype=torch.float64)
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    total = 0.0
    for t, s in zip(times[:-1], times[1:], strict=True):
        alpha, sigma = (float(v) for v in FIELD.path.coefficients(torch.tensor(t, dtype=torch.float64), x))
        x0_shift = torch.tensor([[sigma**2 / (alpha**2 + sigma**2), 0.0]], dtype=torch.float64)  # d x0-hat / d m_1
        mean_shift = (DDPM().update(FIELD.path, x, t, s, x0_shift, lambda: zero)
                      - DDPM().update(FIELD.path, x, t, s, zero, lambda: zero))
        c = DDPM().update(FIELD.path, x, t, s, zero, lambda: one)[0, 0].item()
        if c > 0:
            total += (mean_shift**2).sum().item() / (2 * c**2)
    return total


def test_draft_reaches_the_closed_form_optimum():
    beta = 2e-4  # C ~ 2400 (the last kernels are narrow), so the optimum is near 1
    module = DRaFT(GaussianDenoiser(), {"x": FIELD}, first_coordinate(), kl_weight=beta, grad_steps=100,
                   lr=0.05, sampler=SAMPLER)
    fit(module, 150)
    probe = GaussianDenoiser()
    with torch.no_grad():
        probe.mean[0] = 1.0
    noise = {"x": torch.zeros(4, 2)}
    shifted, _ = sample_fields(probe, {"x": FIELD}, noise, {}, SAMPLER, torch.Generator().manual_seed(0))
    base, _ = sample_fields(GaussianDenoiser(), {"x": FIELD}, noise, {}, SAMPLER, torch.Generator().manual_seed(0))
    gain = (shifted["x"][:, 0] - base["x"][:, 0]).mean().item()                 # A_11
    optimum = gain / (2 * beta * kernel_kl_coefficient())
    learned = module.network.mean.detach()
    assert learned[0].item() == pytest.approx(optimum, rel=0.03)
    assert abs(learned[1].item()) < 0.02 * optimum


def test_gradients_flow_through_the_last_k_evaluations_only_and_checkpointing_changes_nothing():
    gradients = []
    for checkpointing in (False, True):
        network = GaussianDenoiser()
        module = DRaFT(network, {"x": FIELD}, first_coordinate(), kl_weight=0.3, grad_steps=3,
                       gradient_checkpointing=checkpointing, sampler=SAMPLER)
        with torch.no_grad():
            network.mean.add_(torch.tensor([0.4, -0.2]))                        # away from the reference
        rewards, kl = module.rollout({"x": torch.zeros(16, 2)}, {}, torch.Generator().manual_seed(1))
        (-rewards.mean() + 0.3 * kl.mean()).backward()
        assert module.cost == {"evaluations": 8 + 1, "evaluations_with_grad": 3}  # 8 steps + final estimate
        gradients.append(network.mean.grad.clone())
    torch.testing.assert_close(gradients[0], gradients[1])
    assert gradients[0].abs().min() > 1e-3


def test_zero_reward_and_kl_leave_the_model_unchanged_and_kl_has_zero_gradient_at_init():
    zero = first_coordinate(scale=0.0)
    module = DRaFT(GaussianDenoiser(), {"x": FIELD}, zero, kl_weight=0.0, lr=0.1, sampler=SAMPLER, grad_steps=4)
    before = module.network.mean.detach().clone()
    fit(module, 5)
    assert torch.equal(module.network.mean.detach(), before)
    module = DRaFT(GaussianDenoiser(), {"x": FIELD}, zero, kl_weight=1.0, sampler=SAMPLER, grad_steps=9)
    rewards, kl = module.rollout({"x": torch.zeros(16, 2)}, {}, torch.Generator().manual_seed(0))
    (kl.mean()).backward()
    assert kl.abs().max() == 0 and module.network.mean.grad.abs().max() == 0


def test_pretrained_weights_are_loaded_from_the_ema_and_mismatches_fail(tmp_path):
    path = tmp_path / "pretrained.ckpt"
    torch.save({"state_dict": {"network.mean": torch.tensor([1.0, 2.0]), "ema.module.mean": torch.tensor([3.0, 4.0]),
                               "ema.n_averaged": torch.tensor(5)}}, path)
    module = DRaFT(GaussianDenoiser(), {"x": FIELD}, first_coordinate(), pretrained=str(path), sampler=SAMPLER)
    assert module.network.mean.tolist() == [3.0, 4.0] and module.reference.mean.tolist() == [3.0, 4.0]
    assert not module.reference.mean.requires_grad
    torch.save({"state_dict": {"network.other": torch.zeros(2)}}, path)
    with pytest.raises(DataError, match=r"pretrained.ckpt: does not match the config's network"):
        load_pretrained_network(GaussianDenoiser(), path)
    with pytest.raises(DataError, match=r"missing.ckpt: pretrained checkpoint not found"):
        load_pretrained_network(GaussianDenoiser(), tmp_path / "missing.ckpt")


def test_bad_settings_fail_clearly():
    with pytest.raises(ConfigError, match="needs a differentiable reward; 'flat' is not"):
        DRaFT(GaussianDenoiser(), {"x": FIELD}, FunctionReward(lambda s, c: s["x"][:, 0], name="flat"))
    with pytest.raises(ConfigError, match="need kl_weight >= 0 and grad_steps >= 1"):
        DRaFT(GaussianDenoiser(), {"x": FIELD}, first_coordinate(), grad_steps=0)
    with pytest.raises(ConfigError, match="must be written 'package.module:callable'"):
        DRaFT(GaussianDenoiser(), {"x": FIELD}, "no_colon")
    with pytest.raises(ConfigError, match="has no callable 'missing'"):
        DRaFT(GaussianDenoiser(), {"x": FIELD}, "tests.sciddm.finetune.test_draft:missing")


def test_a_config_selects_the_finetuning_module_by_class_path(tmp_path):
    from sciddm.cli import main

    config = tmp_path / "draft.yaml"
    config.write_text(f"""
trainer: {{max_steps: 2, accelerator: cpu, logger: false, enable_checkpointing: false, enable_progress_bar: false,
          limit_val_batches: 0, default_root_dir: {tmp_path}}}
model:
  class_path: sciddm.finetune.DRaFT
  init_args:
    network: {{class_path: sciddm.toy.MLPDenoiser, init_args: {{hidden: 16, depth: 1}}}}
    fields:
      x:
        class_path: sciddm.GaussianField
        init_args: {{schedule: {{class_path: sciddm.schedules.VPCosine}}, prediction: x0}}
    reward: tests.sciddm.finetune.test_draft:first_coordinate
    reward_args: {{scale: 2.0}}
    kl_weight: 0.1
    grad_steps: 2
    sampler: {{solver: ddim, steps: 4, grid: uniform}}
data:
  class_path: sciddm.toy.ToyDataModule
  init_args: {{train_size: 64, val_size: 16, batch_size: 32}}
""")
    assert main(["fit", "--config", str(config)]) == 0
    from sciddm.checkpoints import build_cli

    cli = build_cli(["--config", str(config)])
    assert type(cli.model) is DRaFT and cli.model.grad_steps == 2 and cli.model.reward.name == "x1"
