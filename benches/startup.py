#!/usr/bin/env python3
"""Start-up: how long N replicas of `signet serve`, started at the same instant
on one PostgreSQL database, take until every one's /readyz answers 200: on an
empty database (one replica migrates, the others wait) and on a migrated one.

    python3 benches/startup.py [N ...]          default: 1 3 5
    SIGNET_BENCH_BINARY    the signet to measure (default target/release/signet)
    SIGNET_BENCH_ROUNDS    rounds per case (default 5)
    SIGNET_BENCH_POSTGRES_URL  (default postgres://postgres@127.0.0.1:5432/postgres)

Prints one line per case: the median and the slowest round, in seconds.
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

PG = os.environ.get("SIGNET_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BINARY = os.environ.get("SIGNET_BENCH_BINARY", "target/release/signet")
ROUNDS = int(os.environ.get("SIGNET_BENCH_ROUNDS", "5"))
BASE = PG.rsplit("/", 1)[0]


def psql(sql):
    subprocess.run(["psql", PG, "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def start(n, database, blobs):
    """Starts n replicas at once; returns the seconds until all are ready."""
    env = dict(os.environ)
    env.update(
        SIGNET_DATABASE_URL=f"{BASE}/{database}",
        SIGNET_STORAGE_URL=blobs,
        SIGNET_LISTEN="127.0.0.1:0",
        SIGNET_GC_INTERVAL_SECS="0",
        SIGNET_DATABASE_MAX_CONNECTIONS="2",
        SIGNET_BOOTSTRAP_TOKEN=f"sgn_{uuid.uuid4().hex}",
    )
    ports = [free_port() for _ in range(n)]
    began = time.monotonic()
    procs = [
        subprocess.Popen(
            [BINARY, "serve"],
            env=dict(env, SIGNET_METRICS_LISTEN=f"127.0.0.1:{p}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        waiting = set(ports)
        deadline = began + 120
        while waiting:
            if time.monotonic() > deadline:
                raise SystemExit(f"replicas not ready within 120 s: {sorted(waiting)}")
            for proc in procs:
                if proc.poll() is not None:
                    raise SystemExit(f"a replica exited with {proc.returncode}")
            waiting = {p for p in waiting if not ready(p)}
            if waiting:
                time.sleep(0.01)
        return time.monotonic() - began
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def main():
    counts = [int(a) for a in sys.argv[1:]] or [1, 3, 5]
    if not os.access(BINARY, os.X_OK):
        subprocess.run(["cargo", "build", "--release", "--bin", "signet"], check=True)
    print(f"binary {BINARY}, {ROUNDS} rounds per case")
    for n in counts:
        for case in ("empty", "migrated"):
            times = []
            for _ in range(ROUNDS):
                database = f"signet_bench_start_{uuid.uuid4().hex}"
                psql(f"CREATE DATABASE {database}")
                with tempfile.TemporaryDirectory() as blobs:
                    if case == "migrated":
                        start(1, database, blobs)
                    times.append(start(n, database, blobs))
                psql(f"DROP DATABASE {database}")
            print(
                f"{n} replica(s), {case} database: median {statistics.median(times):.2f} s, "
                f"slowest {max(times):.2f} s"
            )


if __name__ == "__main__":
    main()
