"""Shared test settings: one BLAS thread (the CI machine has 2 cores) and a reproducible hypothesis profile."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# derandomize: the same examples on every run, so CI failures reproduce; no deadline: the first
# example of a test pays for imports (qiskit, aer) and would trip hypothesis' timing check.
settings.register_profile("tnq", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tnq")


@pytest.fixture
def one_torch_thread():
    """torch on one thread during the test (the CI machine has 2 cores; more threads thrash)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
