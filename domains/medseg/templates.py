"""Real brain MRI available offline: the MNI152 template (nilearn's data folder) and Colin27 + AAL (mricron-data).

* MNI152 ICBM 2009a nonlinear symmetric T1 template, 197x233x189 voxels at 1 mm, with grey- and white-matter
  probability maps (Fonov et al., NeuroImage 2011), as shipped inside the ``nilearn`` package. Files are located
  with :func:`importlib.util.find_spec` and never imported (nilearn is installed without its dependencies).
  The maps are stored as uint8; probabilities are ``value / 255``.
* Colin27 T1 (``ch2.nii.gz``) and the AAL atlas with 116 labels (``aal.nii.gz``; Tzourio-Mazoyer et al. 2002)
  from Debian's ``mricron-data`` package, used only when ``/usr/share/mricron/templates`` exists.

A tissue segmentation target is derived from the probability maps at a stated threshold (see
:func:`tissue_labels`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from domains.medseg.io import Volume, read_nifti
from sciddm.errors import ConfigError, DataError

MNI152_FILES = {kind: f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz" for kind in ("t1", "gm", "wm")}
MRICRON_DIR = Path("/usr/share/mricron/templates")


@dataclass(frozen=True)
class Subject:
    """One subject: the T1 image, an integer label map on the same grid, and the label names."""

    image: Volume
    labels: np.ndarray
    label_names: dict[int, str]


def nilearn_data_dir() -> Path:
    """The ``datasets/data`` folder of the installed nilearn package (raises :class:`ConfigError` if absent)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the MNI152 template needs the 'nilearn' package installed (pip install --no-deps nilearn)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def mni152_paths() -> dict[str, Path]:
    """Paths of the MNI152 T1, GM and WM files, keyed ``t1``, ``gm``, ``wm``."""
    folder = nilearn_data_dir()
    paths = {kind: folder / name for kind, name in MNI152_FILES.items()}
    for path in paths.values():
        if not path.is_file():
            raise DataError(path, "MNI152 template file missing from the nilearn installation")
    return paths


def tissue_labels(gm: np.ndarray, wm: np.ndarray, task: str = "wm", threshold: float = 0.5) -> np.ndarray:
    """Integer label map from GM and WM probabilities in [0, 1].

    ``task="wm"``: 1 where ``P(WM) >= threshold``, else 0 (binary white-matter segmentation).
    ``task="tissue"``: argmax over (background = 1 - P(GM) - P(WM), GM, WM), labels 0, 1, 2.
    """
    if task == "wm":
        return (wm >= threshold).astype(np.int64)
    if task == "tissue":
        background = np.clip(1.0 - gm - wm, 0.0, 1.0)
        return np.argmax(np.stack([background, gm, wm]), axis=0).astype(np.int64)
    raise ConfigError(f"unknown MNI152 task {task!r}; choose one of: tissue, wm")


def load_mni152(task: str = "wm", threshold: float = 0.5) -> Subject:
    """The MNI152 T1 (as float32, original 0..255 scale) with a WM or GM/WM label map (:func:`tissue_labels`)."""
    paths = mni152_paths()
    t1 = read_nifti(paths["t1"])
    gm = read_nifti(paths["gm"]).data.astype(np.float32) / 255.0
    wm = read_nifti(paths["wm"]).data.astype(np.float32) / 255.0
    names = {0: "background", 1: "white matter"} if task == "wm" else {0: "background", 1: "grey matter",
                                                                       2: "white matter"}
    image = Volume(t1.data.astype(np.float32), t1.affine, t1.spacing)
    return Subject(image=image, labels=tissue_labels(gm, wm, task, threshold), label_names=names)


def colin27_available() -> bool:
    """True when Debian's mricron-data files (Colin27 T1 and AAL) are installed."""
    return (MRICRON_DIR / "ch2.nii.gz").is_file() and (MRICRON_DIR / "aal.nii.gz").is_file()


def load_colin27_aal() -> Subject:
    """Colin27 T1 with the AAL atlas (label values as stored; 116 regions plus background 0)."""
    if not colin27_available():
        raise ConfigError(f"Colin27/AAL needs Debian's mricron-data (files under {MRICRON_DIR})")
    t1 = read_nifti(MRICRON_DIR / "ch2.nii.gz")
    aal = read_nifti(MRICRON_DIR / "aal.nii.gz")
    if aal.data.shape != t1.data.shape:
        raise DataError(MRICRON_DIR / "aal.nii.gz", f"AAL shape {aal.data.shape} differs from ch2 {t1.data.shape}")
    labels = np.rint(aal.data).astype(np.int64)
    names = {int(v): f"AAL {int(v)}" for v in np.unique(labels)}
    names[0] = "background"
    return Subject(image=Volume(t1.data.astype(np.float32), t1.affine, t1.spacing), labels=labels, label_names=names)
