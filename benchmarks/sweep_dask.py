"""``tnq.sweep`` of a 40-qubit QAOA ring (sum of Z_i Z_i+1 around the ring) over 64 random bindings: serial in
this process against a 2-worker Dask LocalCluster (one process and one BLAS thread per worker; this process pinned
to one thread too). Prints both times, the speed-up, the overhead (Dask time minus the ideal serial / workers) and,
separately, the cluster start. Goal: speed-up >= 1.6 on 2 workers. Row 0 always runs in this process (it lowers
the circuit once for every worker), so the ideal on 2 workers is 2 rows / (1 + rows - 1 / 2), about 1.97.

Wall-clock speed-ups need idle cores. Linux groups a session's processes (the Dask workers included) into one
scheduling group (``sched_autogroup``), so on a machine kept busy by other sessions the workers share what one
serial process would get, and the wall speed-up stays near 1 whatever tnq does. The script therefore also counts
CPU seconds (this process's and each worker's, event loops and transfers included) and prints the time the same
work would take on idle cores: max(row 0 + the busiest worker, all CPU seconds / workers). That estimate is
pessimistic on a loaded machine: the scheduler (in this process) does periodic work that grows with wall time.

    python benchmarks/sweep_dask.py [--quick] [--p 1] [--bindings 64] [--qubits 40] [--workers 2] [--profile]
                                    [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import json  # noqa: E402
import os  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import tnq  # noqa: E402
from tnq.distributed import sweep  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qubits", type=int, default=40, help="ring size (default 40)")
    parser.add_argument("--p", type=int, default=1, help="QAOA layers (default 1)")
    parser.add_argument("--bindings", type=int, default=None, help="rows of the sweep (default 64, quick 16)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--profile", action="store_true",
                        help="keep Dask's worker profiler on (its default; off here, as docs/distributed.md advises)")


def ring(n: int, p: int) -> tuple[tnq.Circuit, tnq.Hamiltonian]:
    """The symbolic QAOA MaxCut ring and its cost observable sum_i Z_i Z_i+1."""
    gammas = [tnq.Parameter(f"gamma{k}") for k in range(p)]
    betas = [tnq.Parameter(f"beta{k}") for k in range(p)]
    edges = [(i, (i + 1) % n) for i in range(n)]
    circuit = tnq.qaoa(edges, gammas, betas)
    return circuit, tnq.Hamiltonian.parse(" + ".join(f"Z{a} Z{b}" for a, b in edges))


def _cpu_seconds() -> float:
    return time.process_time()


def timed_cpu(run: Callable[[], np.ndarray], client: Any = None) -> Callable[[], np.ndarray]:
    """``run`` recording, per call, this process's CPU seconds and (with ``client``) each worker's."""
    def wrapped() -> np.ndarray:
        workers = client.run(_cpu_seconds) if client is not None else {}
        here = time.process_time()
        result = run()
        used = time.process_time() - here
        after = client.run(_cpu_seconds) if client is not None else {}
        wrapped.cpu.append((used, [after[w] - workers[w] for w in after if w in workers]))
        return result

    wrapped.cpu = []
    return wrapped


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison and return what it printed, as a dict."""
    args = common.parse_args(__doc__.splitlines()[0], argv, add_arguments)
    import dask
    from distributed import Client, LocalCluster

    rows = args.bindings or (16 if args.quick else 64)
    circuit, observable = ring(args.qubits, args.p)
    values = np.random.default_rng(args.seed).uniform(0, np.pi, (rows, len(circuit.parameters)))
    common.print_environment()
    if not args.profile:  # Dask's statistical profiler samples each worker's stacks every 10 ms: ~15% CPU here
        dask.config.set({"distributed.worker.profile.enabled": False})
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    startup = time.perf_counter() - start
    try:
        client.run(lambda: None)  # workers up and answering
        # imports tnq on the workers
        warm = sweep(circuit, values[:2 * args.workers], observable, client=client, progress=False)
        jobs = {"serial": timed_cpu(lambda: sweep(circuit, values, observable, progress=False)),
                "dask": timed_cpu(lambda: sweep(circuit, values, observable, client=client, progress=False), client)}
        timings = common.measure_round_robin(jobs, args.repeats)
        load = os.getloadavg()[0]
    finally:
        client.close()
        cluster.close()
    serial, dask = timings["serial"], timings["dask"]
    speedup = serial.best / dask.best
    overhead = dask.best - serial.best / args.workers
    difference = float(np.abs(serial.result - dask.result).max())
    serial_cpu = min(used for used, _ in jobs["serial"].cpu)
    here, workers = min(jobs["dask"].cpu, key=lambda c: c[0] + sum(c[1]))
    idle_dask = max(serial_cpu / rows + max(workers), (here + sum(workers)) / args.workers)
    report = dict(qubits=args.qubits, p=args.p, dask_profiler=args.profile, bindings=rows, workers=args.workers,
                  repeats=args.repeats,
                  cluster_start_seconds=startup, serial_seconds=serial.times, dask_seconds=dask.times,
                  speedup=speedup, overhead_seconds=overhead, max_difference=difference,
                  warm_up_rows=len(warm), goal_speedup=1.6, load_average=load, serial_cpu_seconds=serial_cpu,
                  dask_client_cpu_seconds=here, dask_worker_cpu_seconds=workers,
                  idle_cores_speedup=serial_cpu / idle_dask)
    print(f"tnq.sweep: {rows} bindings of a {args.qubits}-qubit QAOA ring, p={args.p}, sum of ZZ on the ring")
    print(f"  cluster start ({args.workers} worker processes, 1 thread each): {startup:.2f} s (not in the times)")
    print(f"  serial (this process, 1 thread): best {serial.best:.2f} s, median {serial.median:.2f} s "
          f"({serial.best / rows * 1e3:.0f} ms per binding)")
    print(f"  dask ({args.workers} workers):              best {dask.best:.2f} s, median {dask.median:.2f} s")
    print(f"  speed-up {speedup:.2f}x (goal >= 1.6x); overhead over serial/{args.workers}: {overhead:.2f} s "
          f"({overhead / rows * 1e3:.1f} ms per binding)")
    print(f"  CPU seconds: serial {serial_cpu:.2f}; dask: this process {here:.2f} (row 0, scheduler, client), "
          f"workers {', '.join(f'{w:.2f}' for w in workers)}")
    print(f"  on {args.workers} idle cores: serial {serial_cpu:.2f} s, dask {idle_dask:.2f} s, speed-up "
          f"{serial_cpu / idle_dask:.2f}x (load average {load:.1f} during the runs: wall times above are shared)")
    print(f"  max |dask - serial| = {difference:.1e}")
    if args.json:
        atomic_write_text(args.json, json.dumps({**report, "environment": common.environment()}, indent=2))
    return report


if __name__ == "__main__":
    main()
