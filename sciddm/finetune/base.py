r"""Reward fine-tuning as a Lightning module: maximise :math:`\mathbb E[r(x_0)] - \beta\,\mathrm{KL}` over trajectories.

A :class:`RewardFinetuning` is a :class:`~sciddm.lightning.DiffusionModule` whose training step does not read data:
it runs the model's own sampler from noise (a *rollout*), scores the end point with a differentiable reward and
back-propagates through the last ``grad_steps`` network evaluations only (earlier steps run under ``no_grad``, so
memory is bounded by ``grad_steps`` and, with ``gradient_checkpointing``, by one evaluation's activations per step).
The loss is

.. math:: \mathcal L(\theta) = -\frac1B\sum_b r(x_0^b) + \beta\,\frac1B\sum_b\sum_{\text{steps}}
          \mathrm{KL}\big(p_\theta(\cdot\mid x_t^b)\,\|\,p_{\text{ref}}(\cdot\mid x_t^b)\big),

with a frozen copy of the pretrained network as the reference and ``kl_weight`` :math:`\beta` as the knob
(:math:`\beta=0`: reward only). The per-step KL is computed on every step at the visited state (its value is
logged as ``train/kl``); only the steps inside the gradient window contribute gradients, and the KL's reach the
weights only (the state is held fixed in it). Each training batch supplies only the shapes and
the context (masks, labels) of the samples rolled out in that step. Subclasses implement :meth:`rollout`:
:class:`~sciddm.finetune.draft.DRaFT` (continuous fields) and :class:`~sciddm.finetune.drakes.DRAKES`
(categorical fields).

``pretrained`` names a checkpoint of the same network (written by ``sciddm fit``); its EMA weights are used when
present (the weights that sampling used). It is read with ``weights_only=True`` when the module is built.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from sciddm.errors import ConfigError, DataError, TrainingError
from sciddm.fields import Context, Field
from sciddm.lightning.module import DiffusionModule
from sciddm.rewards import Reward
from sciddm.sampling import Sampler
from sciddm.self_conditioning import refuse_self_conditioned


def load_pretrained_network(network: nn.Module, path: str | Path) -> None:
    """Load a ``sciddm fit`` checkpoint's network weights (EMA when kept) into ``network``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "pretrained checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as error:  # torch raises many types for corrupt files  # noqa: BLE001
        raise DataError(path, f"not a readable Lightning checkpoint ({type(error).__name__})") from None
    prefix = "ema.module." if any(k.startswith("ema.module.") for k in state) else "network."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    result = network.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys or not weights:
        problems = result.missing_keys + result.unexpected_keys
        raise DataError(path, f"does not match the config's network (e.g. {problems[0] if problems else 'no weights'})")


class RewardFinetuning(DiffusionModule):
    """Base class of reward fine-tuning modules (module docstring).

    Args:
        reward: a :class:`~sciddm.rewards.Reward`, or a spec ``"module:callable"`` naming a function that returns
            one (called with ``reward_args``); it must be differentiable.
        pretrained: checkpoint with the pretrained weights (the reference); None keeps the network as built.
        kl_weight: :math:`\\beta \\ge 0`.
        grad_steps: K, the number of final network evaluations that gradients flow through (>= 1).
        gradient_checkpointing: recompute each evaluation's activations in the backward pass.
        The other arguments are those of :class:`~sciddm.lightning.DiffusionModule` (``sampler`` sets the
        rollout's solver and steps).
    """

    field_type: type[Field] = Field

    def __init__(self, network: nn.Module, fields: dict[str, Field], reward: str | Reward,
                 reward_args: dict[str, Any] | None = None, pretrained: str | None = None, kl_weight: float = 0.0,
                 grad_steps: int = 1, gradient_checkpointing: bool = False, lr: float = 1e-4,
                 weight_decay: float = 0.0, warmup_steps: int = 0, ema_decay: float | None = None,
                 sampler: Sampler | None = None, val_num_samples: int = 0, seed: int = 0):
        from sciddm.rewards import load_reward

        if kl_weight < 0 or grad_steps < 1:
            raise ConfigError(f"need kl_weight >= 0 and grad_steps >= 1, got {kl_weight} and {grad_steps}")
        refuse_self_conditioned(network, "reward fine-tuning")
        if pretrained is not None:
            load_pretrained_network(network, pretrained)
        super().__init__(network, fields, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps,
                         ema_decay=ema_decay, sampler=sampler, val_num_samples=val_num_samples, seed=seed)
        bad = [name for name, field in self.fields.items() if not isinstance(field, self.field_type)]
        if bad:
            raise ConfigError(f"{type(self).__name__} fine-tunes {self.field_type.__name__}s; {bad} are not")
        self.reward = reward if isinstance(reward, Reward) else load_reward(reward, reward_args or {})
        if not self.reward.differentiable:
            raise ConfigError(f"reward fine-tuning needs a differentiable reward; {self.reward.name!r} is not")
        self.reference = copy.deepcopy(network).requires_grad_(False).eval()
        self.kl_weight = kl_weight
        self.grad_steps = grad_steps
        self.gradient_checkpointing = gradient_checkpointing
        self.cost: dict[str, int] = {}

    def train(self, mode: bool = True) -> RewardFinetuning:
        """The reference stays in eval mode (no dropout) whatever the module's mode."""
        super().train(mode)
        self.reference.eval()
        return self

    def rollout(self, template: dict[str, Tensor], context: Context, generator: torch.Generator
                ) -> tuple[Tensor, Tensor]:
        """Run the sampler from noise; return ``(reward [B], summed per-step KL [B])``."""
        raise NotImplementedError

    def evaluate(self, inputs: dict[str, Tensor], t: Tensor, context: Context, with_grad: bool
                 ) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
        """Raw outputs at the same state: the trained network's for the trajectory (with gradients to the state and
        the weights if ``with_grad``), the trained network's for the KL and the frozen reference's.

        The KL is taken at the visited state with the state held fixed (its gradient reaches the weights only, as
        in DPOK/DRAKES): inside the gradient window this costs one more evaluation of the trained network on the
        detached state. Letting the KL's gradient also flow back through the relaxed states was unstable in
        practice (the KL grew under a positive KL weight on the ARS task).
        """
        self.cost["evaluations"] = self.cost.get("evaluations", 0) + 1
        self.cost["evaluations_with_grad"] = self.cost.get("evaluations_with_grad", 0) + int(with_grad)
        fixed = {k: v.detach() for k, v in inputs.items()}
        with torch.set_grad_enabled(with_grad):
            outputs = self._network(inputs if with_grad else fixed, t, context, with_grad)
            for_kl = self._network(fixed, t, context, with_grad) if with_grad and self.kl_weight > 0 else outputs
        with torch.no_grad():
            reference = self.reference(fixed, t, context)
        return outputs, for_kl, reference

    def _network(self, inputs: dict[str, Tensor], t: Tensor, context: Context, with_grad: bool) -> dict[str, Tensor]:
        if with_grad and self.gradient_checkpointing:
            return checkpoint(self.network, inputs, t, context, use_reentrant=False)
        return self.network(inputs, t, context)

    def in_gradient_window(self, index: int, total: int) -> bool:
        """Whether evaluation ``index`` (of ``total`` in the rollout) is among the last ``grad_steps``."""
        return index >= total - self.grad_steps

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        template, context = self.split_batch(batch)
        generator = torch.Generator(device=self.device).manual_seed(
            self.seed + self.global_step + 1_000_003 * self.global_rank)
        self.cost = {}
        rewards, kl = self.rollout(template, context, generator)
        loss = -rewards.mean() + self.kl_weight * kl.mean()
        if not torch.isfinite(loss):
            raise TrainingError(f"fine-tuning loss is {loss.item()} at step {self.global_step} "
                                f"(reward {rewards.mean().item():.4g}, KL {kl.mean().item():.4g})")
        size = len(rewards)
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/reward", rewards.mean(), prog_bar=True, batch_size=size)
        self.log("train/kl", kl.mean(), batch_size=size)
        return loss
