"""Sweep throughput on Dask: trainings per minute by cluster, and each worker's peak memory.

Runs one sweep of params.yaml (default: the shipped ``one_char_budget``, 45 trainings) on
  1. a LocalCluster of 1 worker process,
  2. a LocalCluster of 2 worker processes,
  3. a `dask scheduler` and two `dask worker` processes started here on 127.0.0.1,
each worker single-threaded. Every worker first trains one tiny model (numba loads its
compiled kernels, a few seconds per process, once), so the figures are the steady rate of
a warm cluster; the start-up time is printed beside them. Peak memory is each worker
process's peak RSS (getrusage). On a shared machine a worker may get less than a core:
the CPU time the workers did get is printed too (cores used, trainings per CPU-minute).
The deterministic results tables of the three runs must be
byte-identical; the script says whether they are.

    .venv/bin/python benchmarks/sweep_throughput.py [--sweep NAME] [--params params.yaml]

Not a test, and slow on a busy machine: run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

from alphabet_lstm.params import Sweep, load_params  # noqa: E402
from alphabet_lstm.sweep import run_tasks, sweep_results_csv, sweep_tasks  # noqa: E402


def warm_up() -> None:
    """Load the fast engine's compiled kernels in this worker (a 2-epoch training)."""
    from alphabet_lstm.data import encode_framing
    from alphabet_lstm.model.training import train
    from alphabet_lstm.params import FramingParams

    framing = FramingParams.model_validate({"dataset": {"kind": "sliding", "seq_length": 1}, "epochs": 2, "units": 4})
    train(encode_framing(framing), framing, seed=0, engine="fast")


def cpu_seconds() -> float:
    """User + system CPU time of this worker process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextmanager
def localhost_cluster(workers: int = 2):
    """`dask scheduler` + ``workers`` `dask worker` processes (--nthreads 1) on 127.0.0.1."""
    scratch = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    scheduler_file = scratch / "scheduler.json"
    env = {key: value for key, value in os.environ.items() if key != "DASK_SCHEDULER_ADDRESS"}
    # The warm-up and measuring functions live in this file: imported as a module (the
    # benchmark's sweeps part), they reach the workers by name, so the workers import it too.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent), env.get("PYTHONPATH")]))
    processes = []

    def start(*args: str) -> None:
        processes.append(
            subprocess.Popen(
                [str(VENV_BIN / "dask"), *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        )

    try:
        start(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)
        )
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start within 120 s")
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for index in range(workers):
            start(
                "worker",
                address,
                "--name",
                f"bench-{index}",
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            )
        yield address
    finally:
        for process in reversed(processes):  # workers first: no heartbeat to a dead scheduler
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def measure(name: str, client, sweep, started: float) -> dict:
    """Warm every worker, run the sweep, return its figures and deterministic table."""
    client.run(warm_up)
    cpu_before = client.run(cpu_seconds)
    ready = time.perf_counter()
    tasks = sweep_tasks(sweep)
    outcomes = run_tasks(client, tasks)
    seconds = time.perf_counter() - ready
    cpu = sum(client.run(cpu_seconds).values()) - sum(cpu_before.values())
    memory = client.run(peak_rss_mib)
    result = {
        "cluster": name,
        "workers": len(memory),
        "trainings": len(tasks),
        "start_seconds": round(ready - started, 1),
        "sweep_seconds": round(seconds, 1),
        "trainings_per_minute": round(60 * len(tasks) / seconds, 1),
        # On a shared machine a worker gets less than a core: the CPU it did get says how much.
        "cores_used": round(cpu / seconds, 2),
        "trainings_per_cpu_minute": round(60 * len(tasks) / cpu, 1),
        "peak_rss_mib": {address: round(value) for address, value in sorted(memory.items())},
        "table": sweep_results_csv(sweep, outcomes),
    }
    print(
        f"{name:<32} {result['workers']} workers: {result['trainings_per_minute']:7.1f} trainings/min "
        f"({len(tasks)} in {seconds:.1f} s, workers got {result['cores_used']} cores, "
        f"{result['trainings_per_cpu_minute']} per CPU-minute; up and warm in {result['start_seconds']} s); "
        f"peak RSS per worker: {', '.join(f'{v} MiB' for v in result['peak_rss_mib'].values())}",
        flush=True,
    )
    return result


def measure_clusters(params_path: str | Path, sweep_name: str) -> dict:
    """The sweep on each cluster in turn: figures per cluster, and whether the tables match."""
    from distributed import Client, LocalCluster

    sweep = Sweep.from_params(load_params(params_path), sweep_name)
    print(
        f"sweep {sweep.name}: {len(sweep_tasks(sweep))} trainings; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    clusters = []
    for workers in (1, 2):
        started = time.perf_counter()
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
            ) as cluster,
            Client(cluster) as client,
        ):
            clusters.append(measure(f"LocalCluster({workers})", client, sweep, started))
    started = time.perf_counter()
    with localhost_cluster(2) as address, Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        clusters.append(measure("dask scheduler + 2 dask workers", client, sweep, started))
    tables = {cluster.pop("table") for cluster in clusters}
    return {"sweep": sweep.name, "clusters": clusters, "tables_identical": len(tables) == 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO_ROOT / "params.yaml"))
    parser.add_argument("--sweep", default="one_char_budget")
    args = parser.parse_args()

    result = measure_clusters(args.params, args.sweep)
    print(
        f"deterministic results tables identical across the three clusters: "
        f"{'yes' if result['tables_identical'] else 'NO'}"
    )
    one, two = (cluster["trainings_per_minute"] for cluster in result["clusters"][:2])
    print(f"speed-up of 2 local workers over 1: {two / one:.2f}x (load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
