"""The Ray rollout farm against 1 and then 2 local medgym servers: episodes/s and CPU use.

    python tools/python/benchmarks/ray_farm.py --bin target/release/medgym --episodes 2000

Starts the servers itself (``medgym serve`` on free loopback ports, one ``--replica-id`` each),
a local Ray cluster (``ray.init(num_cpus=...)``), and runs :func:`medgym.ray.rollout` with a
scripted policy (three questions, one exam, a diagnosis: five steps an episode) for each server
count, after a short warm-up. CPU use is read from ``/proc``: each server process's user+system
time over the run, the farm's actor processes (``ray::RolloutWorker``) sampled while they live,
and the whole machine's busy time (``/proc/stat``), so what Ray's own daemons and the driver cost
shows as the rest. Linux only.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import ray

import medgym
import medgym.ray

TICKS = os.sysconf("SC_CLK_TCK")


def policy(observation, info):
    turn = int(observation["turn"])
    questions = ("Do you have a fever?", "Any cough?", "Where does it hurt?")
    if turn < len(questions):
        return {"ask": questions[turn]}
    if turn == len(questions):
        return {"exam": "cbc"}
    return {"diagnose": "influenza"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(binary: str, n: int, log_dir: Path) -> list[tuple[str, subprocess.Popen]]:
    servers = []
    for i in range(n):
        address = f"127.0.0.1:{free_port()}"
        log = open(log_dir / f"server-{i}.log", "wb")  # noqa: SIM115 - lives as long as the server
        cmd = [
            binary,
            "serve",
            "--addr",
            address,
            "--metrics-addr",
            f"127.0.0.1:{free_port()}",
            "--replica-id",
            f"bench-{i}",
        ]
        servers.append((address, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
    for address, _ in servers:
        with medgym.Client(address, timeout=1.0, max_retries=0) as c:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if c.health("medgym.v1.Environment") == "SERVING":
                        break
                except medgym.MedgymError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.05)
    return servers


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


class ActorSampler(threading.Thread):
    """Samples the CPU time of every ``ray::RolloutWorker`` process while the farm runs (actors are
    created and killed inside ``rollout``, so their final ~0.1 s after the last sample is missed)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    cmd = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"ray::RolloutWorker"):
                    pid = int(entry.name)
                    self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds(pid))

    def total(self) -> float:
        return sum(self.seen.values())


def measure(addresses, pids, episodes, actors, envs) -> dict:
    before = {p: cpu_seconds(p) for p in pids}
    busy0, total0 = machine_busy()
    sampler = ActorSampler()
    sampler.start()
    t0 = time.perf_counter()
    records = medgym.ray.rollout(addresses, policy, episodes, seed=0, num_actors=actors, envs_per_actor=envs)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    busy1, total1 = machine_busy()
    steps = sum(len(r["steps"]) for r in records)
    assert len(records) == episodes
    return {
        "wall": wall,
        "episodes_s": episodes / wall,
        "steps_s": steps / wall,
        "server_cpu": [cpu_seconds(p) - before[p] for p in pids],
        "actor_cpu": sampler.total(),
        "machine_util": (busy1 - busy0) / (total1 - total0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("MEDGYM_BIN", "target/release/medgym"))
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--envs", type=int, default=16, help="sessions per actor (one BatchStep per step)")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=2, help="alternating 1-server / 2-server runs")
    args = parser.parse_args()

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    print(f"machine: {os.cpu_count()} cores; ray num_cpus={args.num_cpus}; {args.actors} actors x {args.envs} sessions")
    print("servers | episodes/s | steps/s | wall s | server CPU s (per server) | actor CPU s | machine busy")
    with tempfile.TemporaryDirectory(prefix="medgym-bench-") as log_dir:
        fleets = {n: start_servers(args.bin, n, Path(log_dir)) for n in (1, 2)}
        try:
            for n, servers in fleets.items():  # warm-up: Ray workers, server caches
                medgym.ray.rollout(
                    [a for a, _ in servers], policy, 50, num_actors=args.actors, envs_per_actor=args.envs
                )
            for _ in range(args.runs):
                for n, servers in fleets.items():
                    m = measure(
                        [a for a, _ in servers], [p.pid for _, p in servers], args.episodes, args.actors, args.envs
                    )
                    per = " + ".join(f"{c:.2f}" for c in m["server_cpu"])
                    print(
                        f"{n} | {m['episodes_s']:.0f} | {m['steps_s']:.0f} | {m['wall']:.2f} | "
                        f"{sum(m['server_cpu']):.2f} ({per}) | {m['actor_cpu']:.2f} | {m['machine_util']:.0%}",
                        flush=True,
                    )
        finally:
            for servers in fleets.values():
                for _, p in servers:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=10)
    ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
