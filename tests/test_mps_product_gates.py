"""Gates on unentangled qubits (``MPS.apply_to_product``): when every qubit a gate touches has bonds of dimension 1 on
both sides and the result is again a product, the MPS backend applies it in place, without routing. Checked against
the dense reference (global phase included) on random circuits that mix such gates with entangling ones, against a
classical simulation of basis-state arithmetic at 60 qubits, and for the gauge it leaves (canonical form, fixed
phases)."""

import numpy as np
import pytest

import tnq
from tnq.tensornet import MPS

ONE_QUBIT = ("x", "h", "s", "t", "sx")
MULTI_QUBIT = ("cx", "cz", "swap", "ccx", "cswap", "cp", "rzz", "crx")


def _random_circuit(n: int, num_gates: int, seed: int) -> tnq.Circuit:
    """Basis-state preparation on some qubits, then random gates on random (mostly far-apart) qubits: a mix of
    permutation gates (which keep product states product), phases and entangling gates."""
    rng = np.random.default_rng(seed)
    c = tnq.Circuit(n)
    for q in range(n):
        if rng.random() < 0.5:
            c.x(q)
    for _ in range(num_gates):
        if rng.random() < 0.2:
            c.append(str(rng.choice(ONE_QUBIT)), [int(rng.integers(n))])
            continue
        name = str(rng.choice(MULTI_QUBIT))
        k = 3 if name in ("ccx", "cswap") else 2
        params = [float(rng.uniform(-3, 3))] if name in ("cp", "rzz", "crx") else []
        c.append(name, [int(q) for q in rng.choice(n, size=k, replace=False)], params)
    return c


def _canonical(mps: MPS) -> bool:
    """Every tensor left of the centre left-orthonormal, every one right of it right-orthonormal."""
    for k, t in enumerate(mps.tensors):
        left, d, right = t.shape
        if k < mps.center:
            m = t.reshape(left * d, right)
            if not np.allclose(m.conj().T @ m, np.eye(right), atol=1e-12):
                return False
        elif k > mps.center:
            m = t.reshape(left, d * right)
            if not np.allclose(m @ m.conj().T, np.eye(left), atol=1e-12):
                return False
    return True


@pytest.mark.parametrize("seed", range(6))
def test_random_circuits_equal_the_dense_state(seed):
    """A few hundred double-precision steps: 1e-10 is about 1e3 roundings. The random circuits start as products,
    so some gates take the product path and the others the routed one; both must give the dense state exactly."""
    n = 11
    c = _random_circuit(n, 60, seed)
    state = tnq.simulate(c, method="mps")
    reference = tnq.simulate(c, method="dense").statevector()
    np.testing.assert_allclose(state.statevector(), reference, atol=1e-10)
    assert state.info["product_gates"] > 0
    assert _canonical(state.mps)


def test_basis_state_arithmetic_needs_no_routing():
    """Permutation gates on a basis state at 60 qubits (far beyond the dense reference): every gate stays on the
    product path (no routing swap, bond 1 throughout), and the outcome is the classical result with amplitude 1."""
    n, rng = 60, np.random.default_rng(5)
    bits = rng.integers(0, 2, n)
    c = tnq.Circuit(n)
    for q in np.flatnonzero(bits):
        c.x(int(q))
    for _ in range(400):
        name = str(rng.choice(["cx", "ccx", "swap", "cswap"]))
        qubits = [int(q) for q in rng.choice(n, size=3 if name in ("ccx", "cswap") else 2, replace=False)]
        c.append(name, qubits)
        if name == "cx":
            bits[qubits[1]] ^= bits[qubits[0]]
        elif name == "ccx":
            bits[qubits[2]] ^= bits[qubits[0]] & bits[qubits[1]]
        elif name == "swap":
            bits[qubits] = bits[qubits[::-1]]
        elif bits[qubits[0]]:
            bits[qubits[1:]] = bits[qubits[1:][::-1]]
    unfused = tnq.simulate(c, method="mps", max_bond=64, fuse_gates=False)
    relabelled = unfused.info["swaps_relabelled"]  # SWAP gates become a relabelling of the wires
    assert relabelled > 0 and unfused.info["product_gates"] == 400 - relabelled
    assert unfused.info["routing_swaps"] == 0
    state = tnq.simulate(c, method="mps", max_bond=64)  # fused gates on product qubits stay products too
    assert state.info["routing_swaps"] == 0
    assert state.info["largest_bond"] == 1 and state.fidelity == 1.0
    amplitude = state.amplitudes(bits[None])[0]
    assert abs(amplitude - 1.0) < 1e-12  # global phase included


def test_entangling_result_leaves_the_state_unchanged_and_phases_are_fixed():
    """A gate whose result is entangled (CX on |+>|0>) is refused with nothing changed; a product result gets site
    vectors whose largest entry is real positive, and the scalar (here -1 from CZ on |11>) lands on the centre."""
    plus = np.array([1.0, 1.0]) / np.sqrt(2)
    mps = MPS.product_state(4, [plus, np.array([0.0, 1.0]), np.array([0.0, 1.0j]), plus])
    before = [t.copy() for t in mps.tensors]
    cx = np.eye(4)[[0, 1, 3, 2]].astype(complex)
    assert not mps.apply_to_product([0, 2], cx)  # |+>|0> -> Bell pair: not a product
    assert all(np.array_equal(a, b) for a, b in zip(before, mps.tensors))
    cz = np.diag([1, 1, 1, -1]).astype(complex)
    dense = mps.to_dense()
    assert mps.apply_to_product([2, 1], cz)  # both |1> (up to a phase): the result is -|11>
    expected = dense.reshape(2, 2, 2, 2).copy()
    expected[:, 1, 1, :] *= -1
    np.testing.assert_allclose(mps.to_dense(), expected.reshape(-1), atol=1e-15)
    for k in (1, 2):
        v = mps.tensors[k].reshape(-1)
        j = int(np.argmax(np.abs(v)))
        assert v[j].imag == 0.0 and v[j].real > 0


@pytest.mark.parametrize("absorb", ["left", "right"])
@pytest.mark.parametrize("center", [1, 2, 4])
def test_swaps_and_centre_moves_through_product_sites_are_exact(absorb, center):
    """Two product sites are swapped by exchanging their tensors, and the centre crosses a bond of dimension 1 by a
    normalisation: the state is the dense one with the two qubits exchanged, the centre ends on the ``absorb``
    side, and the form stays canonical (the centre carrying the norm of an unnormalised state). Sites 0-1 are
    entangled, so the chain mixes both kinds of bond."""
    rng = np.random.default_rng(center)
    vectors = [rng.normal(size=2) + 1j * rng.normal(size=2) for _ in range(6)]
    mps = MPS.product_state(6, vectors)
    mps.apply_gate(0, np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0])
    mps.move_center(center)
    mps.tensors[center] = 3.0 * mps.tensors[center]  # an unnormalised state: the norm must travel with the centre
    dense = mps.to_dense().reshape((2,) * 6)
    mps.swap_sites(2, absorb=absorb)  # sites 2 and 3: bonds 1, 1, 1
    assert mps.center == (2 if absorb == "left" else 3)
    np.testing.assert_allclose(mps.to_dense(), dense.transpose(0, 1, 3, 2, 4, 5).reshape(-1), atol=1e-14)
    assert _canonical(mps)
    for site in (5, 0, 3):
        mps.move_center(site)
        assert _canonical(mps)
        np.testing.assert_allclose(mps.to_dense(), dense.transpose(0, 1, 3, 2, 4, 5).reshape(-1), atol=1e-14)


def test_exact_product_reads_factors_off_without_an_svd():
    """A product of random complex vectors (dims 2, 3, 2) comes back as factors whose product is the vector to
    rounding, also under a phase; a vector one part in 1e6 away from a product is refused unless the cutoff allows it
    and is at most rounding (EXACT_PRODUCT), so it goes to the SVD path."""
    from tnq.tensornet.mps import exact_product

    rng = np.random.default_rng(3)
    parts = [rng.normal(size=d) + 1j * rng.normal(size=d) for d in (2, 3, 2)]
    vector = np.exp(0.7j) * np.einsum("a,b,c->abc", *parts).reshape(-1)
    factors = exact_product(vector, (2, 3, 2), 1e-16)
    np.testing.assert_allclose(np.einsum("a,b,c->abc", *factors).reshape(-1), vector, atol=1e-14)
    nearly = vector + 1e-6 * np.linalg.norm(vector) * (rng.normal(size=12) + 1j * rng.normal(size=12))
    assert exact_product(nearly, (2, 3, 2), 1e-16) is None and exact_product(nearly, (2, 3, 2), 1e-2) is None
    bell = np.array([1, 0, 0, 1]) / np.sqrt(2)
    assert exact_product(bell.astype(complex), (2, 2), 1e-16) is None


def test_product_gate_tensors_do_not_depend_on_the_input_gauge():
    """Bond-1 links carry a free phase (a gauge). Moving random phases between the sites and the centre changes
    the tensors but not the state. After a product gate, the sites it wrote must be the same tensors whatever
    that gauge was (largest entry real positive), so the result does not depend on how the input was reached."""
    rng = np.random.default_rng(11)
    vectors = [rng.normal(size=2) + 1j * rng.normal(size=2) for _ in range(5)]
    local = [np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0] for _ in range(3)]
    exchange = np.eye(8, dtype=complex)[[0, 4, 2, 6, 1, 5, 3, 7]]  # swaps the first and last qubit
    gate = np.kron(np.kron(local[0], local[1]), local[2]) @ exchange  # keeps every product a product
    results = []
    for seed in range(3):
        mps = MPS.product_state(5, vectors)
        mps.move_center(2)
        phases = np.exp(1j * np.random.default_rng(seed).uniform(0, 6, 5))
        for k in (0, 1, 3, 4):  # a gauge change: the phase moves from a site to the centre
            mps.tensors[k] = mps.tensors[k] * phases[k]
            mps.tensors[2] = mps.tensors[2] / phases[k]
        dense = mps.to_dense()
        assert mps.apply_to_product([4, 0, 3], gate, cutoff=1e-16)  # the simulator's default cutoff
        results.append([mps.tensors[k].copy() for k in (4, 0, 3)])
        assert abs(np.linalg.norm(mps.to_dense()) - np.linalg.norm(dense)) < 1e-12
        results[-1].append(mps.to_dense())
    for other in results[1:]:
        for a, b in zip(results[0], other):  # the written sites, then the whole state
            np.testing.assert_allclose(a, b, atol=1e-14)
