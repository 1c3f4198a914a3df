"""Segment a NIfTI image with a trained diffusion model: ensemble, fusion, uncertainty, written as NIfTI.

    sciddm segment --config CFG --ckpt_path CKPT --image IMG.nii.gz --output SEG.nii.gz \\
        [--ensemble 5 --fusion mean|majority|staple --steps S --solver NAME --seed 0 --batch_size 8 --overlap 0.5]
        [--uncertainty UNC.nii.gz] [--reference GT.nii.gz] [--overlay PNG]

The image is preprocessed as in training (:meth:`MedSegDataModule.preprocess`: block reduction by ``downsample``
for the MNI152 source, then intensity normalisation), segmented by :func:`domains.medseg.segmentation.
segment_image` (K draws, fusion, normalised-entropy uncertainty; slices or sliding windows), brought back to the
input grid (each reduced voxel repeated over its block, trailing voxels copying the last one), and written with
the input's affine and spacing: integer labels to ``--output`` and the uncertainty in [0, 1] (float32) to
``--uncertainty`` (default: ``<output name>_uncertainty.nii.gz``), both atomically. With ``--reference`` the
metrics of :mod:`domains.medseg.metrics` and the AUROC of the uncertainty for the errors are printed as JSON.

The image must be 3D (2D also for a 2D model) for a one-modality model, or 4D ``[X, Y, Z, C]`` with C modalities.
Bad input (missing or unreadable files, wrong dimensionality, a reference on another grid, unknown options)
prints ``error: <message naming the file>`` on one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from domains.medseg.calibration import auroc
from domains.medseg.decathlon import case_name
from domains.medseg.ensemble import FUSIONS
from domains.medseg.io import Volume, check_same_grid, is_nifti, read_nifti, write_nifti
from domains.medseg.metrics import json_ready, segmentation_metrics, to_labels
from domains.medseg.pictures import write_overlay
from domains.medseg.segmentation import EnsembleSampler, Walk, segment_image
from domains.medseg.transforms import block_upsample
from sciddm.errors import ConfigError, DataError, SciDDMError, choose
from sciddm.sampling import Sampler


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sciddm segment", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the training config (YAML)")
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by 'sciddm fit'")
    parser.add_argument("--image", required=True, help="NIfTI image to segment")
    parser.add_argument("--output", required=True, help="segmentation NIfTI (.nii or .nii.gz)")
    parser.add_argument("--uncertainty", default=None, help="uncertainty NIfTI (default: beside --output)")
    parser.add_argument("--ensemble", type=int, default=5, help="number of draws K")
    parser.add_argument("--fusion", default="mean", help=f"one of: {', '.join(FUSIONS)}")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the config's)")
    parser.add_argument("--solver", default=None, help="sampler solver (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch_size", type=int, default=8, help="slices or windows per network call")
    parser.add_argument("--overlap", type=float, default=0.5, help="sliding-window overlap in [0, 1)")
    parser.add_argument("--reference", default=None, help="ground-truth NIfTI on the image grid (prints metrics)")
    parser.add_argument("--overlay", default=None, help="PNG overlay of image, reference, prediction, uncertainty")
    return parser.parse_args(argv)


def uncertainty_path(output: Path) -> Path:
    """``<output name>_uncertainty.nii.gz`` beside ``output``."""
    return output.with_name(f"{case_name(output)}_uncertainty.nii.gz")


def read_image(path: Path, spatial_dims: int, channels: int) -> tuple[Volume, np.ndarray]:
    """The image volume and its channel-first array [C, *spatial], checked against the model."""
    if channels > 1:
        volume = read_nifti(path, ndim=4)
        if volume.data.shape[3] != channels:
            raise DataError(path, f"has {volume.data.shape[3]} modalities along axis 4, the model expects {channels}")
        return volume, np.moveaxis(volume.data, 3, 0).astype(np.float32)
    volume = read_nifti(path, ndim=(2, 3) if spatial_dims == 2 else 3)
    return volume, volume.data[None].astype(np.float32)


def check_options(args: argparse.Namespace) -> None:
    """One-line errors for options that are wrong whatever the files hold."""
    choose(args.fusion, dict.fromkeys(FUSIONS), "fusion")
    if args.ensemble < 1 or args.batch_size < 1:
        raise ConfigError(f"--ensemble and --batch_size must be >= 1, got {args.ensemble} and {args.batch_size}")
    for option in ("output", "uncertainty"):
        value = getattr(args, option)
        if value is not None and not is_nifti(value):
            raise ConfigError(f"--{option} {value} must end in .nii or .nii.gz")


def run(args: argparse.Namespace) -> dict:
    from sciddm.checkpoints import load_model

    check_options(args)
    module, datamodule, _ = load_model(args.config, args.ckpt_path)
    network = module.network
    image_path, output = Path(args.image), Path(args.output)
    volume, image = read_image(image_path, network.spatial_dims, network.image_channels)
    reference = None
    if args.reference is not None:
        reference_volume = read_nifti(args.reference, ndim=image.ndim - 1)
        check_same_grid(volume, reference_volume, image_path, args.reference)
        reference = to_labels(reference_volume, Path(args.reference), 0.5)

    overrides = {k: v for k, v in {"steps": args.steps, "solver": args.solver}.items() if v is not None}
    sampler = Sampler(**{**vars(module.sampler), **overrides})
    hp = datamodule.hparams
    window = (tuple(hp.patch_size) if network.spatial_dims == 3
              else None if hp.slice_size is None else tuple(hp.slice_size))
    walk = Walk(network.spatial_dims, axis=hp.axis, window=window, overlap=args.overlap, batch_size=args.batch_size)
    draw = EnsembleSampler(module, ensemble=args.ensemble, sampler=sampler, seed=args.seed)
    result = segment_image(datamodule.preprocess(image), draw, walk, args.fusion)

    factor, shape = datamodule.resolution_factor, image.shape[1:]
    labels = block_upsample(result.labels, factor, shape).astype(np.int16)
    uncertainty = block_upsample(result.uncertainty, factor, shape).astype(np.float32)
    written = {"uncertainty": Path(args.uncertainty) if args.uncertainty else uncertainty_path(output),
               "segmentation": output}
    write_nifti(written["uncertainty"], uncertainty, volume.affine, volume.spacing)
    write_nifti(output, labels, volume.affine, volume.spacing)
    summary: dict = {**{k: str(v) for k, v in written.items()}, "nfe_per_draw": draw.nfe,
                     "ensemble": args.ensemble, "fusion": args.fusion}
    if reference is not None:
        metrics = segmentation_metrics(labels, reference, volume.spacing, axis=hp.axis)
        summary.update(json_ready(metrics))
        summary["uncertainty_auroc"] = json_ready({"a": auroc(uncertainty, labels != reference)})["a"]
    if args.overlay is not None:
        write_overlay(args.overlay, image, labels if reference is None else reference, labels, uncertainty,
                      axis=hp.axis, title=f"{image_path.name}: K={args.ensemble} {args.fusion}")
        summary["overlay"] = args.overlay
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        summary = run(args)
    except SciDDMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
