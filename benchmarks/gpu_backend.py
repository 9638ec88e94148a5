"""tnq's torch array backend on a device (``--device cuda``; default cpu) against tnq on numpy (CPU) and quimb.

Cases, each in its own try/except (an error prints and the next case runs) under a per-case cap and a total time
limit (SIGALRM between Python steps; a capped row says so):

1. 40-qubit brickwork (random U3 + CZ) depth 20 at max_bond 256 and 512, <Z0 Z1>: tnq numpy on the CPU, tnq torch
   on the device, and quimb ``CircuitMPS`` on the same device through ``to_backend`` (torch tensors), gates only.
   The tnq torch row also says how its time splits into SVD, QR and the rest (a device sync around each
   factorisation) and the SVDs' achieved throughput as a fraction of the device's measured matmul throughput.
2. A 6x6 grid random circuit of depth 8, one amplitude with the contraction backend (tree searched once, shared).
3. 1000 shots from the 40-qubit max_bond-256 MPS of case 1 (numpy CPU vs torch on the device).
4. Device throughput: a large complex matmul and a batch of SVDs of the block sizes the MPS runs factorise.

Every torch row is checked against the numpy row (same kernels: they agree to rounding, or the row says not).
Threads are pinned (``--threads``, default: all CPU cores here, as the CPU baseline is the whole CPU).

    PYTHONPATH=. python benchmarks/gpu_backend.py --device cuda --json gpu.json [--quick] [--time-limit 480]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if not any(a == "--threads" or a.startswith("--threads=") for a in sys.argv[1:]):
    sys.argv[1:1] = ["--threads", str(os.cpu_count() or 1)]  # read by common before numpy loads
sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import tnq  # noqa: E402
from tnq.arrays import check_array_options  # noqa: E402
from tnq.contraction.paths import TreeCache  # noqa: E402
from tnq.errors import UsageError  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

REAL_FLOPS_PER_COMPLEX_MAC = 8


class OutOfTime(Exception):
    """A case ran past its cap or the total time limit."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise OutOfTime in the main thread after ``seconds`` (checked between Python steps, so a long kernel
    finishes first)."""
    if seconds <= 0:
        raise OutOfTime(f"no time left for {what}")

    def stop(signum: int, frame: Any) -> None:
        raise OutOfTime(f"{what}: stopped at the {seconds:.1f} s cap")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Bench:
    """Rows, the clock of the whole run and the device."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args, self.torch = args, torch
        self.device = args.device
        self.start = time.perf_counter()
        self.rows: list[dict[str, Any]] = []
        torch.set_num_threads(args.threads)

    def left(self) -> float:
        return self.args.time_limit - (time.perf_counter() - self.start)

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def timed(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        self.sync()
        start = time.perf_counter()
        out = fn()
        self.sync()
        return time.perf_counter() - start, out

    def row(self, case: str, name: str, seconds: float | None, note: str = "", **extra: Any) -> None:
        entry = {"case": case, "name": name, "seconds": seconds, "note": note, **extra}
        self.rows.append(entry)
        shown = f"{seconds:10.3f} s" if seconds is not None else "         - "
        print(f"  {name:<44} {shown}  {note}", flush=True)

    def run_case(self, case: str, body: Callable[[str], None]) -> None:
        print(f"\n{case}", flush=True)
        cap = min(self.args.cap, self.left())
        try:
            with time_limit(cap, case):
                body(case)
        except OutOfTime as stop:
            self.row(case, "(stopped)", None, str(stop))
        except Exception as exc:  # noqa: BLE001  (a failing case must not stop the others)
            self.row(case, "(error)", None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            traceback.print_exc(limit=3)


def svd_flops(m: int, n: int) -> float:
    """Real flops of a thin complex SVD with vectors (Golub & Van Loan's 4m^2 n + 8 m n^2 + 9 n^3 for m >= n,
    times 4 for complex arithmetic)."""
    m, n = max(m, n), min(m, n)
    return 4.0 * (4 * m * m * n + 8 * m * n * n + 9 * n**3)


@contextlib.contextmanager
def factorisation_timer(bench: Bench, xp: Any) -> Iterator[dict[str, float]]:
    """Time each SVD and QR of namespace ``xp`` (device sync before and after) and add up the SVDs' flops."""
    totals = {"svd_s": 0.0, "qr_s": 0.0, "svd_flops": 0.0, "svd_calls": 0}
    svd, qr = xp.svd, xp.qr

    def timed_svd(matrix: Any) -> Any:
        seconds, out = bench.timed(lambda: svd(matrix))
        totals["svd_s"] += seconds
        totals["svd_flops"] += svd_flops(*matrix.shape[-2:])
        totals["svd_calls"] += 1
        return out

    def timed_qr(matrix: Any) -> Any:
        seconds, out = bench.timed(lambda: qr(matrix))
        totals["qr_s"] += seconds
        return out

    xp.svd, xp.qr = timed_svd, timed_qr
    try:
        yield totals
    finally:
        del xp.svd, xp.qr  # back to the class's methods


def matmul_throughput(bench: Bench, size: int, dtype: str) -> float:
    """Real FLOP/s of a size x size complex matmul on the device (best of 3 after a warm-up)."""
    torch = bench.torch
    a = torch.randn(size, size, dtype=getattr(torch, dtype), device=bench.device)
    b = torch.randn(size, size, dtype=getattr(torch, dtype), device=bench.device)
    bench.timed(lambda: a @ b)
    best = min(bench.timed(lambda: a @ b)[0] for _ in range(3))
    return REAL_FLOPS_PER_COMPLEX_MAC * size**3 / best


def brickwork_case(bench: Bench, qubits: int, depth: int, bond: int, states: dict[str, Any]) -> Callable[[str], None]:
    def body(case: str) -> None:
        circuit = tnq.brickwork(qubits, depth, seed=bench.args.seed)
        results = {}
        warm = tnq.brickwork(8, 4, seed=1)  # device initialisation (handles, kernels) outside the timing
        tnq.simulate(warm, "mps", max_bond=8, backend="torch", device=bench.device).expectation("Z0")
        for backend, device in (("torch", bench.device), ("numpy", None)):  # the device row first: it matters most
            name = f"tnq {backend} ({device or 'cpu'})"
            xp = check_array_options(backend, device)
            with factorisation_timer(bench, xp) as totals:
                seconds, state = bench.timed(lambda b=backend, d=device: tnq.simulate(
                    circuit, "mps", max_bond=bond, backend=b, device=d, progress=False))
            value = state.expectation("Z0 Z1")
            results[backend] = value, seconds
            states[f"{backend}-{bond}"] = state
            other = seconds - totals["svd_s"] - totals["qr_s"]
            share = {"svd_share": totals["svd_s"] / seconds, "qr_share": totals["qr_s"] / seconds,
                     "other_share": other / seconds,
                     "svd_gflops": totals["svd_flops"] / max(totals["svd_s"], 1e-12) / 1e9}
            bench.row(case, name, seconds, f"<Z0 Z1> {value:.10f}, fidelity {state.fidelity:.6f}, bond "
                      f"{state.info['largest_bond']}; SVD {share['svd_share']:.0%} ({totals['svd_calls']} calls, "
                      f"{share['svd_gflops']:.0f} GFLOP/s), QR {share['qr_share']:.0%}, rest "
                      f"{share['other_share']:.0%}", value=value, fidelity=state.fidelity, **share)
        diff = abs(results["numpy"][0] - results["torch"][0])
        ratio = results["numpy"][1] / results["torch"][1]
        bench.row(case, f"speed-up of torch ({bench.device}) over numpy", None, f"{ratio:.2f}x; |<Z0 Z1> "
                  f"difference| {diff:.1e}", speedup=ratio, difference=diff)
        quimb_row(bench, case, circuit, qubits, bond)

    return body


def quimb_row(bench: Bench, case: str, circuit: tnq.Circuit, qubits: int, bond: int) -> None:
    """quimb CircuitMPS on the same device through to_backend (torch tensors), gates only."""
    import quimb.tensor as qtn

    torch = bench.torch
    gates = common.quimb_gates(circuit)

    def to_device(x: Any) -> Any:
        return torch.as_tensor(np.array(x), device=bench.device)

    def run() -> Any:
        circ = qtn.CircuitMPS(qubits, max_bond=bond, cutoff=1e-16, to_backend=to_device)
        for matrix, where in gates:
            circ.apply_gate(matrix, *where)
        return circ

    try:
        seconds, circ = bench.timed(run)
        bench.row(case, f"quimb CircuitMPS (torch, {bench.device})", seconds,
                  f"gates only; max bond {circ.psi.max_bond()}")
    except OutOfTime:
        raise
    except Exception as exc:  # noqa: BLE001
        bench.row(case, f"quimb CircuitMPS (torch, {bench.device})", None, f"{type(exc).__name__}: {exc}")


def grid_case(bench: Bench, rows: int, cols: int, depth: int) -> Callable[[str], None]:
    def body(case: str) -> None:
        circuit = tnq.grid_random(rows, cols, depth, seed=bench.args.seed)
        cache = TreeCache()
        bits = "0" * (rows * cols)
        search = tnq.simulate(circuit, "contract", cache=cache, search_time=bench.args.search_time)
        seconds, value = bench.timed(lambda: search.amplitude(bits))  # the tree search happens here, once
        bench.row(case, "tree search + first amplitude (numpy)", seconds, str(search.last_report))
        values = {}
        for backend, device in (("numpy", None), ("torch", bench.device)):
            state = tnq.simulate(circuit, "contract", cache=cache, backend=backend, device=device)
            state.amplitude(bits)  # warm-up (folds the bitstring-independent part)
            fresh = tnq.simulate(circuit, "contract", cache=cache, backend=backend, device=device)
            best, amp = min((bench.timed(lambda s=fresh: s.amplitude(bits)) for _ in range(bench.args.repeats)),
                            key=lambda t: t[0])
            values[backend] = amp
            report = fresh.last_report
            bench.row(case, f"tnq contract {backend} ({device or 'cpu'})", best,
                      f"10^{np.log10(max(report.flops, 1)):.2f} flops, width {report.width:.0f}, "
                      f"{report.flops_per_second / 1e9:.1f} GFLOP/s", amplitude=[amp.real, amp.imag])
        bench.row(case, "|amplitude difference|", None, f"{abs(values['numpy'] - values['torch']):.1e} "
                  f"(|amplitude| {abs(values['numpy']):.2e})")

    return body


def sampling_case(bench: Bench, states: dict[str, Any], bond: int, shots: int) -> Callable[[str], None]:
    def body(case: str) -> None:
        samples = {}
        for backend in ("numpy", "torch"):
            state = states.get(f"{backend}-{bond}")
            if state is None:
                bench.row(case, f"tnq {backend}", None, "no MPS from the brickwork case")
                continue
            state.sample(10, seed=0)  # warm-up; also moves the centre to site 0 once
            best, samples[backend] = min((bench.timed(lambda s=state: s.sample(shots, seed=bench.args.seed))
                                          for _ in range(bench.args.repeats)), key=lambda t: t[0])
            bench.row(case, f"tnq {backend} ({bench.device if backend == 'torch' else 'cpu'})", best,
                      f"{shots} shots of {state.num_qubits} qubits, bond {max(state.bond_dims)}")
        if len(samples) == 2:
            same = np.mean(np.all(samples["numpy"] == samples["torch"], axis=1))
            bench.row(case, "identical shots (same seed)", None, f"{same:.1%}")

    return body


def throughput_case(bench: Bench, matmul: int, blocks: list[int], batch: int) -> Callable[[str], None]:
    def body(case: str) -> None:
        torch = bench.torch
        for dtype in ("complex128", "complex64"):
            flops = matmul_throughput(bench, matmul, dtype)
            bench.row(case, f"matmul {matmul}x{matmul} {dtype}", None, f"{flops / 1e9:.0f} GFLOP/s",
                      gflops=flops / 1e9, dtype=dtype)
            # the default driver (what tnq uses), and on CUDA each cuSOLVER driver for comparison
            drivers = [None] + (["gesvd", "gesvdj", "gesvda"] if bench.device.startswith("cuda") else [])
            for size in blocks:
                stack = torch.randn(batch, size, size, dtype=getattr(torch, dtype), device=bench.device)
                for driver in drivers:
                    def svd(s: Any = stack, d: str | None = driver) -> Any:
                        return torch.linalg.svd(s, full_matrices=False, **({"driver": d} if d else {}))

                    svd(stack[:1])  # warm-up (library handles, workspace)
                    seconds = bench.timed(svd)[0]
                    achieved = batch * svd_flops(size, size) / seconds
                    bench.row(case, f"batched SVD {batch}x({size}x{size}) {dtype} {driver or 'default'}", seconds,
                              f"{achieved / 1e9:.0f} GFLOP/s = {achieved / flops:.1%} of the matmul throughput",
                              fraction_of_matmul=achieved / flops, dtype=dtype, driver=driver or "default")

    return body


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device for the torch rows (default cpu)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds for the whole run; cases past it are skipped (default 420, quick 55)")
    parser.add_argument("--search-time", type=float, default=None,
                        help="seconds of contraction-tree search for the grid (default 10, quick 1)")


def main() -> int:
    args = common.parse_args(__doc__.splitlines()[0], add_arguments=add_arguments)
    args.time_limit = args.time_limit if args.time_limit is not None else (55.0 if args.quick else 420.0)
    args.search_time = args.search_time if args.search_time is not None else (1.0 if args.quick else 10.0)
    args.cap = args.cap if any(a.startswith("--cap") for a in sys.argv) else (25.0 if args.quick else 200.0)
    try:
        check_array_options("torch", args.device)  # a bad device: one clear line before any work
    except UsageError as exc:
        print(f"gpu_backend.py: error: {exc}", file=sys.stderr)
        return 2
    bench = Bench(args)
    torch = bench.torch
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"device {args.device} ({name}), torch {torch.__version__}, {args.threads} CPU thread(s)"
          f"{', quick' if args.quick else ''}", flush=True)
    # cheap cases first, the largest MPS last: a run cut short by the time limit still reports the others
    qubits, depth, bonds = (24, 10, (16, 32)) if args.quick else (40, 20, (256, 512))
    matmul, blocks, batch = (256, [32, 64], 4) if args.quick else (8192, [2 * bonds[0], 2 * bonds[1]], 4)
    bench.run_case("device throughput", throughput_case(bench, matmul, blocks, batch))
    side, grid_depth = (4, 6) if args.quick else (6, 8)
    bench.run_case(f"{side}x{side} grid depth {grid_depth}, one amplitude (contract)",
                   grid_case(bench, side, side, grid_depth))
    states: dict[str, Any] = {}
    bench.run_case(f"brickwork-{qubits} depth {depth}, max_bond {bonds[0]}",
                   brickwork_case(bench, qubits, depth, bonds[0], states))
    shots = 1000
    bench.run_case(f"{shots} shots from the {qubits}-qubit max_bond-{bonds[0]} MPS",
                   sampling_case(bench, states, bonds[0], shots))
    bench.run_case(f"brickwork-{qubits} depth {depth}, max_bond {bonds[1]}",
                   brickwork_case(bench, qubits, depth, bonds[1], states))
    total = time.perf_counter() - bench.start
    print(f"\ntotal {total:.1f} s", flush=True)
    if args.json:
        settings = {"device": args.device, "device_name": name, "torch": torch.__version__, "numpy": np.__version__,
                    "threads": args.threads, "quick": args.quick, "seed": args.seed, "repeats": args.repeats,
                    "time_limit": args.time_limit, "cap": args.cap, "total_seconds": total}
        atomic_write_text(args.json, json.dumps({"settings": settings, "rows": bench.rows}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
