"""Test-session set-up: one BLAS/OpenMP thread (set before numpy and torch load their thread pools).

Small dense linear algebra (e.g. 150x150 eigendecompositions) is tens of times slower with two contending
threads on the 2-core CI machine than with one.
"""

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
