"""Medical segmentation benchmark: diffusion ensemble vs a plain UNet on the same budget, with calibration.

    python -m benchmarks.medseg --datasets mni_wm synthetic --steps 500 --ensemble 5 --output runs/medseg_benchmark

For each dataset (``mni_wm``: white matter from the MNI152 T1 at 2 mm, axial slices, held-out slab of the
template split by region; ``synthetic``: binary shapes, held-out images split by sample; ``synthetic_categorical``:
the same with the mask as a categorical field, uniform prior, ancestral sampler) both models are built from the
dataset's config (``configs/medseg/mni_wm_2d.yaml``, ``synthetic_2d.yaml``, ``synthetic_2d_categorical.yaml``;
or ``--config``, a variant of it, for one dataset) and trained for the same number of optimiser steps
(``--steps``) on the same batches (same data module, batch size, augmentation, seed, learning rate, EMA decay and
warm-up, UNet width), single-threaded (``torch.set_num_threads(1)``: the machine is shared), without validation.
Then the held-out test split is segmented:

* **diffusion**: K = ``--ensemble`` draws per slice with the config's grid (10 steps = 10 NFE per draw) and each
  of ``--solvers`` (``ddim``: deterministic, the K draws differ only by their initial noise; ``ddpm``: ancestral,
  fresh noise at every step; a categorical mask uses the config's categorical solver instead), fused by ``mean``
  (the headline row), ``majority`` and ``staple``; ``K=1`` is the first draw alone. ``--nfe`` adds other step
  counts (mean fusion and K=1 only). Uncertainty: normalised predictive entropy of the fused probabilities.
* **unet**: argmax of the softmax; uncertainty: normalised entropy of the softmax.

Metrics (definitions in ``domains/medseg/metrics.py``), class 1 (white matter / shape), threshold 0.5:
``volume_dice`` and ``volume_hd95_mm`` over the whole held-out slab (MNI only; pooled over the independent test
images for synthetic, where it is called ``pooled_dice`` and no pooled HD95 is given), ``slice_dice`` and
``slice_hd95_mm`` averaged over slices / images with the empty-slice rules of the metrics module. Calibration:
AUROC of the uncertainty for detecting voxels where the prediction is wrong, over all held-out voxels
(``auroc_all``, dominated by easy background) and over the boundary band (``auroc_band``: voxels within 2 voxels,
in-plane, of the reference boundary), and the error rate per uncertainty decile. An overlay PNG per dataset is
written to the output folder, and all numbers to ``results.json``.
"""

from __future__ import annotations

import argparse
import time
from itertools import product
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import yaml
from scipy import ndimage

from domains.medseg.baseline import SupervisedSegmentationModule
from domains.medseg.calibration import auroc, error_rate_by_bin
from domains.medseg.denoisers import SegmentationUNet
from domains.medseg.ensemble import FUSIONS, predictive_entropy
from domains.medseg.metrics import dice, segmentation_metrics, slice_level
from domains.medseg.pictures import write_overlay
from domains.medseg.segmentation import EnsembleSampler, Segmentation, Walk, fuse_members, predict_image
from sciddm.checkpoints import load_model
from sciddm.io import write_json
from sciddm.sampling import Sampler

CONFIGS = {"mni_wm": "configs/medseg/mni_wm_2d.yaml", "synthetic": "configs/medseg/synthetic_2d.yaml",
           "synthetic_categorical": "configs/medseg/synthetic_2d_categorical.yaml"}
SLICE_AXIS = 2


def make_trainer(steps: int) -> pl.Trainer:
    """The Trainer both models get: ``steps`` optimiser steps on one CPU device, nothing else."""
    return pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      num_sanity_val_steps=0)


def baseline_for(config: str, module, mask_variant: str) -> SupervisedSegmentationModule:
    """A plain UNet with the diffusion denoiser's backbone sizes (from the config), learning rate and EMA."""
    model_args = yaml.safe_load(Path(config).read_text())["model"]["init_args"]
    sizes = model_args["network"]["init_args"]
    shared = {k: sizes[k] for k in ("spatial_dims", "image_channels", "base_channels", "channel_mults",
                                    "blocks_per_level") if k in sizes}
    network = SegmentationUNet(num_classes=module.network.num_classes, **shared)
    return SupervisedSegmentationModule(network, mask_variant=mask_variant, lr=module.lr,
                                        ema_decay=model_args.get("ema_decay", 0.999),
                                        ema_warmup=model_args.get("ema_warmup", True))


def fit(model, datamodule, steps: int) -> dict[str, float]:
    """Train; return the wall and CPU (this process) seconds."""
    pl.seed_everything(0, verbose=False)
    wall, cpu = time.perf_counter(), time.process_time()
    make_trainer(steps).fit(model, datamodule=datamodule)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def held_out(datamodule) -> tuple[np.ndarray, np.ndarray]:
    """The test split's image [C, X, Y, Z] and labels, its slabs (or independent images) joined along z."""
    volumes = datamodule.split_volumes["test"]
    return (np.concatenate([x for x, _ in volumes], axis=SLICE_AXIS + 1),
            np.concatenate([y for _, y in volumes], axis=SLICE_AXIS))


def boundary_band(reference: np.ndarray, width: int = 2) -> np.ndarray:
    """Voxels within ``width`` in-plane steps of the reference boundary (inside or outside)."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    ref = reference.astype(bool)
    return (ndimage.binary_dilation(ref, structure, width) & ~ndimage.binary_erosion(ref, structure, width,
                                                                                     border_value=1))


def score(labels: np.ndarray, uncertainty: np.ndarray, reference: np.ndarray, spacing, independent: bool) -> dict:
    """Overlap, distance and calibration numbers of one prediction (see the module docstring)."""
    p, r = labels == 1, reference == 1
    out: dict = {}
    if independent:
        out["pooled_dice"] = dice(p, r)
        level = slice_level(p, r, spacing, SLICE_AXIS)
        out.update({f"slice_{k}": level[k] for k in ("dice", "hd95_mm", "n_both_empty", "n_missed", "n_spurious")})
    else:
        metrics = segmentation_metrics(labels, reference, spacing, classes=[1], axis=SLICE_AXIS)
        out.update({k.removesuffix("_c1"): metrics[k] for k in ("volume_dice_c1", "volume_hd95_mm_c1",
                                                                  "slice_dice_c1", "slice_hd95_mm_c1")})
    errors = labels != reference
    band = boundary_band(reference)
    bins = error_rate_by_bin(uncertainty, errors, 10)
    out.update({"auroc_all": auroc(uncertainty, errors), "auroc_band": auroc(uncertainty[band], errors[band]),
                "error_rate": float(errors.mean()), "bin_counts": bins["counts"].tolist(),
                "bin_error_rate": [None if np.isnan(v) else float(v) for v in bins["error_rate"]]})
    return out


def run_dataset(name: str, config: str, steps: int, ensemble: int, solvers: list[str], nfes: list[int] | None,
                output: Path) -> dict:
    module, datamodule, _ = load_model(config)
    datamodule.setup()
    baseline = baseline_for(config, module, datamodule.hparams.mask_variant)
    times = {"diffusion": fit(module, datamodule, steps), "unet": fit(baseline, datamodule, steps)}
    image, reference = held_out(datamodule)
    spacing = datamodule.split_grids["test"][0].spacing
    independent = datamodule.hparams.source != "mni152"
    walk = Walk(spatial_dims=2, axis=SLICE_AXIS, batch_size=8)

    rows: dict[str, dict] = {}
    fused: dict[str, Segmentation] = {}
    sample_seconds: dict[str, float] = {}
    option = "categorical_solver" if module.network.categorical else "solver"
    if module.network.categorical:  # the continuous solvers do not apply: use the config's categorical one
        solvers = [module.sampler.categorical_solver]
    default_steps, shown = module.sampler.steps, ""
    for solver, sampling_steps in product(solvers, sorted({*(nfes or []), default_steps})):
        start = time.perf_counter()
        sampler = Sampler(**{**vars(module.sampler), option: solver, "steps": sampling_steps})
        draw = EnsembleSampler(module, ensemble=ensemble, sampler=sampler, seed=0)
        stacked = predict_image(image, draw, walk)
        members = stacked.reshape(ensemble, -1, *stacked.shape[1:]).astype(np.float64)
        key = f"{solver} {draw.nfe} NFE"
        sample_seconds[key] = time.perf_counter() - start
        shown = shown or (f"{key} mean" if sampling_steps == default_steps else "")
        for fusion in FUSIONS if sampling_steps == default_steps else ("mean",):
            fused[f"{key} {fusion}"] = fuse_members(members, fusion)
            rows[f"diffusion {key} K={ensemble} {fusion}"] = score(
                fused[f"{key} {fusion}"].labels, fused[f"{key} {fusion}"].uncertainty, reference, spacing,
                independent)
        single = fuse_members(members[:1], "mean")
        rows[f"diffusion {key} K=1"] = score(single.labels, single.uncertainty, reference, spacing, independent)
    probabilities = predict_image(image, baseline.probabilities, walk)
    unet_labels, unet_uncertainty = probabilities.argmax(0), predictive_entropy(probabilities)
    rows["unet"] = score(unet_labels, unet_uncertainty, reference, spacing, independent)

    write_overlay(output / f"overlay_{name}.png", image, reference, fused[shown].labels, fused[shown].uncertainty,
                  axis=SLICE_AXIS, title=f"{name}: diffusion ({shown}) K={ensemble}")
    return {"rows": rows, "train_seconds": times, "sample_seconds": sample_seconds, "steps": steps,
            "ensemble": ensemble, "test_shape": list(reference.shape), "spacing_mm": list(spacing)}


def print_tables(name: str, result: dict) -> None:
    rows = result["rows"]
    columns = [c for c in ("volume_dice", "slice_dice", "pooled_dice", "volume_hd95_mm", "slice_hd95_mm",
                           "auroc_all", "auroc_band", "error_rate") if c in next(iter(rows.values()))]
    train = ", ".join(f"{k} {v['cpu']:.0f} CPU / {v['wall']:.0f} wall" for k, v in result["train_seconds"].items())
    sample = ", ".join(f"{k} {v:.0f}" for k, v in result["sample_seconds"].items())
    print(f"\n### {name} (test {result['test_shape']} at {result['spacing_mm']} mm; {result['steps']} steps; "
          f"training s: {train}; sampling wall s: {sample})\n")
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for model, metrics in rows.items():
        print(f"| {model} | " + " | ".join(f"{metrics[c]:.4f}" for c in columns) + " |")
    print("\nerror rate per uncertainty decile [0,0.1) ... [0.9,1] (voxel count):\n")
    for model in (m for m in rows if m.endswith(" mean") or m == "unet"):
        cells = [f"{r:.3f} ({n})" if r is not None else f"- ({n})"
                 for r, n in zip(rows[model]["bin_error_rate"], rows[model]["bin_counts"], strict=True)]
        print(f"* {model}: " + ", ".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mni_wm", "synthetic"], choices=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=500, help="optimiser steps for each model")
    parser.add_argument("--ensemble", type=int, default=5)
    parser.add_argument("--solvers", nargs="+", default=["ddim", "ddpm"],
                        help="samplers to compare (ddim: deterministic, ddpm: stochastic ancestral)")
    parser.add_argument("--nfe", nargs="+", type=int, default=None,
                        help="sampling steps per draw to compare besides the config's; all fusions are scored at the "
                             "config's steps, mean fusion and K=1 at the others")
    parser.add_argument("--config", default=None,
                        help="a variant of the dataset's config (e.g. another field or network option) for both models")
    parser.add_argument("--output", type=Path, default=Path("runs/medseg_benchmark"))
    args = parser.parse_args(argv)
    if args.config and len(args.datasets) != 1:
        parser.error("--config replaces the config of one dataset: name exactly one in --datasets")
    torch.set_num_threads(1)
    results = {}
    for name in args.datasets:
        results[name] = run_dataset(name, args.config or CONFIGS[name], args.steps, args.ensemble, args.solvers,
                                    args.nfe, args.output)
        print_tables(name, results[name])
        write_json(args.output / "results.json", results)


if __name__ == "__main__":
    main()
