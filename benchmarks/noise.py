"""Noisy sampling, tnq quantum trajectories against qiskit-aer's MPS, 1000 shots each, one thread each, one process.

Cases: GHZ-50 and a 40-qubit brickwork (depth 10, max_bond 64), both with depolarizing 0.01 after every gate (1- and
2-qubit) and a symmetric readout error 0.02 on every qubit; the same aer NoiseModel is given to both simulators
(tnq converts it). Prints each one's seconds, the tnq/aer time ratio (below 1: tnq is faster), and the
total-variation distance of each to a reference (aer with ``--reference-factor`` times more shots) over the
Hamming weight of the outcome (n + 1 bins: the full outcome space is far too large to estimate from 1000 shots).
Both simulators first run a 4-qubit GHZ untimed, so library loading is not timed.
For scale, the 1-in-a-billion radius of that TV distance for ``shots`` samples over K bins is
sqrt(2 (K ln 2 + ln 1e9) / shots) / 2 (tests/test_dynamic.py), printed as ``bound``.

Run: python benchmarks/noise.py [--threads 1] [--shots 1000] [--repeats 1] [--reference-factor 10] [--quick]
[--case ghz_50|brickwork_40x10]
(the reference is skipped where it would take over ``--reference-cap`` seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on

import argparse  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402


def noise_model(p: float = 0.01, readout: float = 0.02):
    """Depolarizing ``p`` after every 1- and 2-qubit gate these circuits use, readout error on every qubit."""
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(p, 1), ["h", "u3"])
    model.add_all_qubit_quantum_error(depolarizing_error(p, 2), ["cx", "cz"])
    model.add_all_qubit_readout_error(ReadoutError([[1 - readout, readout], [readout, 1 - readout]]))
    return model


def weights(counts: dict[str, int]) -> dict[int, float]:
    """The distribution of the Hamming weight of the outcomes (bit order does not matter for it)."""
    total = sum(counts.values())
    out: dict[int, float] = {}
    for key, k in counts.items():
        w = key.replace(" ", "").count("1")
        out[w] = out.get(w, 0.0) + k / total
    return out


def tv(a: dict[int, float], b: dict[int, float]) -> float:
    """Total-variation distance of two distributions."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def main() -> None:
    """Time both cases in tnq and aer and print the ratios and distances."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.THREADS)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per simulator (round robin)")
    parser.add_argument("--reference-factor", type=int, default=10, help="reference shots / shots (0: none)")
    parser.add_argument("--reference-cap", type=float, default=300.0,
                        help="skip the reference when it would take longer than this many seconds")
    parser.add_argument("--quick", action="store_true", help="GHZ only")
    parser.add_argument("--case", choices=("all", "ghz_50", "brickwork_40x10"), default="all",
                        help="run one case only (the brickwork takes tens of minutes at 1000 shots)")
    args = parser.parse_args()

    import tnq

    model = noise_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = tnq.NoiseModel.from_aer(model)
    ghz = tnq.ghz(50)
    ghz.measure(*range(50))
    brick = tnq.brickwork(40, 10, seed=1)
    brick.measure(*range(40))
    cases = [("ghz_50", ghz, None)] + ([] if args.quick else [("brickwork_40x10", brick, 64)])
    cases = [case for case in cases if args.case in ("all", case[0])]
    warm = tnq.ghz(4)  # untimed: both simulators load their libraries (tnq's scipy.linalg, aer's backend) first
    warm.measure(*range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tnq.sample(warm, 10, seed=0, noise=converted, method="mps", max_bond=8)
        common.aer_simulator(8, noise_model=model).run(warm.to_qiskit(), shots=10, seed_simulator=0).result()
    for name, circuit, max_bond in cases:
        aer = common.aer_simulator(max_bond, noise_model=model)
        qc = circuit.to_qiskit()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the model names gates this circuit does not use
            jobs = {"tnq": lambda c=circuit, b=max_bond: tnq.sample(c, args.shots, seed=1, noise=converted,
                                                                     method="mps", max_bond=b),
                    "aer": lambda a=aer, q=qc: a.run(q, shots=args.shots, seed_simulator=1).result().get_counts()}
            timings = common.measure_round_robin(jobs, args.repeats)
        t_tnq, t_aer = timings["tnq"].best, timings["aer"].best
        line = (f"{name:16s} tnq mps {t_tnq:8.2f} s   aer mps {t_aer:8.2f} s   ratio tnq/aer {t_tnq / t_aer:6.2f}")
        print(line, flush=True)
        bins = circuit.num_qubits + 1
        bound = math.sqrt(2 * (bins * math.log(2) + math.log(1e9)) / args.shots) / 2
        between = tv(weights(timings["tnq"].result), weights(timings["aer"].result))
        line = " " * 17 + f"TV(weight) tnq vs aer {between:.4f} (bound {2 * bound:.3f});  "
        if args.reference_factor and t_aer * args.reference_factor > args.reference_cap:
            line += f"reference skipped: aer x{args.reference_factor} would take ~{t_aer * args.reference_factor:.0f} s"
        elif args.reference_factor:
            ref_shots = args.shots * args.reference_factor
            reference = weights(aer.run(qc, shots=ref_shots, seed_simulator=2).result().get_counts())
            d_tnq, d_aer = (tv(weights(timings[k].result), reference) for k in ("tnq", "aer"))
            line += (f"TV(weight) to aer x{args.reference_factor}: tnq {d_tnq:.4f}  aer {d_aer:.4f}"
                     f"  (bound {bound:.3f})")
        print(line, flush=True)


if __name__ == "__main__":
    main()
