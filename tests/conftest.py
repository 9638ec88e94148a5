"""Shared test settings: one BLAS thread (the CI machine has 2 cores) and a reproducible hypothesis profile."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from hypothesis import HealthCheck, settings  # noqa: E402

# derandomize: the same examples on every run, so CI failures reproduce; no deadline: the first
# example of a test pays for imports (qiskit, aer) and would trip hypothesis' timing check.
settings.register_profile("tnq", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tnq")
