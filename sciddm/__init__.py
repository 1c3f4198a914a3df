"""SciDDM: diffusion and flow models for scientific objects.

The public API: schedules and paths (what corruption), solvers and grids (how to walk back), fields (what a
sample is made of), the Lightning ``DiffusionModule`` and checkpoint loading.
"""

from sciddm.categorical_fields import CategoricalField
from sciddm.fields import Field, GaussianField
from sciddm.lightning import DiffusionDataModule, DiffusionModule
from sciddm.paths import GaussianPath, Subspace, ZeroCenterOfMass
from sciddm.sampling import Sampler, sample_fields, solve
from sciddm.schedules import EDM, VE, LinearFlow, Schedule, VPCosine, VPLinear
from sciddm.solvers import SOLVERS, make_solver, time_grid

__all__ = [
    "EDM", "SOLVERS", "VE", "CategoricalField", "DiffusionDataModule", "DiffusionModule", "Field", "GaussianField",
    "GaussianPath", "LinearFlow", "Sampler", "Schedule", "Subspace", "VPCosine", "VPLinear", "ZeroCenterOfMass",
    "make_solver", "sample_fields", "solve", "time_grid",
]
