"""The torch array backend (``backend="torch"``, ``device=``, ``dtype=``) against numpy: one code path, so on random
circuits the torch run must agree with the numpy run to rounding, truncations included; complex64 within a bound
derived from its unit roundoff; gradients through the torch contraction against finite differences; bad options
refused at the door with one line naming the option."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tnq
from tnq.arrays import check_array_options, host, namespace, namespace_of
from tnq.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

AGREE = 1e-9
"""numpy and torch run the same kernels in double precision: their results differ by rounding only (~1e-15 per
operation); 1e-9 leaves room for the few thousand operations of a run, and far below any real disagreement."""


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _degenerate() -> tnq.Circuit:
    """Equal Schmidt values at every cut (GHZ, then more entanglement): max_bond 2 cuts through a cluster of them,
    where only the canonical tie-breaking (``decompose.fix_gauge``) decides which state is kept."""
    circuit = tnq.ghz(8)
    return circuit.h(2).cx(2, 5).h(6).cx(6, 1)


def _arithmetic() -> tnq.Circuit:
    """Permutation gates on a basis state (applied in place on unentangled qubits), then entangling ones."""
    circuit = tnq.Circuit(10).x(0).x(3).x(7).ccx(0, 3, 9).cx(9, 1).cswap(1, 7, 5).ccx(5, 0, 6)
    return circuit.h(2).cx(2, 8).t(8).ccx(8, 6, 4)


def _circuits() -> list[tuple[str, tnq.Circuit, int | None]]:
    return [("brickwork", tnq.brickwork(12, 8, seed=1), None),
            ("cut through equal values", _degenerate(), 2),
            ("3-qubit gates", tnq.random_circuit(10, 90, seed=2), None),
            ("qft", tnq.qft(10), None),
            ("basis-state arithmetic", _arithmetic(), None),
            ("truncated brickwork", tnq.brickwork(14, 10, seed=3), 6),
            ("truncated random", tnq.random_circuit(12, 140, seed=4), 5)]


@pytest.mark.parametrize("name,circuit,max_bond", _circuits(), ids=[c[0] for c in _circuits()])
def test_mps_on_torch_matches_numpy(torch, name: str, circuit: tnq.Circuit, max_bond: int | None) -> None:
    n = circuit.num_qubits
    ref = tnq.simulate(circuit, "mps", max_bond=max_bond)
    run = tnq.simulate(circuit, "mps", max_bond=max_bond, backend="torch")
    assert isinstance(run.mps.tensors[0], torch.Tensor) and not isinstance(ref.mps.tensors[0], torch.Tensor)
    assert run.bond_dims == ref.bond_dims and len(run.discarded_weights) == len(ref.discarded_weights)
    assert abs(run.fidelity - ref.fidelity) < AGREE  # the same truncations, the same estimate
    if max_bond is not None:
        assert ref.fidelity < 0.999  # the case truncates for real
    bits = np.random.default_rng(7).integers(0, 2, size=(64, n))
    amps = run.amplitudes(bits)
    assert isinstance(amps, np.ndarray)  # results come back as numpy
    np.testing.assert_allclose(amps, ref.amplitudes(bits), rtol=0, atol=AGREE)
    vector = run.statevector()
    assert isinstance(vector, np.ndarray)
    assert np.linalg.norm(vector - ref.statevector()) < AGREE
    h = f"Z0 Z{n - 1} + 0.5*X1 Y2 - Y{n // 2}"
    value = run.expectation(h)
    assert isinstance(value, float) and abs(value - ref.expectation(h)) < AGREE
    # the same uniforms decide the same outcomes: a difference needs a uniform within ~1e-15 of a boundary
    np.testing.assert_array_equal(run.sample(300, seed=11), ref.sample(300, seed=11))


def test_mps_sampling_on_torch_follows_the_born_rule(torch) -> None:
    """Independent of numpy: the counts of 4000 torch samples against |amplitude|^2 of the dense reference, by a
    chi-square bound (p-value 1e-6 of the chi-square distribution, so a correct sampler fails once in a million)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    circuit = tnq.brickwork(6, 4, seed=5)
    probs = np.abs(tnq.simulate(circuit, "dense").statevector()) ** 2
    shots = 4000
    samples = tnq.simulate(circuit, "mps", backend="torch").sample(shots, seed=3)
    index = samples @ (1 << np.arange(5, -1, -1))
    observed = np.bincount(index, minlength=64)
    expected = shots * probs
    keep = expected > 5  # pool the rare outcomes (the chi-square approximation needs expected counts > 5)
    obs = np.r_[observed[keep], observed[~keep].sum()]
    exp = np.r_[expected[keep], expected[~keep].sum()]
    statistic = float(np.sum((obs - exp) ** 2 / exp))
    assert statistic < scipy_stats.chi2.isf(1e-6, len(obs) - 1)


def test_dense_and_contract_on_torch_match_numpy(torch) -> None:
    circuit = tnq.grid_random(3, 3, 6, seed=2)
    bits = np.random.default_rng(1).integers(0, 2, size=(40, 9))  # >= 32 rows: the stacked path too
    h = "Z0 Z4 + X8 - 0.3*Y2 X5"
    for method in ("dense", "contract"):
        ref = tnq.simulate(circuit, method)
        run = tnq.simulate(circuit, method, backend="torch", device="cpu")
        amps = run.amplitudes(bits)
        assert isinstance(amps, np.ndarray)
        np.testing.assert_allclose(amps, ref.amplitudes(bits), rtol=0, atol=AGREE)
        np.testing.assert_allclose(run.amplitudes(bits[:3]), ref.amplitudes(bits[:3]), rtol=0, atol=AGREE)
        assert abs(run.expectation(h) - ref.expectation(h)) < AGREE
    assert abs(tnq.expectation(circuit, h, backend="torch") - tnq.expectation(circuit, h)) < AGREE
    np.testing.assert_allclose(tnq.amplitudes(circuit, bits[:2], "contract", backend="torch"),
                               tnq.amplitudes(circuit, bits[:2], "contract"), rtol=0, atol=AGREE)
    counts = tnq.sample(circuit, 200, seed=4, backend="torch", method="mps")
    assert counts == tnq.sample(circuit, 200, seed=4, method="mps")


def _complex64_bound(state: tnq.simulate, gates: int) -> float:
    """Each two-site update (a product with the gate, one factorisation) is backward stable: it returns the exact
    update of a state perturbed by at most c * m * u in norm (u = 2^-24 the unit roundoff of complex64, m the
    length of the longest inner product, at most 4 * bond; c = 4 for the matrix product, QR and SVD together,
    Higham's gamma_m bounds). The updates are unitary, so the errors add up: ||psi64 - psi128|| <= gates * c * m * u."""
    u = float(np.finfo(np.float32).eps) / 2
    return gates * 4 * (4 * max(state.bond_dims)) * u


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_complex64_stays_within_its_derived_bound(backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    circuit = tnq.brickwork(12, 8, seed=6)
    ref = tnq.simulate(circuit, "mps")
    low = tnq.simulate(circuit, "mps", backend=backend, dtype="complex64")
    assert str(low.mps.tensors[0].dtype).endswith("complex64")
    error = np.linalg.norm(low.statevector() - ref.statevector())
    bound = _complex64_bound(ref, low.info["gates_applied"])
    assert error < bound
    assert error > 1e-12  # it did run in single precision
    h = "Z0 Z1 + X5"
    assert abs(low.expectation(h) - ref.expectation(h)) < 2 * bound * 2  # |<O>| error <= 2 ||O|| ||dpsi||, ||O|| <= 2
    contract64 = tnq.simulate(circuit, "contract", backend=backend, dtype="complex64")
    amp = contract64.amplitudes(["0" * 12])[0]
    assert abs(amp - ref.amplitudes(["0" * 12])[0]) < bound


def test_torch_contraction_gradients_match_finite_differences(torch) -> None:
    a, b = tnq.Parameter("a"), tnq.Parameter("b")
    circuit = tnq.Circuit(4).h(0).rx(a, 0).cx(0, 1).ry(2 * b, 1).cz(1, 2).rz(a + b, 2).crx(a, 2, 3).h(3)
    h = "Z0 X3 + Y1 + 0.5*X0 X2"
    point = {"a": 0.3, "b": -0.7}
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in point.items()}
    value = tnq.expectation(circuit.bind(params), h, method="contract", backend="torch")
    assert isinstance(value, torch.Tensor) and value.requires_grad  # the graph is kept for the user
    value.backward()

    def f(**kw: float) -> float:
        return tnq.expectation(circuit.bind({**point, **kw}), h, method="dense")

    eps = 1e-6  # central differences: truncation error ~eps^2 * f''' ~ 1e-12, rounding ~1e-16 / eps ~ 1e-10
    for name in point:
        numeric = (f(**{name: point[name] + eps}) - f(**{name: point[name] - eps})) / (2 * eps)
        assert abs(params[name].grad.item() - numeric) < 1e-8


def test_bad_backend_device_and_dtype_are_refused_at_the_door(torch, monkeypatch) -> None:
    circuit = tnq.ghz(3)
    with pytest.raises(UsageError, match="backend must be one of numpy, torch"):
        tnq.simulate(circuit, backend="jax")
    with pytest.raises(UsageError, match="dtype must be one of complex128, complex64"):
        tnq.simulate(circuit, dtype="float32")
    with pytest.raises(UsageError, match="needs backend='torch'"):
        tnq.simulate(circuit, device="cuda")
    with pytest.raises(UsageError, match="not a torch device"):
        tnq.simulate(circuit, backend="torch", device="gpu0")
    with pytest.raises(UsageError, match="dtype"):
        tnq.expectation(circuit, "Z0", dtype="complex256")
    with pytest.raises(UsageError, match="backend"):
        tnq.amplitudes(circuit, ["000"], backend="cupy")
    with pytest.raises(UsageError, match="backend"):
        tnq.sample(circuit, 10, backend="cupy")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="device='cuda'.*no CUDA GPU"):
            tnq.simulate(circuit, backend="torch", device="cuda")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(UsageError, match="needs PyTorch"):
        check_array_options("torch")


def test_cli_array_options(torch, capsys, tmp_path) -> None:
    import argparse

    from tnq.cli.options import OneLineParser
    from tnq.cli.simulate_cmd import add_array_arguments, run_simulate

    qasm = tmp_path / "bell.qasm"
    qasm.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n')
    parser = OneLineParser(prog="tnq simulate")
    add_array_arguments(parser)
    args = parser.parse_args(["--backend", "torch", "--dtype", "complex64"])
    base = dict(file=str(qasm), plot_bonds=None, expect=["Z0 Z1"], amplitude=["11"], max_bond=None, cutoff=1e-16,
                shots=0, seed=None, noise=None, method="mps", lightcone=False, progress=False)
    result = run_simulate(argparse.Namespace(**base, **vars(args)))
    assert result["simulation"]["backend"] == "torch" and result["simulation"]["dtype"] == "complex64"
    assert abs(result["expectations"][0]["value"] - 1) < 1e-6
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--dtype", "float16"])
    assert exit_info.value.code == 2 and "--dtype" in capsys.readouterr().err
    with pytest.raises(UsageError, match="^--device: "):
        run_simulate(argparse.Namespace(**base, backend="numpy", device="cuda", dtype="complex128"))


def test_namespaces_round_trip(torch) -> None:
    xp = namespace("torch", "cpu", "complex64")
    t = xp.cast(np.eye(2))
    assert t.dtype == torch.complex64 and namespace_of(t) is xp
    assert namespace_of(np.zeros(2, dtype=np.complex64)).dtype_name == "complex64"
    assert isinstance(host(t), np.ndarray)


def test_torch_runs_never_convert_tensors_to_numpy_behind_our_back(torch, monkeypatch) -> None:
    """On a GPU, numpy cannot read a tensor implicitly (np.asarray(cuda_tensor) raises); on the CPU it silently can,
    which would hide such a call. Make CPU tensors refuse it too: every transfer must be an explicit ``host()``."""

    def refuse(self, *args, **kwargs):
        raise TypeError("implicit numpy conversion of a torch tensor")

    monkeypatch.setattr(torch.Tensor, "__array__", refuse)
    with pytest.raises(TypeError, match="implicit"):
        np.asarray(torch.zeros(2))
    circuit = tnq.random_circuit(8, 60, seed=5)
    bits = np.random.default_rng(0).integers(0, 2, size=(40, 8))
    for method, max_bond in (("mps", 4), ("mps", None), ("dense", None), ("contract", None)):
        state = tnq.simulate(circuit, method, max_bond=max_bond, backend="torch")
        state.amplitudes(bits)
        state.amplitudes(bits[:2])
        state.expectation("Z0 Z7 + X3")
        state.sample(50, seed=1)
        if method != "contract":
            state.statevector()
    tnq.expectation(circuit, "Z0", backend="torch", method="mps")
    tnq.simulate(tnq.ghz(6), "mps", backend="torch").mps.sample(20, fixed={0: 1})
    assert tnq.simulate(_arithmetic(), "mps", backend="torch").info["product_gates"] > 0
