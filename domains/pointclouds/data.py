"""Point-cloud data for training: sources that load a :class:`PointCloudSet`, and a ``LightningDataModule``.

A batch is the flat dict ``{"points": [B, N, 3] float32, "node_mask": [B, N] bool, "label": [B] long}``: the core
treats ``points`` as the generated field and the rest as context; ``label`` is present when the source has
classes and ``class_conditional`` is on. Clouds of varying size
(molecules) are padded with zeros and masked; shapes and protein windows have a fixed size (mask all True).

Sources (select one in YAML with ``class_path``): :class:`ProceduralShapes`, :class:`MeshFiles`,
:class:`ShapeNetPointFlow`, :class:`QM9Molecules`, :class:`ProteinCAlpha`.

Normalisation (:mod:`domains.pointclouds.normalize`) is applied to the real points of each cloud:
``none``, ``unit_sphere``, ``unit_box`` (per shape) or ``global`` (mean and std fitted on the training split
only, kept in ``datamodule.standardizer`` to map samples back).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from domains.pointclouds.io import format_suffix, read_obj, read_ply, read_points, write_npy
from domains.pointclouds.latent import SHAPE_KEY, LatentSampling
from domains.pointclouds.latent_priors import PRIORS
from domains.pointclouds.metrics import set_metrics
from domains.pointclouds.normalize import PER_SHAPE, GlobalStandardizer
from domains.pointclouds.plots import plot_cloud_grid
from domains.pointclouds.proteins import ca_windows, read_ca_trace, shipped_pdb_files
from domains.pointclouds.qm9 import qm9_csv_files, read_qm9_csv
from domains.pointclouds.shapenet import load_shapenet
from domains.pointclouds.shapes import FAMILIES, generate_family
from domains.pointclouds.surface import sample_surface
from sciddm.errors import ConfigError, DataError, choose
from sciddm.io import atomic_write
from sciddm.lightning.data import DiffusionDataModule


@dataclass
class PointCloudSet:
    """Clouds ``points`` [M, N, 3], ``mask`` [M, N] (True = real point), optional ``labels`` [M] and names."""

    points: np.ndarray
    mask: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()

    @classmethod
    def from_list(cls, clouds: list[np.ndarray], labels=None, class_names=()) -> PointCloudSet:
        """Pad clouds of varying size with zeros up to the largest one."""
        size = max(len(c) for c in clouds)
        points = np.zeros((len(clouds), size, 3))
        mask = np.zeros((len(clouds), size), dtype=bool)
        for i, cloud in enumerate(clouds):
            points[i, : len(cloud)], mask[i, : len(cloud)] = cloud, True
        return cls(points, mask, None if labels is None else np.asarray(labels, dtype=np.int64), tuple(class_names))


class PointCloudSource(ABC):
    """Something that loads a :class:`PointCloudSet`."""

    @abstractmethod
    def load(self) -> PointCloudSet: ...


class ProceduralShapes(PointCloudSource):
    """``count_per_family`` clouds of each procedural family (:mod:`domains.pointclouds.shapes`), labelled by
    family; family ``k`` uses seed ``seed + k``."""

    def __init__(self, families: list[str] | None = None, count_per_family: int = 64, n_points: int = 2048,
                 seed: int = 0):  # fmt: skip
        self.families = list(families or FAMILIES)
        self.count_per_family, self.n_points, self.seed = count_per_family, n_points, seed

    def load(self) -> PointCloudSet:
        clouds = [generate_family(f, self.count_per_family, self.n_points, self.seed + k)[0]
                  for k, f in enumerate(self.families)]  # fmt: skip
        labels = np.repeat(np.arange(len(self.families)), self.count_per_family)
        points = np.concatenate(clouds)
        return PointCloudSet(points, np.ones(points.shape[:2], dtype=bool), labels, tuple(self.families))

    def load_samplings(self, count: int) -> list[PointCloudSet]:
        """``count`` independent point samplings of the same shapes as :meth:`load` (the generator draws every
        shape's parameters before its points, and a shape's points are i.i.d.): the shapes drawn with
        ``count * n_points`` points, split into ``count`` consecutive blocks."""
        dense = ProceduralShapes(self.families, self.count_per_family, self.n_points * count, self.seed).load()
        return [PointCloudSet(block, np.ones(block.shape[:2], dtype=bool), dense.labels, dense.class_names)
                for block in np.split(dense.points, count, axis=1)]  # fmt: skip


class MeshFiles(PointCloudSource):
    """Clouds of ``n_points`` from files: meshes (.ply/.obj with faces) are sampled by area, point files
    subsampled without replacement (an error if they hold fewer points). Directories are expanded."""

    def __init__(self, paths: list[str], n_points: int = 2048, seed: int = 0):
        self.paths, self.n_points, self.seed = [Path(p) for p in paths], n_points, seed

    def files(self) -> list[Path]:
        found = []
        for path in self.paths:
            found += sorted(p for p in path.iterdir() if format_suffix(p) in (".ply", ".obj", ".xyz", ".npy")) \
                if path.is_dir() else [path]  # fmt: skip
        if not found:
            raise ConfigError(f"no point-cloud or mesh files in {', '.join(map(str, self.paths))}")
        return found

    def load(self) -> PointCloudSet:
        rng = np.random.default_rng(self.seed)
        points = np.stack([load_cloud(file, self.n_points, rng) for file in self.files()])
        return PointCloudSet(points, np.ones(points.shape[:2], dtype=bool))


def load_cloud(file: Path, n_points: int, rng: np.random.Generator) -> np.ndarray:
    """``n_points`` from one file: area sampling if it is a mesh with faces, else a subsample of its points."""
    suffix = format_suffix(file)
    mesh = {".ply": read_ply, ".obj": read_obj}[suffix](file) if suffix in (".ply", ".obj") else None
    if mesh is not None and len(mesh.faces):
        return sample_surface(mesh, n_points, rng, source=file)
    points = read_points(file) if mesh is None else mesh.vertices
    if points.ndim != 2 or len(points) < n_points:
        raise DataError(file, f"need one cloud of at least {n_points} points, got shape {list(points.shape)}")
    return points[rng.choice(len(points), n_points, replace=False)]


class ShapeNetPointFlow(PointCloudSource):
    """ShapeNet in the PointFlow layout (:mod:`domains.pointclouds.shapenet`), labelled by category."""

    def __init__(self, root: str, categories: list[str], split: str = "train", n_points: int = 2048, seed: int = 0):
        self.root, self.categories, self.split, self.n_points, self.seed = root, categories, split, n_points, seed

    def load(self) -> PointCloudSet:
        points, labels = load_shapenet(self.root, self.categories, self.split, self.n_points, self.seed)
        return PointCloudSet(points, np.ones(points.shape[:2], dtype=bool), labels, tuple(self.categories))


class QM9Molecules(PointCloudSource):
    """Atom positions (A) of the first ``max_molecules`` QM9 molecules (qm9pack's first CSV unless ``csv``)."""

    def __init__(self, max_molecules: int = 1000, csv: str | None = None):
        self.max_molecules, self.csv = max_molecules, csv

    def load(self) -> PointCloudSet:
        positions, _ = read_qm9_csv(self.csv or qm9_csv_files()[0], self.max_molecules)
        return PointCloudSet.from_list(positions)


class ProteinCAlpha(PointCloudSource):
    """Windows of ``length`` consecutive C-alpha atoms (A), every ``stride`` residues, from PDB files
    (default: the structures shipped in data/pointclouds/proteins); labelled by file."""

    def __init__(self, files: list[str] | None = None, length: int = 64, stride: int = 16):
        self.files = [Path(f) for f in files] if files else shipped_pdb_files()
        self.length, self.stride = length, stride

    def load(self) -> PointCloudSet:
        windows = [ca_windows(read_ca_trace(f), self.length, self.stride) for f in self.files]
        labels = np.concatenate([np.full(len(w), k) for k, w in enumerate(windows)])
        points = np.concatenate(windows)
        if len(points) == 0:
            raise ConfigError(f"no protein has {self.length} residues; use a shorter window length")
        return PointCloudSet(points, np.ones(points.shape[:2], dtype=bool), labels, tuple(f.name for f in self.files))


def normalize_masked(cloud_set: PointCloudSet, mode: str, standardizer: GlobalStandardizer | None = None):
    """Normalise the real points of each cloud (per-shape ``mode``, or ``global`` with ``standardizer``)."""
    points = cloud_set.points.copy()
    for i, mask in enumerate(cloud_set.mask):
        points[i, mask] = standardizer(points[i, mask]) if mode == "global" else PER_SHAPE[mode](points[i, mask])
    return PointCloudSet(points, cloud_set.mask, cloud_set.labels, cloud_set.class_names)


class PointCloudDataset(Dataset):
    """Items ``{"points": [N, 3] float32, "node_mask": [N] bool, ("label": long)}`` of a :class:`PointCloudSet`.

    With ``label_dropout = p > 0`` each item's label is replaced by the null label ``-1`` with probability ``p``
    (condition dropout for classifier-free guidance, Ho & Salimans 2022). With ``known_points = K > 0`` each item
    also carries a partial view for conditional completion training: the ``K`` real points farthest along a
    direction drawn uniformly on the sphere (the cut of :func:`domains.pointclouds.partial.half_space_cut`),
    as ``observed`` [N, 3] (zeros elsewhere), ``known_mask`` [N, 1] (1.0 = known) and ``free_mask`` [N] (real
    and not known: the points the loss is taken over). With ``shape_context`` each item also carries the clean
    cloud as ``shape`` (context of :class:`domains.pointclouds.latent.LatentPointDenoiser`). Random draws come
    from a generator seeded by ``seed``: the same seed gives the same sequence.
    """

    def __init__(self, cloud_set: PointCloudSet, with_labels: bool, label_dropout: float = 0.0, seed: int = 0,
                 known_points: int = 0, shape_context: bool = False):  # fmt: skip
        self.points = torch.as_tensor(cloud_set.points, dtype=torch.float32)
        self.mask = torch.as_tensor(cloud_set.mask)
        self.labels = torch.as_tensor(cloud_set.labels) if with_labels else None
        self.label_dropout, self.known_points, self.shape_context = label_dropout, known_points, shape_context
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.points)

    def partial_view(self, points: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``known_points`` real points farthest along a random unit direction, as completion context."""
        direction = torch.randn(3, generator=self.generator)
        projection = torch.where(mask, points @ (direction / direction.norm()), -torch.inf)
        known = torch.zeros_like(mask)
        known[projection.topk(self.known_points).indices] = True
        return {"observed": points * known[:, None], "known_mask": known[:, None].float(), "free_mask": mask & ~known}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"points": self.points[index], "node_mask": self.mask[index]}
        if self.shape_context:
            item[SHAPE_KEY] = self.points[index]
        if self.known_points:
            item.update(self.partial_view(item["points"], item["node_mask"]))
        if self.labels is None:
            return item
        label = self.labels[index]
        if self.label_dropout > 0 and torch.rand((), generator=self.generator) < self.label_dropout:
            label = torch.full_like(label, -1)
        return {**item, "label": label}


class PointCloudDataModule(DiffusionDataModule):
    """Splits a source's clouds into train/val by a seeded permutation and serves batches (see module doc).

    For sampling, :meth:`sample_template` draws cloud sizes and labels from the training split's empirical
    distribution; :meth:`write_samples` maps samples back to the data's units (``global`` normalisation) and
    writes ``[M, N, 3]`` ``.npy`` (plus ``<name>.mask.npy`` when clouds are padded); :meth:`evaluate_samples`
    scores fixed-size samples against the validation split (Chamfer MMD, COV, 1-NNA on up to
    ``eval_clouds`` clouds each, in the normalised space). ``label_dropout`` (training split only) trains the
    null class for classifier-free guidance. ``known_points > 0`` adds a random partial view of that many points
    to every item (:class:`PointCloudDataset`) for conditional completion training; use it with
    ``GaussianField(mask_key: free_mask)`` and :class:`domains.pointclouds.denoisers.KnownPointsDenoiser`.
    ``shape_context`` adds the clean cloud as ``shape`` and samples through a fitted latent prior
    (:meth:`sampling_steering`), for :class:`domains.pointclouds.latent.LatentPointDenoiser`: ``latent_prior``
    names it (``gaussian``, ``mixture``, ``kernel``, ``diffusion``: :mod:`domains.pointclouds.latent_priors`) and
    ``latent_prior_options`` are its keyword arguments (e.g. ``{components: auto}``, ``{steps: 2000}``);
    ``latent_code_samplings = K > 1`` fits the prior on each training shape's code averaged over ``K`` point
    samplings (:meth:`domains.pointclouds.latent.LatentPointDenoiser.encode_samplings`; sources with
    ``load_samplings``, e.g. :class:`ProceduralShapes`).
    """

    sample_suffix = ".npy"

    def __init__(self, source: PointCloudSource, normalization: str = "unit_sphere", batch_size: int = 32,
                 val_fraction: float = 0.1, class_conditional: bool = False, eval_clouds: int = 32, seed: int = 0,
                 num_workers: int = 0, label_dropout: float = 0.0, known_points: int = 0,
                 shape_context: bool = False, latent_prior: str = "gaussian",
                 latent_prior_options: dict | None = None, latent_code_samplings: int = 1):  # fmt: skip
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if latent_code_samplings < 1 or (latent_code_samplings > 1 and not hasattr(source, "load_samplings")):
            raise ConfigError(f"latent_code_samplings must be >= 1 (> 1 needs a source with load_samplings, not "
                              f"{type(source).__name__}), got {latent_code_samplings}")  # fmt: skip
        self.latent_code_samplings = latent_code_samplings
        self._code_samplings: dict[int, torch.Tensor] = {}  # K -> training samplings, generated once per K
        choose(latent_prior, PRIORS, "latent prior")
        self.latent_prior, self.latent_prior_options = latent_prior, dict(latent_prior_options or {})
        choose(normalization, {**PER_SHAPE, "global": None}, "normalization")
        if not 0 <= val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if not 0 <= label_dropout <= 1 or (label_dropout > 0 and not class_conditional):
            raise ConfigError(f"label_dropout must be in [0, 1] and needs class_conditional, got {label_dropout}")
        if known_points < 0:
            raise ConfigError(f"known_points must be >= 0, got {known_points}")
        self.label_dropout, self.known_points, self.shape_context = label_dropout, known_points, shape_context
        self.latent_draws = 0  # sampling calls so far: each draws its shape latents with seed ``seed + calls``
        self.source, self.normalization, self.val_fraction = source, normalization, val_fraction
        self.class_conditional, self.eval_clouds = class_conditional, eval_clouds
        self.standardizer: GlobalStandardizer | None = None
        self.datasets: dict[str, PointCloudDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        cloud_set = self.source.load()
        if self.class_conditional and cloud_set.labels is None:
            raise ConfigError(f"class_conditional needs a labelled source; {type(self.source).__name__} has none")
        if self.known_points and self.known_points >= cloud_set.mask.sum(axis=1).min():
            raise ConfigError(f"known_points ({self.known_points}) must be below the smallest cloud's size "
                              f"({cloud_set.mask.sum(axis=1).min()})")  # fmt: skip
        order = np.random.default_rng(self.seed).permutation(len(cloud_set.points))
        n_val = int(round(self.val_fraction * len(order)))
        self.train_index = order[n_val:]
        subsets = {"val": _subset(cloud_set, order[:n_val]), "train": _subset(cloud_set, self.train_index)}
        if self.normalization == "global":
            train = subsets["train"]
            self.standardizer = GlobalStandardizer.fit(train.points[train.mask])
        self.datasets = {name: PointCloudDataset(normalize_masked(s, self.normalization, self.standardizer),
                                                 self.class_conditional, self.label_dropout if name == "train" else 0.0,
                                                 self.seed, self.known_points, self.shape_context)
                         for name, s in subsets.items()}  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["train"], shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["val"], shuffle=False)

    def sample_template(self, num_samples: int, generator: torch.Generator | None = None):
        self.setup()
        train = self.datasets["train"]
        draw = torch.randint(len(train), (num_samples,), generator=generator)
        sizes = train.mask.sum(dim=1)[draw]
        context = {"node_mask": torch.arange(train.mask.shape[1])[None] < sizes[:, None]}
        if self.known_points:  # a completion model sampled without known points: every real point is free
            context["free_mask"] = context["node_mask"]
        if train.labels is not None:
            context["label"] = train.labels[torch.randint(len(train), (num_samples,), generator=generator)]
        return {"points": torch.zeros(num_samples, train.mask.shape[1], 3)}, context

    def evaluate_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]) -> dict:
        references = self.datasets["val"]
        if not (len(references) and context["node_mask"].all() and references.mask.all()):
            return {}
        count = min(self.eval_clouds, len(samples["points"]), len(references))
        points = samples["points"][:count].detach().cpu().double().numpy()
        return set_metrics(points, references.points[:count].double().numpy())

    def to_data_units(self, points: torch.Tensor) -> np.ndarray:
        """Samples in the units of the source (undoing ``global`` normalisation; per-shape modes are kept)."""
        points = points.detach().cpu().double().numpy()
        return self.standardizer.inverse(points) if self.standardizer is not None else points

    def sampling_steering(self, fields: dict) -> dict:
        """With ``shape_context`` (a shape-latent model): a :class:`domains.pointclouds.latent.LatentSampling`
        wrapper whose latent prior is fitted on the training split; the ``k``-th sampling call draws its latents
        with seed ``seed + k``. Otherwise nothing."""
        if not self.shape_context:
            return super().sampling_steering(fields)
        self.setup()
        train, seed = self.datasets["train"], self.seed + self.latent_draws
        self.latent_draws += 1
        wrapper = partial(LatentSampling, train_points=self.latent_training_points(), train_labels=train.labels,
                          train_mask=train.mask,
                          seed=seed, prior=self.latent_prior, prior_options=self.latent_prior_options)  # fmt: skip
        return {"guidance": [], "hooks": [], "network_wrapper": wrapper}

    def latent_training_points(self) -> torch.Tensor:
        """The training shapes the latent prior is fitted on: the split's clouds [M, N, 3], or with
        ``latent_code_samplings = K > 1`` K point samplings of each, normalised like the split, float32
        [K, M, N, 3] (generated once per K, not at every sampling call)."""
        count = self.latent_code_samplings
        if count == 1:
            return self.datasets["train"].points
        if count not in self._code_samplings:
            self._code_samplings[count] = torch.stack([
                torch.as_tensor(normalize_masked(_subset(sampling, self.train_index), self.normalization,
                                                 self.standardizer).points, dtype=torch.float32)
                for sampling in self.source.load_samplings(count)])  # fmt: skip
        return self._code_samplings[count]

    def write_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path) -> Path:
        mask = context["node_mask"].cpu().numpy()
        points = np.where(mask[..., None], self.to_data_units(samples["points"]), 0.0)
        path = Path(path)
        write_npy(path, points)
        if not mask.all():
            with atomic_write(path.with_suffix(".mask.npy"), "wb") as handle:
                np.save(handle, mask)
        return path

    def render_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path) -> Path:
        points, mask = self.to_data_units(samples["points"][:16]), context["node_mask"][:16].cpu().numpy()
        if not mask.all():
            size = int(mask.sum(axis=1).min())  # equal-size clouds for the grid: the first ``size`` real points
            points = np.stack([cloud[m][:size] for cloud, m in zip(points, mask, strict=True)])
        return plot_cloud_grid(points, path)


def _subset(cloud_set: PointCloudSet, index: np.ndarray) -> PointCloudSet:
    labels = None if cloud_set.labels is None else cloud_set.labels[index]
    return PointCloudSet(cloud_set.points[index], cloud_set.mask[index], labels, cloud_set.class_names)
