"""``DiffusionModule``: trains any set of fields with any denoiser network, samples through ``predict``.

Training minimises :math:`\\sum_f w_f\\,\\mathbb E_{t,x_0,x_t}[\\ell_f]` with one shared time per sample and
one network call serving every field. An exponential moving average (EMA) of the weights is kept and used for
validation, sampling and prediction. Scaling out is the Trainer's job: ``Trainer(strategy="ddp"|"fsdp",
devices=..., num_nodes=...)`` for training; ``predict`` shards sample requests over devices, and each request
batch seeds its own generator from its first index, so results do not depend on the device count.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor, nn

from sciddm.errors import ConfigError, TrainingError, choose
from sciddm.fields import Context, Field
from sciddm.lightning.ema import exponential_moving_average
from sciddm.lightning.optimization import LR_DECAYS, learning_rate_factor, parameter_groups
from sciddm.sampling import Sampler, sample_fields
from sciddm.self_conditioning import is_self_conditioned, with_estimates
from sciddm.timesampling import sample_times


class DiffusionModule(pl.LightningModule):
    """Generic diffusion/flow training and sampling over named fields.

    Args:
        network: denoiser ``forward(x_t: dict, t: Tensor[B], context: dict) -> dict`` (raw outputs per field).
        fields: the generated fields by name (keys must match the batch and the network outputs).
        time_sampling: ``uniform``, ``logit_normal`` or ``antithetic`` (see :mod:`sciddm.timesampling`).
        lr, weight_decay, warmup_steps: AdamW with linear warm-up.
        lr_decay: ``constant`` or ``cosine`` (to zero at the trainer's last step;
            :func:`sciddm.lightning.optimization.learning_rate_factor`).
        lr_multipliers: per-parameter-group learning rates ``{regular expression: factor}``: a network parameter
            whose name starts with a match of the first matching pattern trains at ``lr * factor``
            (:func:`sciddm.lightning.optimization.parameter_groups`), e.g. ``{"blocks\\.(7|8)\\.": 10}`` for two
            freshly added blocks of a grown network, or factor 0 to freeze a part.
        time_mean, time_std: location and scale of ``logit_normal`` time sampling.
        ema_decay: EMA decay per optimiser step; ``None`` or 0 disables the EMA.
        ema_warmup: warm the decay up as min(ema_decay, (1 + n) / (10 + n)) (:mod:`sciddm.lightning.ema`).
        sampler: solver, steps and grid for validation sampling and ``predict``.
        val_num_samples: samples drawn and scored by the datamodule's metrics at each validation epoch end.
        seed: base seed of validation noise and of sample generators (same seed, same samples).
        self_conditioning_rate: for a network that declares ``self_conditioning = True``, the probability per batch
            of training on its own detached first-pass estimate (:mod:`sciddm.self_conditioning`).
    """

    def __init__(self, network: nn.Module, fields: dict[str, Field], time_sampling: str = "uniform",
                 lr: float = 1e-3, weight_decay: float = 0.0, warmup_steps: int = 0,
                 ema_decay: float | None = 0.999, sampler: Sampler | None = None, val_num_samples: int = 0,
                 seed: int = 0, time_mean: float = 0.0, time_std: float = 1.0, ema_warmup: bool = True,
                 lr_decay: str = "constant", self_conditioning_rate: float = 0.5,
                 lr_multipliers: dict[str, float] | None = None):
        super().__init__()
        if not fields:
            raise ConfigError("DiffusionModule needs at least one field")
        sample_times(time_sampling, 1)  # validates the name early
        self.network = network
        self.fields = dict(fields)
        self.time_sampling = time_sampling
        self.time_mean, self.time_std = time_mean, time_std
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        choose(lr_decay, dict.fromkeys(LR_DECAYS), "lr_decay")
        self.lr_decay = lr_decay
        self.lr_multipliers = dict(lr_multipliers or {})
        parameter_groups(network, lr, self.lr_multipliers)  # a bad pattern fails here, before any data is read
        if not 0.0 <= self_conditioning_rate <= 1.0:
            raise ConfigError(f"self_conditioning_rate must lie in [0, 1], got {self_conditioning_rate}")
        self.self_conditioning_rate = self_conditioning_rate if is_self_conditioned(network) else 0.0
        self.sampler = sampler or Sampler()
        self.val_num_samples = val_num_samples
        self.seed = seed
        self.ema = exponential_moving_average(network, ema_decay, ema_warmup) if ema_decay else None
        t_ranges = [f.t_range for f in self.fields.values()]
        self.t_min, self.t_max = max(r[0] for r in t_ranges), min(r[1] for r in t_ranges)
        for name in self._data_marginal_fields():
            placeholder = torch.zeros(fields[name].num_classes, dtype=torch.float64)  # zero: not counted yet
            self.register_buffer(self._marginal_buffer(name), placeholder)
        self.register_load_state_dict_post_hook(lambda module, incompatible: module._use_stored_marginals())

    # ------------------------------------------------------------------ marginals counted on the data
    def _data_marginal_fields(self) -> list[str]:
        return [name for name, field in self.fields.items() if getattr(field, "marginal_from_data", False)]

    @staticmethod
    def _marginal_buffer(name: str) -> str:
        return f"data_marginal__{name}"

    def _use_stored_marginals(self) -> None:
        """Hand marginals restored from a checkpoint (non-zero buffers) to their fields."""
        for name in self._data_marginal_fields():
            counts = getattr(self, self._marginal_buffer(name))
            if counts.sum() > 0:
                self.fields[name].set_marginal(counts)

    def setup(self, stage: str) -> None:
        """Before fitting, count the class frequencies of ``marginal: data`` fields over the training loader."""
        trainer = self._trainer
        if stage == "fit" and trainer is not None and trainer.datamodule is not None:
            self.count_data_marginals(trainer.datamodule.train_dataloader)

    def count_data_marginals(self, loader: Callable[[], Any]) -> None:
        """Set the prior of every ``marginal: data`` field not restored from a checkpoint to its class frequencies
        over the real tokens of ``loader()`` (each node pair once); ``loader`` is only called if one is needed."""
        pending = [name for name in self._data_marginal_fields()
                   if getattr(self, self._marginal_buffer(name)).sum() == 0]
        if not pending:
            return
        counts = {name: torch.zeros_like(getattr(self, self._marginal_buffer(name))) for name in pending}
        for batch in loader():
            x0, context = self.split_batch(batch)
            for name in pending:
                counts[name] += self.fields[name].class_counts(x0[name], context).to(counts[name].device)
        for name in pending:
            if counts[name].sum() == 0:
                raise ConfigError(f"field {name!r}: the training set has no real tokens to count the marginal on")
            frequencies = counts[name] / counts[name].sum()
            getattr(self, self._marginal_buffer(name)).copy_(frequencies)
            self.fields[name].set_marginal(frequencies)
            rank_zero_info(f"field {name!r}: marginal prior from the training set {frequencies.tolist()}")

    # ------------------------------------------------------------------ helpers
    @property
    def sampling_network(self) -> nn.Module:
        """The EMA weights when kept, otherwise the live network."""
        return self.ema.module if self.ema is not None else self.network

    def split_batch(self, batch: dict[str, Tensor] | tuple[dict[str, Tensor], Context]
                    ) -> tuple[dict[str, Tensor], Context]:
        """Separate the generated fields from the context.

        Accepted layouts: a flat dict, a ``(fields, context)`` pair, or a dict with a nested ``"context"`` dict.
        """
        if isinstance(batch, (tuple, list)):
            fields, context = batch
            batch = {**context, **fields}
        elif isinstance(batch.get("context"), dict):
            batch = {**batch["context"], **{k: v for k, v in batch.items() if k != "context"}}
        missing = [name for name in self.fields if name not in batch]
        if missing:
            raise ConfigError(f"batch has no field(s) {missing}; it has {sorted(batch)}")
        return ({k: v for k, v in batch.items() if k in self.fields},
                {k: v for k, v in batch.items() if k not in self.fields})

    def diffusion_loss(self, network: nn.Module, batch: dict[str, Tensor],
                       generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Total weighted loss and per-field mean losses for one batch."""
        x0, context = self.split_batch(batch)
        size = next(iter(x0.values())).shape[0]
        t = sample_times(self.time_sampling, size, self.t_min, self.t_max, generator, self.device, self.time_mean,
                         self.time_std)
        corrupted = {name: field.corrupt(x0[name], t, context, generator) for name, field in self.fields.items()}
        inputs = {name: field.network_input(corrupted[name][0], t) for name, field in self.fields.items()}
        if self.self_conditioning_rate and torch.rand((), generator=generator, device=self.device
                                                      ) < self.self_conditioning_rate:
            with torch.no_grad():
                first = network(inputs, t, context)
                estimates = {name: field.denoised(first[name], corrupted[name][0], t)
                             for name, field in self.fields.items()}
            context = with_estimates(context, estimates)
        outputs = network(inputs, t, context)
        per_field = {name: field.loss(outputs[name], x0[name], *corrupted[name], t, context).mean()
                     for name, field in self.fields.items()}
        total = sum(self.fields[name].weight * value for name, value in per_field.items())
        return total, per_field

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, per_field = self.diffusion_loss(self.network, batch)
        if not torch.isfinite(loss):
            parts = ", ".join(f"{k}={v.item():.4g}" for k, v in per_field.items())
            raise TrainingError(f"training loss is {loss.item()} at step {self.global_step} ({parts}); "
                                "lower the learning rate or check the data for NaN/inf values")
        size = len(next(iter(self.split_batch(batch)[0].values())))
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        for name, value in per_field.items():
            self.log(f"train/loss_{name}", value, batch_size=size)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.network)

    def configure_optimizers(self):
        groups = parameter_groups(self.network, self.lr, self.lr_multipliers)
        optimizer = torch.optim.AdamW(groups, lr=self.lr, weight_decay=self.weight_decay)
        if self.warmup_steps <= 0 and self.lr_decay == "constant":
            return optimizer
        total = None
        if self.lr_decay == "cosine":
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ConfigError("lr_decay 'cosine' needs a finite training length (trainer.max_steps or max_epochs)")
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: learning_rate_factor(step, self.warmup_steps, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        generator = torch.Generator(device=self.device).manual_seed(self.seed + batch_idx)
        loss, per_field = self.diffusion_loss(self.sampling_network, batch, generator)
        size = len(next(iter(self.split_batch(batch)[0].values())))
        self.log("val/loss", loss, prog_bar=True, batch_size=size, sync_dist=True)
        for name, value in per_field.items():
            self.log(f"val/loss_{name}", value, batch_size=size, sync_dist=True)
        return loss

    def on_validation_epoch_end(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.val_num_samples <= 0 or datamodule is None or self.trainer.sanity_checking:
            return
        samples, context, _ = self.sample_from(datamodule, self.val_num_samples, seed=self.seed)
        for name, value in datamodule.evaluate_samples(samples, context).items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.log(f"val/{name}", float(value), sync_dist=True)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, template: dict[str, Tensor], context: Context, sampler: Sampler | None = None,
               generator: torch.Generator | None = None, progress: bool = False,
               guidance: Sequence[Callable] = (), hooks: Sequence[Callable] = (),
               network_wrapper: Callable[[nn.Module], Callable] | None = None) -> tuple[dict[str, Tensor], int]:
        """Draw one sample per row of ``template`` with the EMA network; return ``(samples, nfe)``.

        ``network_wrapper`` (e.g. classifier-free guidance), ``guidance`` (estimator wrappers) and ``hooks``
        (step hooks) are passed to :func:`sciddm.sampling.sample_fields`.
        """
        network = self.sampling_network
        was_training = network.training
        network.eval()
        try:
            return sample_fields(network, self.fields, template, context, sampler or self.sampler, generator,
                                 progress, guidance=guidance, hooks=hooks, network_wrapper=network_wrapper)
        finally:
            network.train(was_training)

    def sample_from(self, datamodule, num_samples: int, seed: int = 0, sampler: Sampler | None = None,
                    progress: bool = False, indices: Tensor | None = None) -> tuple[dict[str, Tensor], Context, int]:
        """Sample ``num_samples`` with shapes and context drawn from ``datamodule.sample_template``, steered by
        ``datamodule.sampling_steering`` (e.g. inpainting of observed values). ``indices`` are the request
        indices of the rows, passed on to domains whose samples belong to given inputs (e.g. images to segment)."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        # Layouts (atom counts, conditions...) are drawn on the CPU, where data modules keep their tables; on
        # the CPU they share the sampling stream, elsewhere they get a CPU stream of the same seed.
        layout_generator = generator if generator.device.type == "cpu" else torch.Generator().manual_seed(seed)
        if indices is not None and "indices" in inspect.signature(datamodule.sample_template).parameters:
            template, context = datamodule.sample_template(num_samples, layout_generator, indices=indices)
        else:
            template, context = datamodule.sample_template(num_samples, layout_generator)
        template = {k: v.to(self.device) for k, v in template.items()}
        context = {k: v.to(self.device) for k, v in context.items()}
        steering = getattr(datamodule, "sampling_steering", lambda fields: {})(self.fields)
        samples, nfe = self.sample(template, context, sampler, generator, progress,
                                   guidance=steering.get("guidance", ()), hooks=steering.get("hooks", ()),
                                   network_wrapper=steering.get("network_wrapper"))
        return samples, context, nfe

    def predict_step(self, batch: Tensor, batch_idx: int) -> dict[str, Any]:
        """Sample for a batch of request indices; the generator is seeded by the first index of the batch."""
        first = int(batch[0])
        samples, context, nfe = self.sample_from(self.trainer.datamodule, len(batch), seed=self.seed + first,
                                                 indices=batch.cpu())
        return {"index": batch.cpu(), "samples": {k: v.cpu() for k, v in samples.items()},
                "context": {k: v.cpu() for k, v in context.items()}, "nfe": nfe}
