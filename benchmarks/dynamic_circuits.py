"""Dynamic circuits, tnq against qiskit-aer, 1000 shots each, one thread each, in one process.

- ``cc``: a counterfeit-coin circuit in the style of QASMBench's cc_n32 (32 qubits): a parity check into an ancilla,
  measured mid-circuit, then ``if(c==0)`` corrections and an ``if(c==0)``-controlled oracle; the data qubits are
  measured at the end. tnq runs it on the MPS backend (32 qubits), aer with its matrix_product_state method.
- ``teleport``: a state teleported hop by hop along a chain (two mid-circuit measurements and two ``if``
  corrections per hop); tnq dense, aer statevector.

Timed round-robin (benchmarks/common.py), best of 3; prints the seconds of each and the tnq/aer time ratio
(below 1: tnq is faster). Run: python benchmarks/dynamic_circuits.py [--threads 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on

SHOTS = 1000
REPEATS = 3


def counterfeit_coin(n: int = 32, false_coin: int = 11) -> str:
    """OpenQASM 2 of an n-qubit counterfeit-coin search (n - 1 coins, one ancilla)."""
    coins, anc = n - 1, n - 1
    lines = ['OPENQASM 2.0;', 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{coins}];", "creg a[1];"]
    lines += [f"h q[{k}];" for k in range(coins)]
    lines += [f"cx q[{k}],q[{anc}];" for k in range(coins)]
    lines += [f"measure q[{anc}] -> a[0];", f"if(a==0) x q[{anc}];", f"if(a==0) h q[{anc}];",
              f"if(a==0) cx q[{false_coin}],q[{anc}];", "barrier q;"]
    lines += [f"h q[{k}];" for k in range(coins)]
    lines += [f"measure q[{k}] -> c[{k}];" for k in range(coins)]
    return "\n".join(lines) + "\n"


def teleport_chain(hops: int = 4) -> str:
    """OpenQASM 2 teleporting ry(1.1)|0> from q[0] to q[2 hops], one Bell pair per hop."""
    n = 2 * hops + 1
    lines = ['OPENQASM 2.0;', 'include "qelib1.inc";', f"qreg q[{n}];"]
    lines += [f"creg m{k}[2];" for k in range(hops)] + ["creg out[1];", "ry(1.1) q[0];"]
    for k in range(hops):
        src, mid, dst = 2 * k, 2 * k + 1, 2 * k + 2
        lines += [f"h q[{mid}];", f"cx q[{mid}],q[{dst}];", f"cx q[{src}],q[{mid}];", f"h q[{src}];",
                  f"measure q[{src}] -> m{k}[0];", f"measure q[{mid}] -> m{k}[1];",
                  f"if(m{k}==2) x q[{dst}];", f"if(m{k}==3) y q[{dst}];", f"if(m{k}==1) z q[{dst}];"]
    lines.append(f"measure q[{n - 1}] -> out[0];")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Time both circuits in tnq and aer and print the ratios."""
    from qiskit_aer import AerSimulator

    import tnq

    statevector = AerSimulator(method="statevector", max_parallel_threads=common.THREADS, enable_truncation=False)
    cases = [("cc_n32", counterfeit_coin(), "mps", common.aer_simulator(enable_truncation=False)),
             ("teleport_chain_9", teleport_chain(), "dense", statevector)]
    for name, text, method, aer in cases:
        circuit = tnq.Circuit.from_qasm(text)
        qc = circuit.to_qiskit()
        jobs = {"tnq": lambda c=circuit, m=method: tnq.sample(c, SHOTS, seed=1, method=m),
                "aer": lambda a=aer, q=qc: a.run(q, shots=SHOTS, seed_simulator=1).result()}
        for job in jobs.values():  # warm up (imports, first calls)
            job()
        timings = common.measure_round_robin(jobs, REPEATS)
        t_tnq, t_aer = timings["tnq"].best, timings["aer"].best
        assert timings["aer"].result.success, timings["aer"].result.status
        print(f"{name:18s} tnq {method:5s} {t_tnq:8.4f} s   aer {aer.options.method:20s} {t_aer:8.4f} s   "
              f"ratio tnq/aer {t_tnq / t_aer:6.2f}   ({len(timings['tnq'].result)} distinct outcomes)")


if __name__ == "__main__":
    main()
