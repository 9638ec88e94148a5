"""The compression tool's named choices and default settings, in a module that imports nothing heavy, so that the
``tnq`` command line (which lists them in its help) starts without loading torch."""

METHODS = ("mpo", "svd", "whitened-svd")
"""Layer factorisations: MPO (TT-matrix), truncated SVD, whitened (activation-aware) SVD."""

CALIBRATIONS = ("independent", "sequential")
"""How layers see calibration inputs: the original model's, or those the already-compressed layers give (see
``sequential.py``)."""

SITES = ("balanced", "auto")
"""MPO site factorisations: balanced, or per layer the better of the balanced MPO and a two-site low-rank one."""

PRECISIONS = ("float32", "bfloat16")
"""Healing precisions."""

SEQUENTIAL_RIDGE = 0.1
"""Ridge of sequential calibration's corrected target, measured on SmolLM2 at 50% (see ``sequential.py``)."""
