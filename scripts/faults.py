#!/usr/bin/env python3
"""Faults Signet survives, against its own throwaway PostgreSQL cluster and S3
server (started by scripts/faults.sh), so stopping them disturbs nothing else.

  1. PostgreSQL stopped under load: requests fail with 503 within 2 s (no hang,
     no 500, no internals in the answer), /readyz turns unready, service resumes
     within 5 s of the database's return without restarting Signet, and every
     acknowledged write is still there.
  2. The S3 server stopped during uploads and downloads: uploads fail cleanly
     and leave no visible file, downloads abort, /readyz reports it, and
     everything works again when it returns.
  3. kill -9 of Signet at random moments of uploads, seals, signature uploads
     and promotions, on SQLite + a local directory and on PostgreSQL + S3: after
     a restart no partial file is visible, nothing acknowledged is missing, and
     the audit chain verifies.

Usage (through scripts/faults.sh, which provides the environment):
  faults.py SIGNET_BINARY [--rounds N] [--seed S]
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TOKEN = "sgn_faults" + "0" * 38
NS, MODEL = "fraud", "scorer"
# Words that would betray internals in an error answer.
INTERNALS = ("sqlx", "postgres", "Postgres", "connection refused", "Connection refused",
             "os error", "object_store", "panicked", "dispatch", "hyper::", "src/")


def log(msg):
    print(f"faults: {msg}", flush=True)


def fail(msg):
    print(f"faults: FAILED: {msg}", flush=True)
    # The run's directory goes with it: show what each Signet logged last.
    for s in Signet.started:
        s.logs.flush()
        with open(s.logs.name, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()[-20:]
        if lines:
            print(f"faults: the last lines of {s.logs.name}:", flush=True)
            for line in lines:
                print(f"  {line}", flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Answer:
    def __init__(self, status, body, elapsed):
        self.status, self.body, self.elapsed = status, body, elapsed

    def json(self):
        return json.loads(self.body)


def call(base, method, path, body=None, headers=None, timeout=10.0, token=TOKEN):
    """One request; status 0 when no answer came (refused, reset, timed out)."""
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Answer(r.status, r.read(), time.monotonic() - t0)
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read(), time.monotonic() - t0)
    except Exception:  # refused, reset, timed out, body cut short
        return Answer(0, b"", time.monotonic() - t0)


def vpath(v):
    return f"/v1/models/{NS}/{MODEL}/versions/{v}"


LINEAGE = {
    "code": {"repo": "https://git.example.com/fraud/scorer",
             "commit": "3f2c6b1a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"},
    "data": [{"name": "tx", "uri": "s3://datasets/tx",
              "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}],
    "environment": {"image": "train:1.4"},
}


class Postgres:
    """A PostgreSQL cluster of its own in a temporary directory."""

    def __init__(self, root):
        self.bin = sorted(
            (d for d in os.listdir("/usr/lib/postgresql")),
            key=lambda v: [int(x) for x in v.split(".")],
        )[-1]
        self.bin = f"/usr/lib/postgresql/{self.bin}/bin"
        self.dir = os.path.join(root, "pg")
        self.port = free_port()
        os.makedirs(self.dir)
        # initdb refuses to run as root: the cluster belongs to postgres then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(root, "postgres")
            shutil.chown(self.dir, "postgres")
        self.run("initdb", "-D", self.dir, "--auth=trust", "-U", "postgres", "--no-sync")
        self.start()

    def run(self, tool, *args):
        subprocess.run(self.as_user + [f"{self.bin}/{tool}", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def url(self, db="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self.run("pg_ctl", "-D", self.dir, "-o", opts, "-l", os.path.join(self.dir, "log"),
                 "-w", "start")

    def stop(self):
        self.run("pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")

    def create_db(self, name):
        self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc",
                 f"CREATE DATABASE {name}")


class Garage:
    """The S3 server scripts/faults.sh started; stopped and started again here."""

    def __init__(self):
        self.conf = os.environ["FAULTS_GARAGE_CONF"]
        self.pid = int(os.environ["FAULTS_GARAGE_PID"])
        self.proc = None
        self.endpoint = os.environ["GARAGE_ENDPOINT"]

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        else:
            os.kill(self.pid, signal.SIGKILL)
        # Down when the port refuses.
        for _ in range(100):
            if call(self.endpoint, "GET", "/", token=None, timeout=1).status == 0:
                return
            time.sleep(0.05)
        fail("the S3 server did not stop")

    def start(self):
        env = dict(os.environ)
        env.update(GARAGE_DEFAULT_ACCESS_KEY=os.environ["AWS_ACCESS_KEY_ID"],
                   GARAGE_DEFAULT_SECRET_KEY=os.environ["AWS_SECRET_ACCESS_KEY"],
                   GARAGE_DEFAULT_BUCKET=os.environ["GARAGE_BUCKET"])
        self.proc = subprocess.Popen(
            ["garage", "-c", self.conf, "server", "--single-node", "--default-bucket"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if call(self.endpoint, "GET", "/", token=None, timeout=1).status != 0:
                return
            time.sleep(0.05)
        fail("the S3 server did not start again")

    def close(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()


class Signet:
    # Every one started, stopped when the script ends however it ends.
    started = []

    def __init__(self, binary, root, database_url, s3):
        self.binary, self.root = binary, root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update(
            SIGNET_LISTEN=f"127.0.0.1:{self.port}",
            SIGNET_DATABASE_URL=database_url,
            SIGNET_BOOTSTRAP_TOKEN=TOKEN,
            SIGNET_GC_INTERVAL_SECS="0",
            SIGNET_METRICS_LISTEN="off",
            SIGNET_RATE_LIMIT="off",
            SIGNET_RATE_LIMIT_ROLES="",
            SIGNET_DOWNLOAD_QUOTA="off",
            RUST_LOG="warn",
        )
        if s3:
            self.env.update(
                SIGNET_STORAGE_URL=f"s3://{os.environ['GARAGE_BUCKET']}/{os.path.basename(root)}",
                SIGNET_S3_ENDPOINT=os.environ["GARAGE_ENDPOINT"],
                SIGNET_S3_REGION=os.environ["GARAGE_REGION"],
                SIGNET_S3_ALLOW_HTTP="true",
            )
        else:
            self.env["SIGNET_STORAGE_URL"] = os.path.join(root, "blobs")
        self.proc = None
        self.logs = open(os.path.join(root, "signet.log"), "ab")
        Signet.started.append(self)
        self.start()

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env,
                                     stdout=self.logs, stderr=self.logs)
        for _ in range(600):
            if call(self.base, "GET", "/healthz", token=None, timeout=1).status == 200:
                return
            if self.proc.poll() is not None:
                fail(f"signet exited ({self.proc.returncode}); see {self.logs.name}")
            time.sleep(0.05)
        fail("signet did not start")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def ok(self, method, path, body=None, headers=None, want=(200, 201, 204)):
        a = call(self.base, method, path, body, headers)
        check(a.status in want, f"{method} {path}: {a.status} {a.body[:300]!r}")
        return a


def setup_model(s):
    s.ok("POST", "/v1/namespaces", {"name": NS})
    s.ok("POST", "/v1/models", {"namespace": NS, "name": MODEL})


def fresh_signet(binary, root, pg, name):
    """A Signet on a new database of the PostgreSQL cluster and on S3, with the
    model the scenarios use."""
    pg.create_db(f"faults_{name}")
    work = os.path.join(root, name)
    os.makedirs(work)
    s = Signet(binary, work, pg.url(f"faults_{name}"), s3=True)
    setup_model(s)
    return s


def signing_key(binary, root, s):
    """A key pair made with the client, registered for the namespace."""
    subprocess.run([binary, "keygen", "--out", os.path.join(root, "ci")], check=True,
                   stdout=subprocess.DEVNULL, cwd=root,
                   env=dict(os.environ, SIGNET_CONFIG_DIR=os.path.join(root, "config")))
    with open(os.path.join(root, "ci.pub")) as f:
        pem = f.read()
    s.ok("POST", "/v1/keys", {"name": "ci", "public_key": pem, "namespaces": [NS]})
    return os.path.join(root, "ci.key")


def no_internals(a, what):
    text = a.body.decode(errors="replace")
    for word in INTERNALS:
        check(word not in text, f"{what}: the answer shows internals ({word!r}): {text[:300]}")


# --- 1. PostgreSQL stopped under load ------------------------------------------

def postgres_stopped(binary, root, pg, garage):
    log("PostgreSQL stopped under load")
    s = fresh_signet(binary, root, pg, "pgstop")
    try:
        v = s.ok("POST", f"/v1/models/{NS}/{MODEL}/versions", {}).json()["version"]
        s.ok("PUT", f"{vpath(v)}/files/a.bin", b"a" * 1000)
        acknowledged, answers = [], []
        stop = threading.Event()
        lock = threading.Lock()

        def load():
            while not stop.is_set():
                started = time.monotonic()
                if random.random() < 0.5:
                    a = call(s.base, "GET", vpath(v), timeout=10)
                    a.what = "GET a version"
                else:
                    a = call(s.base, "POST", f"/v1/models/{NS}/{MODEL}/versions",
                             {"metadata": {"n": random.random()}}, timeout=10)
                    a.what = "POST a version"
                    if a.status == 201:
                        with lock:
                            acknowledged.append(json.loads(a.body)["version"])
                with lock:
                    answers.append((started, a))

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # load running before the fault (not a synchronization)
        stopped_at = time.monotonic()
        pg.stop()
        down_at = time.monotonic()
        # Requests made while the database is down.
        time.sleep(3.0)
        ready = call(s.base, "GET", "/readyz", token=None, timeout=5)
        check(ready.status == 503, f"/readyz with the database down: {ready.status}")
        check(ready.elapsed < 2.0, f"/readyz took {ready.elapsed:.2f} s")
        restart_at = time.monotonic()
        pg.start()
        back_at = time.monotonic()
        resumed = None
        while time.monotonic() - back_at < 10:
            if call(s.base, "GET", vpath(v), timeout=2).status == 200 and \
                    call(s.base, "GET", "/readyz", token=None, timeout=2).status == 200:
                resumed = time.monotonic() - back_at
                break
            time.sleep(0.05)
        check(resumed is not None and resumed <= 5.0,
              f"service resumed {resumed} s after the database returned (limit 5 s)")
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        # Made and answered while the database was certainly down (a request
        # made just before the restart may get a connection after it).
        during = [(t0, a) for t0, a in answers
                  if down_at + 0.1 < t0 and t0 + a.elapsed < restart_at]
        check(during, "no request was made while the database was down")
        for t0, a in during:
            check(a.status == 503, f"a request while the database was down: {a.status} "
                  f"{a.body[:200]!r}")
            check(a.elapsed <= 2.0, f"a request while the database was down ({a.what}) took "
                  f"{a.elapsed:.2f} s, {t0 - down_at:.2f} s after the stop: {a.body[:200]!r}")
            no_internals(a, "an answer while the database was down")
        for t0, a in answers:
            check(a.status != 500, f"a 500 around the outage: {a.body[:300]!r}")
            if down_at < t0 < back_at:
                check(a.elapsed <= 2.0, f"a request made during the outage ({a.what}) "
                      f"took {a.elapsed:.2f} s")
            if a.status >= 400:
                no_internals(a, "an error answer")
        for n in acknowledged:
            check(call(s.base, "GET", vpath(n)).status == 200,
                  f"acknowledged version {n} is missing")
        slowest = max(a.elapsed for _, a in during)
        log(f"  {len(during)} requests while down: all 503, slowest {slowest:.2f} s; "
            f"stop took {down_at - stopped_at:.2f} s; resumed {resumed:.2f} s after the "
            f"database returned; {len(acknowledged)} acknowledged writes all present")
    finally:
        s.close()


# --- 2. The S3 server stopped --------------------------------------------------

def s3_stopped(binary, root, pg, garage):
    log("S3 server stopped during uploads and downloads")
    s = fresh_signet(binary, root, pg, "s3stop")
    try:
        v = s.ok("POST", f"/v1/models/{NS}/{MODEL}/versions", {}).json()["version"]
        big = os.urandom(24 << 20)
        s.ok("PUT", f"{vpath(v)}/files/kept.bin", big)
        results = {}

        def upload():
            results["upload"] = call(s.base, "PUT", f"{vpath(v)}/files/cut.bin",
                                     SlowBody(big), timeout=30)

        def download():
            results["download"] = call(s.base, "GET", f"{vpath(v)}/files/kept.bin",
                                       timeout=30)

        threads = [threading.Thread(target=upload), threading.Thread(target=download)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # both transfers under way
        garage.stop()
        for t in threads:
            t.join()
        up, down = results["upload"], results["download"]
        check(up.status in (0, 503), f"an upload as the S3 server stopped: {up.status} "
              f"{up.body[:200]!r}")
        no_internals(up, "the upload's answer")
        # Cut off (a short body is an error to the client), refused, or whole
        # and right if it finished first: never other bytes presented as whole.
        check(down.status in (0, 503) or (down.status == 200 and down.body == big),
              f"a download as the S3 server stopped: {down.status}, {len(down.body)} bytes")
        if down.status == 200 and len(down.body) == len(big):
            log("  (the download finished before the S3 server stopped)")
        files = s.ok("GET", vpath(v)).json()["files"]
        check([f["path"] for f in files] == ["kept.bin"],
              f"files after a failed upload: {[f['path'] for f in files]}")
        ready = call(s.base, "GET", "/readyz", token=None, timeout=5)
        check(ready.status == 503, f"/readyz with the S3 server down: {ready.status}")
        a = call(s.base, "PUT", f"{vpath(v)}/files/later.bin", b"x" * 4096)
        check(a.status == 503, f"an upload with the S3 server down: {a.status} {a.body[:200]!r}")
        no_internals(a, "an upload with the S3 server down")
        a = call(s.base, "GET", f"{vpath(v)}/files/kept.bin")
        check(a.status in (0, 503), f"a download with the S3 server down: {a.status}")
        garage.start()
        back = time.monotonic()
        while call(s.base, "GET", "/readyz", token=None, timeout=2).status != 200:
            check(time.monotonic() - back < 10, "/readyz stayed unready after S3 returned")
            time.sleep(0.05)
        s.ok("PUT", f"{vpath(v)}/files/after.bin", b"y" * 4096)
        a = s.ok("GET", f"{vpath(v)}/files/kept.bin")
        check(a.body == big, "the file stored before the outage reads back")
        files = s.ok("GET", vpath(v)).json()["files"]
        check(sorted(f["path"] for f in files) == ["after.bin", "kept.bin"],
              f"files after S3 returned: {[f['path'] for f in files]}")
        log(f"  upload cut: {up.status or 'connection closed'}; download: "
            f"{down.status or 'aborted'}; /readyz 503 while down; ready again "
            f"{time.monotonic() - back:.2f} s after it returned")
    finally:
        s.close()


class SlowBody:
    """A request body sent in 256 KiB pieces with pauses, so it is still being
    sent when the fault comes."""

    def __init__(self, data):
        self.data = data

    def __iter__(self):
        for i in range(0, len(self.data), 256 << 10):
            yield self.data[i:i + (256 << 10)]
            time.sleep(0.02)

    def __len__(self):
        return len(self.data)


# --- 3. kill -9 at random moments ----------------------------------------------

def kill_rounds(binary, root, pg, rounds, backend):
    log(f"kill -9 at random moments, {rounds} rounds, {backend}")
    if backend == "sqlite":
        work = os.path.join(root, "kill-sqlite")
        os.makedirs(work)
        s = Signet(binary, work, f"sqlite://{os.path.join(work, 'signet.db')}", s3=False)
        setup_model(s)
    else:
        s = fresh_signet(binary, root, pg, "kill")
        work = os.path.join(root, "kill")
    counts = {"uploads": 0, "seals": 0, "signatures": 0, "promotions": 0, "cut": 0}
    try:
        key = signing_key(binary, work, s)
        client_env = dict(os.environ, SIGNET_URL=s.base, SIGNET_TOKEN=TOKEN,
                          SIGNET_CONFIG_DIR=os.path.join(work, "config"))
        # What was acknowledged: version → {path: sha256}; sealed, signed
        # versions; the last acknowledged move of each alias.
        files, sealed, signed, moves = {}, set(), set(), {}
        for r in range(rounds):
            stop_after = random.uniform(0.0, 0.6)
            done = threading.Event()

            def work_round():
                try:
                    a = call(s.base, "POST", f"/v1/models/{NS}/{MODEL}/versions",
                             {"lineage": LINEAGE})
                    if a.status != 201:
                        return
                    v = a.json()["version"]
                    files[v] = {}
                    for i in range(random.randint(1, 3)):
                        data = os.urandom(random.choice([1 << 10, 1 << 20, 6 << 20]))
                        digest = hashlib.sha256(data).hexdigest()
                        a = call(s.base, "PUT", f"{vpath(v)}/files/f{i}.bin", data,
                                 {"X-Checksum-Sha256": digest})
                        if a.status != 201:
                            return
                        files[v][f"f{i}.bin"] = digest
                        counts["uploads"] += 1
                    if call(s.base, "POST", f"{vpath(v)}/seal").status != 200:
                        return
                    sealed.add(v)
                    counts["seals"] += 1
                    p = subprocess.run([binary, "sign", f"{NS}/{MODEL}@{v}", "--key", key],
                                       env=client_env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=30)
                    if p.returncode != 0:
                        return
                    signed.add(v)
                    counts["signatures"] += 1
                    alias = random.choice(["staging", "production"])
                    a = call(s.base, "PUT", f"/v1/models/{NS}/{MODEL}/aliases/{alias}",
                             {"version": v, "reason": f"round {r}"})
                    if a.status == 200:
                        moves[alias] = v
                        counts["promotions"] += 1
                finally:
                    done.set()

            t = threading.Thread(target=work_round)
            t.start()
            latest = max(files, default=0)
            cut = not done.wait(stop_after)
            s.kill9()
            t.join()
            counts["cut"] += cut
            s.start()
            full = r % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1 or r == rounds - 1
            check_after_restart(s, files, sealed, signed, moves, r, latest, full)
        log(f"  {rounds} rounds, {counts['cut']} killed mid-work; acknowledged before a "
            f"kill and found after it: {counts['uploads']} uploads, {counts['seals']} seals, "
            f"{counts['signatures']} signatures, {counts['promotions']} promotions; no partial "
            f"file; audit chain verified after every restart; every acknowledged version read back "
            f"every {FULL_CHECK_EVERY} rounds and after the last")
    finally:
        s.close()


# Every this many rounds (and after the last) every acknowledged version is read
# back after the restart; in between, the versions the killed round worked on
# and a random sample of earlier ones, so a soak's rounds do not slow down as
# versions pile up (reading all of them every round is quadratic).
FULL_CHECK_EVERY = 50
SAMPLED = 16


def check_after_restart(s, files, sealed, signed, moves, r, latest, full):
    """Every acknowledged version is listed; its files, seal and signature are
    there (for all versions when `full`, else for those at or after `latest`,
    the ones the killed round worked on, and a sample of the earlier ones); every
    visible file of the versions at or after `latest` reads back whole (the
    earlier ones were read back after their own round); the aliases keep their
    acknowledged moves; the audit chain verifies."""
    numbers, after = set(), None
    while True:
        q = f"?limit=100&cursor={after}" if after else "?limit=100"
        page = s.ok("GET", f"/v1/models/{NS}/{MODEL}/versions{q}").json()
        numbers |= {v["version"] for v in page["items"]}
        after = page.get("next_cursor")
        if not after:
            break
    for v in files:
        check(v in numbers, f"round {r}: acknowledged version {v} is missing")
    earlier = sorted(v for v in files if v < latest)
    if not full and len(earlier) > SAMPLED:
        earlier = random.sample(earlier, SAMPLED)
    for v in earlier + sorted(v for v in files if v >= latest):
        want = files[v]
        got = s.ok("GET", vpath(v)).json()
        have = {f["path"]: f["sha256"] for f in got["files"]}
        for path, digest in want.items():
            check(have.get(path) == digest, f"round {r}: acknowledged file {v}/{path} "
                  f"is missing or differs")
        for path, digest in have.items():
            if v < latest:
                break
            # Every visible file is whole: its bytes hash to its digest.
            a = s.ok("GET", f"{vpath(v)}/files/{path}")
            check(hashlib.sha256(a.body).hexdigest() == digest,
                  f"round {r}: visible file {v}/{path} is not whole")
        if v in sealed:
            check(got["state"] == "sealed", f"round {r}: acknowledged seal of {v} lost")
        if v in signed:
            check(got["signatures"], f"round {r}: acknowledged signature of {v} lost")
    for alias, v in moves.items():
        a = s.ok("GET", f"/v1/models/{NS}/{MODEL}/aliases/{alias}").json()
        check(a["version"] >= v, f"round {r}: alias {alias} lost its move to {v}")
    a = s.ok("GET", "/v1/audit/verify").json()
    check(a["ok"] is True, f"round {r}: the audit chain does not verify: {a}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("signet")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--backends", default="sqlite,postgres",
                   help="whose kill -9 rounds to run (a soak can run each in a process of its own)")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    log(f"seed {seed} (--seed {seed} repeats the random choices)")
    root = tempfile.mkdtemp(prefix="signet-faults-")
    pg = Postgres(root)
    garage = Garage()
    try:
        postgres_stopped(args.signet, root, pg, garage)
        s3_stopped(args.signet, root, pg, garage)
        for backend in args.backends.split(","):
            if backend not in ("sqlite", "postgres"):
                fail(f"unknown backend {backend!r}")
            kill_rounds(args.signet, root, pg, args.rounds, backend)
        log("all faults survived")
    finally:
        for s in Signet.started:
            s.close()
        garage.close()
        try:
            pg.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
