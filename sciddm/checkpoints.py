"""Building models from configs, loading checkpoints safely, and sampling to files.

Checkpoints are read with ``torch.load(weights_only=True)``: only tensors and plain containers are
unpickled, never code. The model itself is rebuilt from the training config, so a checkpoint never needs
to carry pickled classes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError
from pytorch_lightning.cli import LightningCLI
from torch import Tensor

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError, DataError, SciDDMError
from sciddm.io import write_json
from sciddm.lightning.data import DiffusionDataModule
from sciddm.lightning.module import DiffusionModule
from sciddm.sampling import Sampler


def build_cli(args: list[str]) -> LightningCLI:
    """LightningCLI over :class:`DiffusionModule` and :class:`DiffusionDataModule` subclasses.

    Parse errors (unknown keys, wrong types, missing files) become one-line :class:`ConfigError`s.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
            return LightningCLI(DiffusionModule, DiffusionDataModule, subclass_mode_model=True,
                                subclass_mode_data=True, args=args, run=False,
                                save_config_kwargs={"overwrite": True}, parser_kwargs={"exit_on_error": False})
    except ArgumentError as error:
        raise ConfigError(_summarize_parse_error(str(error))) from None
    except ValueError as error:
        cause: BaseException | None = error
        while cause is not None and not isinstance(cause, SciDDMError):
            cause = cause.__cause__
        if cause is None:
            raise ConfigError(_summarize_parse_error(str(error))) from None
        raise cause from None


def _summarize_parse_error(message: str) -> str:
    """One line from jsonargparse's nested report: the keys and the type problems, not the echoed values."""
    keep = [line.strip(" -") for line in message.splitlines()
            if line.strip() and "NoneType" not in line and not line.strip().startswith(("Given value", "Subtypes"))
            and "Does not validate against any of the Union subtypes" not in line and line.strip() != "Errors:"]
    return " ".join(" ".join(keep).split()) or message.splitlines()[0]


def load_weights(module: DiffusionModule, ckpt_path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint's ``state_dict`` into ``module`` with ``weights_only=True``."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise DataError(path, "checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt files  # noqa: BLE001
        raise DataError(path, f"not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise DataError(path, "not a Lightning checkpoint (no 'state_dict')")
    result = module.load_state_dict(checkpoint["state_dict"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise DataError(path, f"does not match the config's model (missing {len(result.missing_keys)} keys, "
                              f"unexpected {len(result.unexpected_keys)}; e.g. "
                              f"{(result.missing_keys + result.unexpected_keys)[0]})")
    return checkpoint


def load_model(config: str | Path, ckpt_path: str | Path | None = None
               ) -> tuple[DiffusionModule, DiffusionDataModule, Any]:
    """Python API: rebuild ``(module, datamodule, trainer)`` from a config and optionally load weights."""
    if not Path(config).is_file():
        raise DataError(config, "config file not found")
    # Checkpointing stays as the config has it (a run's saved config may list ModelCheckpoint callbacks, which
    # enable_checkpointing=False would reject); sampling through this trainer never saves one.
    cli = build_cli(["--config", str(config), "--trainer.logger", "false"])
    if ckpt_path is not None:
        load_weights(cli.model, ckpt_path)
    return cli.model, cli.datamodule, cli.trainer


def pad_and_concat(tensors: list[Tensor]) -> Tensor:
    """Concatenate along dim 0, zero-padding (False for masks) every other dim to the largest size."""
    shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].ndim)]
    padded = []
    for t in tensors:
        out = torch.zeros((t.shape[0], *shape), dtype=t.dtype)
        out[(slice(None), *(slice(0, n) for n in t.shape[1:]))] = t
        padded.append(out)
    return torch.cat(padded)


def merge_predictions(predictions: list[dict[str, Any]]) -> tuple[dict[str, Tensor], dict[str, Tensor], int]:
    """Merge per-batch ``predict_step`` outputs into one set of samples, its context and the NFE per sample."""
    samples = {k: pad_and_concat([p["samples"][k] for p in predictions]) for k in predictions[0]["samples"]}
    context = {k: pad_and_concat([p["context"][k] for p in predictions]) for k in predictions[0]["context"]}
    return samples, context, predictions[0]["nfe"]


def solvers_used(module: DiffusionModule) -> dict[str, str]:
    """The solvers a sample of ``module`` walks: ``solver`` for continuous fields, ``categorical_solver`` for
    categorical ones (only those the model has)."""
    categorical = [isinstance(field, CategoricalField) for field in module.fields.values()]
    return {**({"solver": module.sampler.solver} if not all(categorical) else {}),
            **({"categorical_solver": module.sampler.categorical_solver} if any(categorical) else {})}


def sample_to_files(config: str | Path, ckpt_path: str | Path, num_samples: int, output: Path,
                    solver: str | None = None, steps: int | None = None, grid: str | None = None,
                    batch_size: int | None = None, seed: int = 0, resample: int | None = None,
                    time_distortion: str | None = None, categorical_solver: str | None = None,
                    resample_window: tuple[float, float] | None = None) -> dict[str, Path]:
    """Sample through ``Trainer.predict`` and write samples, a PNG picture and a metrics JSON next to them."""
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    module, datamodule, trainer = load_model(config, ckpt_path)
    overrides = {"solver": solver, "steps": steps, "grid": grid, "resample": resample,
                 "resample_window": resample_window, "time_distortion": time_distortion,
                 "categorical_solver": categorical_solver}
    module.sampler = Sampler(**{**vars(module.sampler), **{k: v for k, v in overrides.items() if v is not None}})
    module.seed = seed
    datamodule.predict_num_samples = num_samples
    datamodule.predict_batch_size = batch_size or datamodule.batch_size
    predictions = trainer.predict(module, datamodule=datamodule)
    samples, context, nfe = merge_predictions(predictions)
    output = Path(output)
    if not output.suffix:
        output = output.with_name(output.name + datamodule.sample_suffix)
    suffix = datamodule.sample_suffix if output.name.endswith(datamodule.sample_suffix) else output.suffix
    stem = output.parent / output.name.removesuffix(suffix)  # "x.nii.gz" -> "x", then x.png, x.metrics.json
    written = {"samples": datamodule.write_samples(samples, context, output)}
    picture = datamodule.render_samples(samples, context, stem.with_name(stem.name + ".png"))
    if picture is not None:
        written["picture"] = picture
    metrics = {**datamodule.evaluate_samples(samples, context), "nfe": nfe, **solvers_used(module),
               "steps": module.sampler.steps, "num_samples": num_samples}
    written["metrics"] = stem.with_name(stem.name + ".metrics.json")
    write_json(written["metrics"], metrics)
    return written
