"""Continuous-field solvers, the time grids they walk, and the registry used by configs and the CLI."""

from sciddm.errors import choose
from sciddm.solvers.base import Solver
from sciddm.solvers.ddim import DDIM, DDPM
from sciddm.solvers.dpmpp import DPMSolverPP
from sciddm.solvers.euler import Euler, EulerMaruyama, Heun
from sciddm.solvers.grids import time_grid

SOLVERS = {
    "ddim": DDIM,
    "ddpm": DDPM,
    "euler": Euler,
    "euler_maruyama": EulerMaruyama,
    "heun": Heun,
    "dpmpp_2m": lambda: DPMSolverPP(order=2),
    "dpmpp_3m": lambda: DPMSolverPP(order=3),
    "unipc": lambda: DPMSolverPP(order=2, corrector=True),
    "unipc_3m": lambda: DPMSolverPP(order=3, corrector=True),
}


def make_solver(name: str) -> Solver:
    """Build a solver by its registry name (``ddim``, ``dpmpp_2m``, ...)."""
    return choose(name, SOLVERS, "solver")()


__all__ = ["DDIM", "DDPM", "DPMSolverPP", "Euler", "EulerMaruyama", "Heun", "SOLVERS", "Solver", "make_solver",
           "time_grid"]
