r"""Reconstruct the missing traces of a survey with a trained diffusion model, patch by patch.

Python API: :func:`reconstruct`. Command line::

    sciddm reconstruct --config CFG --ckpt_path CKPT --input survey.sgy --mask mask.npy \
        --output recon.sgy [--method replace|dps|none|estimate] [--steps K] [--solver S] [--ensemble N]
        [--std_output P] [--symmetries 1|4|8] [--polarity]
        [--adapt_steps N --adapt_lr LR --adapt_hidden F --adapt_batch B --adapt_replay R]
        [--adapt_schedule constant|cosine]

The survey is normalised once from its observed traces (the datamodule's ``normalization``), cut into
overlapping patches of the training ``patch_shape`` and each patch is sampled with the model's solver; the
patches are blended back with :func:`stitching.stitch`. Measurement consistency at every solver step
(``method``):

- ``replace``: after each step to time ``s`` the observed traces are replaced by a fresh forward-process draw
  :math:`q(x_s\mid y)` of the observed data, and by the data itself after the last step
  (:class:`sciddm.guidance.Inpainting`; RePaint without resampling, Lugmayr et al. 2022). After
  denormalisation the observed samples are copied from the input, so they are preserved bit for bit;
- ``dps``: the clean estimate is corrected by the gradient of the misfit
  :math:`\tfrac12\|M\odot(\hat x_0(x_t)-y)\|^2` with the DPS step size :math:`\zeta/\|M\odot(\hat x_0-y)\|`
  (Chung et al. 2023; :class:`sciddm.guidance.GradientGuidance`, one backward pass per evaluation); observed
  traces are fitted, not copied;
- ``none``: the network sees the observed traces and mask as inputs only (its conditional sample);
- ``estimate``: no sampling: the network's clean estimate from pure noise, one evaluation (one DDIM step from
  ``t_max`` onto the schedule's end), i.e. its regression of the conditional mean :math:`\mathbb E[x_0\mid y]`,
  the MMSE reconstruction; observed traces are copied back as with ``replace``.

``symmetries`` = 4 or 8 averages the whole reconstruction over the flips (and transposes) of the trace grid
(:mod:`domains.seismic.symmetry`), mean and standard deviation alike, at 4 or 8 times the cost.
``polarity`` averages over the sign of the data as well: :math:`\tfrac12\,(R(v, m) - R(-v, m))`. Seismic
amplitudes have no preferred sign (the synthetic generator draws reflectivity uniform in :math:`[-1, 1]` and
every later step is linear or sign-symmetric noise), so :math:`-R(-v, m)` is an equally good reconstruction
and their mean has a squared error at most the mean of theirs (convexity); a reconstruction that is odd in
the data (linear interpolation) is unchanged; it doubles the cost and combines with ``symmetries``.

``adaptation`` (:class:`adaptation.Adaptation` with ``steps > 0``) first fine-tunes a copy of the network on the
survey's own observed traces (hide some, predict them; :mod:`domains.seismic.adaptation`) and reconstructs with
the copy; the missing traces are never read.

With ``ensemble = N`` the whole survey is reconstructed N times with different noise; the result is the
voxel-wise mean and the population standard deviation :math:`\sqrt{\tfrac1N\sum_k (x_k-\bar x)^2}` of the
members, an uncertainty volume (zero on observed traces with ``replace``). Outputs are written atomically
(``.npy``, or SEG-Y with the input's headers; fresh headers when the input was ``.npy``), and only after the
whole reconstruction succeeded: an interrupted run leaves no output file.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from domains.seismic.adaptation import Adaptation, adapt_module, add_adaptation_arguments
from domains.seismic.data import fit_normalization, measurement_context
from domains.seismic.masks import volume_mask
from domains.seismic.segy import SegyHeaders, new_headers, read_segy, write_segy
from domains.seismic.stitching import stitch
from domains.seismic.symmetry import SYMMETRY_COUNTS, symmetry_average
from domains.seismic.volume_io import SEGY_SUFFIXES, read_volume
from sciddm.errors import ConfigError, DataError, SciDDMError, choose
from sciddm.guidance import GradientGuidance, Inpainting, masked_misfit
from sciddm.io import atomic_path
from sciddm.lightning.module import DiffusionModule
from sciddm.sampling import Sampler

FIELD = "volume"
METHODS = ("replace", "dps", "none", "estimate")
COPIES_OBSERVED = ("replace", "estimate")  # methods whose output keeps the observed samples bit for bit
OUTPUT_SUFFIXES = (".npy", *SEGY_SUFFIXES)


@dataclass(frozen=True)
class Reconstruction:
    """The ensemble mean and per-voxel standard deviation (original units, float32) and the cost: network
    evaluations per patch trajectory (``nfe``) and in total (``network_calls``, counting batched patches once)."""

    mean: np.ndarray
    std: np.ndarray
    nfe: int
    network_calls: int


class PatchSampler:
    """The patch function handed to :func:`stitch`: one sampler run (with the chosen measurement consistency)
    per batch of patches, drawing noise from ``generator`` and counting network evaluations."""

    def __init__(self, module: DiffusionModule, method: str, sampler: Sampler | None, guidance_scale: float,
                 generator: torch.Generator):
        self.module, self.method, self.sampler = module, method, sampler
        self.guidance_scale, self.generator = guidance_scale, generator
        self.nfe = self.network_calls = 0

    def steering(self, patch: dict[str, torch.Tensor]) -> dict[str, list]:
        if self.method == "replace":
            return {"hooks": [Inpainting(self.module.fields, FIELD)]}
        if self.method == "dps":
            objective = masked_misfit(FIELD, patch["observed"], patch["mask"])
            return {"guidance": [GradientGuidance(FIELD, objective, self.guidance_scale, dps_normalize=True)]}
        return {}

    def __call__(self, patch: dict[str, torch.Tensor]) -> torch.Tensor:
        patch = {k: v.to(self.module.device) for k, v in patch.items()}
        template = {FIELD: torch.zeros_like(patch["observed"])}
        samples, self.nfe = self.module.sample(template, patch, self.sampler, self.generator, **self.steering(patch))
        self.network_calls += self.nfe
        return samples[FIELD].detach().cpu()


def reconstruct(
    module: DiffusionModule,
    volume: np.ndarray,
    mask: np.ndarray,
    patch_shape: Sequence[int],
    method: str = "replace",
    sampler: Sampler | None = None,
    ensemble: int = 1,
    overlap: int | Sequence[int] | None = None,
    batch_size: int = 4,
    guidance_scale: float = 1.0,
    normalization: str = "rms",
    interpolate: bool = False,
    seed: int = 0,
    symmetries: int = 1,
    polarity: bool = False,
    adaptation: Adaptation | None = None,
    replay_data: Dataset | None = None,
    progress: bool = False,
) -> Reconstruction:
    """Reconstruct ``volume`` ``[n_il, n_xl, n_t]`` where ``mask`` (trace or full, True = observed) is False.

    ``overlap`` defaults to a quarter of the patch along each axis; ``interpolate`` must match the training
    data (it adds the linearly interpolated condition). Member ``k`` of the ensemble draws its noise from
    ``torch.Generator().manual_seed(seed + k)``: same seed, same result. ``symmetries`` (1, 4 or 8) averages
    over the trace grid's flips and transposes, ``polarity`` over the sign of the data (module docstring).
    ``adaptation`` fine-tunes a copy of the network on the survey's observed traces first (with the same grid
    maps and signs as augmentations, and ``replay_data``, training examples, when ``adaptation.replay`` > 0);
    ``module`` itself is not changed; ``progress`` shows the adaptation's steps and loss.
    """
    choose(method, dict.fromkeys(METHODS), "reconstruction method")
    choose(symmetries, SYMMETRY_COUNTS, "number of grid symmetries")
    if FIELD not in module.fields:
        raise ConfigError(f"the model generates {sorted(module.fields)}, not the seismic field {FIELD!r}")
    if ensemble < 1:
        raise ConfigError(f"ensemble must be >= 1, got {ensemble}")
    if adaptation is not None:
        module = adapt_module(module, volume, mask, patch_shape, adaptation, normalization, interpolate, symmetries,
                              polarity, replay_data, progress)
    options = (patch_shape, method, sampler, ensemble, overlap, batch_size, guidance_scale, normalization, interpolate,
               seed)
    one_orientation = _both_polarities if polarity else _reconstruct
    if symmetries == 1:
        return one_orientation(module, volume, mask, *options)
    results: list[Reconstruction] = []

    def mean_and_std(oriented_volume: np.ndarray, oriented_mask: np.ndarray) -> np.ndarray:
        results.append(one_orientation(module, oriented_volume, oriented_mask, *options))
        return np.stack([results[-1].mean, results[-1].std], axis=-1)  # grid axes first, as the maps need

    averaged = symmetry_average(mean_and_std, volume, mask, transpose=SYMMETRY_COUNTS[symmetries])
    mean, std = (np.ascontiguousarray(averaged[..., k]) for k in (0, 1))
    if method in COPIES_OBSERVED:  # a mean of equal float32 values need not round back to them
        mean = np.where(volume_mask(mask, volume.shape), volume, mean).astype(np.float32)
    return Reconstruction(mean=mean, std=std, nfe=results[0].nfe,
                          network_calls=sum(r.network_calls for r in results))


def _both_polarities(module: DiffusionModule, volume: np.ndarray, mask: np.ndarray, *options) -> Reconstruction:
    """:math:`\\tfrac12 (R(v, m) - R(-v, m))` (module docstring); standard deviations are averaged, as over
    the grid symmetries. Observed samples copied from ``v`` stay exact: :math:`(v - (-v)) / 2 = v` in floats."""
    plus = _reconstruct(module, volume, mask, *options)
    minus = _reconstruct(module, -volume, mask, *options)
    return Reconstruction(mean=(plus.mean - minus.mean) / 2, std=(plus.std + minus.std) / 2, nfe=plus.nfe,
                          network_calls=plus.network_calls + minus.network_calls)


def _reconstruct(module: DiffusionModule, volume: np.ndarray, mask: np.ndarray, patch_shape: Sequence[int],
                 method: str, sampler: Sampler | None, ensemble: int, overlap: int | Sequence[int] | None,
                 batch_size: int, guidance_scale: float, normalization: str, interpolate: bool,
                 seed: int) -> Reconstruction:
    """:func:`reconstruct` on one orientation of the grid."""
    if method == "estimate":
        grid = (sampler or module.sampler).grid
        sampler = Sampler(solver="ddim", steps=1, grid=grid, denoise_final=False)
    patch_shape = tuple(int(p) for p in patch_shape)
    overlap = tuple(p // 4 for p in patch_shape) if overlap is None else overlap
    observed_mask = volume_mask(mask, volume.shape)
    normalization_ = fit_normalization(volume, mask, normalization)
    normalised = np.asarray(normalization_.normalise(volume.astype(np.float64)), dtype=np.float32)
    inputs = {k: torch.from_numpy(v)[None] for k, v in measurement_context(normalised, mask, interpolate).items()}
    missing_keys = set(getattr(module.sampling_network, "condition_keys", ())) - set(inputs)
    if missing_keys:
        raise ConfigError(f"the network is conditioned on {sorted(missing_keys)}, which the reconstruction does "
                          "not provide (set interpolate as in the training data)")
    members, patch_samplers = [], []
    for member in range(ensemble):
        generator = torch.Generator(device=module.device).manual_seed(seed + member)
        consistency = "none" if method == "estimate" else method
        patch_samplers.append(PatchSampler(module, consistency, sampler, guidance_scale, generator))
        blended = stitch(patch_samplers[-1], inputs, patch_shape, overlap, batch_size)[0]
        result = normalization_.denormalise(blended.to(torch.float64).numpy())
        if method in COPIES_OBSERVED:
            result = np.where(observed_mask, volume, result)
        members.append(result)
    stacked = np.stack(members)
    return Reconstruction(mean=stacked.mean(axis=0).astype(np.float32), std=stacked.std(axis=0).astype(np.float32),
                          nfe=patch_samplers[-1].nfe, network_calls=sum(p.network_calls for p in patch_samplers))


# ---------------------------------------------------------------------------------------------- command line
@dataclass(frozen=True)
class Survey:
    """An input volume, the headers to write results with, and where traces exist at all."""

    data: np.ndarray
    headers: SegyHeaders
    present: np.ndarray


def read_survey(path: Path, allow_holes: bool = False) -> Survey:
    """A ``.npy`` or SEG-Y survey; ``.npy`` volumes get fresh SEG-Y headers for SEG-Y output."""
    if path.suffix.lower() in SEGY_SUFFIXES:
        segy = read_segy(path, allow_holes=allow_holes)
        return Survey(segy.data.astype(np.float32), segy.headers, segy.present)
    volume = read_volume(path)
    return Survey(volume, new_headers(volume.shape[:2], volume.shape[2]), np.ones(volume.shape[:2], dtype=bool))


def read_mask(path: Path | None, survey: Survey, survey_path: Path) -> np.ndarray:
    """The observed-trace mask from a ``.npy`` file, or (without a file) the live traces: present in the
    survey and not all zero. Positions missing from the survey are always treated as missing."""
    if path is None:
        return survey.present & np.any(survey.data != 0, axis=2)
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(path, f"not a readable .npy mask ({error})") from None
    shape = survey.data.shape
    if mask.shape not in (shape, shape[:2]):
        raise DataError(path, f"mask shape {mask.shape} fits neither the volume {survey_path} of shape {shape} nor "
                              f"its trace grid {shape[:2]}")
    if mask.dtype != bool and not (np.issubdtype(mask.dtype, np.number) and np.isin(mask, (0, 1)).all()):
        raise DataError(path, f"mask must be boolean or contain only 0 and 1 (dtype {mask.dtype})")
    mask = mask.astype(bool)
    return mask & (survey.present if mask.ndim == 2 else survey.present[..., None])


def replay_data(datamodule, replay: int) -> Dataset | None:
    """The datamodule's training set when the adaptation replays training examples, else None."""
    if not replay:
        return None
    datamodule.setup("fit")
    return datamodule.train_set


def write_volume(path: Path, volume: np.ndarray, headers: SegyHeaders) -> None:
    """``.npy`` or SEG-Y (with ``headers``), atomically."""
    if path.suffix.lower() in SEGY_SUFFIXES:
        write_segy(path, volume, headers)
    else:
        with atomic_path(path) as tmp:
            np.save(tmp, volume)


def _check_output(path: Path) -> Path:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"{path}: output must end in {', '.join(OUTPUT_SUFFIXES)}")
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sciddm reconstruct",
                                     description="Reconstruct missing traces of a survey with a trained model.")
    parser.add_argument("--config", required=True, help="the training config (YAML)")
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by 'sciddm fit'")
    parser.add_argument("--input", required=True, type=Path, help="survey: .sgy, .segy or .npy")
    parser.add_argument("--mask", type=Path, default=None,
                        help=".npy trace or full mask, True = observed (default: the non-zero traces)")
    parser.add_argument("--output", required=True, type=Path, help="reconstruction: .sgy, .segy or .npy")
    parser.add_argument("--method", default="replace", choices=METHODS)
    parser.add_argument("--steps", type=int, default=None, help="solver steps (default: the config's)")
    parser.add_argument("--solver", default=None, help="continuous solver (default: the config's)")
    parser.add_argument("--ensemble", type=int, default=1, help="members; >1 also writes a std volume")
    parser.add_argument("--std_output", type=Path, default=None,
                        help="per-voxel ensemble std (default with --ensemble > 1: OUTPUT stem + '_std')")
    parser.add_argument("--overlap", type=int, default=None, help="patch overlap (default: a quarter patch)")
    parser.add_argument("--batch_size", type=int, default=4, help="patches per network call")
    parser.add_argument("--guidance_scale", type=float, default=1.0, help="DPS step size zeta")
    parser.add_argument("--allow_holes", action="store_true", help="accept SEG-Y grids with missing positions")
    parser.add_argument("--symmetries", type=int, default=1,
                        help="average over 4 flips or 8 flips and transposes of the trace grid (1: off)")
    parser.add_argument("--polarity", action="store_true",
                        help="also average over the sign of the data: (R(v) - R(-v)) / 2, twice the cost")
    add_adaptation_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Path]:
    """Read, check, reconstruct, write; returns the written paths. Raises :class:`SciDDMError` on bad input."""
    from sciddm.checkpoints import load_model

    output = _check_output(args.output)
    std_output = args.std_output
    if std_output is None and args.ensemble > 1:
        std_output = output.with_name(f"{output.stem}_std{output.suffix}")
    if std_output is not None:
        _check_output(std_output)
    survey = read_survey(args.input, args.allow_holes)
    mask = read_mask(args.mask, survey, args.input)
    if not mask.any():
        raise DataError(args.mask or args.input, "no observed trace to reconstruct from")
    module, datamodule, _ = load_model(args.config, args.ckpt_path)
    overrides = {k: v for k, v in {"steps": args.steps, "solver": args.solver}.items() if v is not None}
    sampler = Sampler(**{**vars(module.sampler), **overrides})
    hp = datamodule.hparams
    result = reconstruct(module, survey.data, mask, hp.patch_shape, args.method, sampler, args.ensemble,
                         args.overlap, args.batch_size, args.guidance_scale, hp.normalization,
                         hp.get("interpolate", False), args.seed, args.symmetries, args.polarity,
                         Adaptation.from_args(args), replay_data(datamodule, args.adapt_replay), progress=True)
    written = {"reconstruction": output}
    write_volume(output, result.mean, survey.headers)
    if std_output is not None:
        write_volume(std_output, result.std, survey.headers)
        written["std"] = std_output
    print(f"nfe per patch: {result.nfe}, network calls: {result.network_calls}")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 with ``error: <message>`` on one line for bad input."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        written = run(args)
    except SciDDMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
    for kind, path in written.items():
        print(f"{kind}: {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
