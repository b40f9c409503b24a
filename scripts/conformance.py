#!/usr/bin/env python3
"""Contract conformance: schemathesis against a running Signet and its own
OpenAPI document.

Starts the given `signet` binary on a throwaway SQLite database and directory
(or the PostgreSQL database named by --database), seeds real objects (namespaces,
models, sealed and draft versions with files, a signed version with an alias and
an attestation, a key, members, tokens, quarantines, a webhook with deliveries),
binds the path and query parameters to them so generated requests reach real objects, then runs every schemathesis check on
positive and negative data with a fixed seed. Exits non-zero on any failure.

Usage: scripts/conformance.py TARGET/debug/signet [--examples N] [--seed S]
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ADMIN = "sgn_conformance-admin-" + os.urandom(12).hex()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, raw=None, expect=(200, 201, 204)):
        data, headers = None, {"Authorization": f"Bearer {ADMIN}"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            headers["Content-Type"] = "application/octet-stream"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if status not in expect:
            sys.exit(f"seeding: {method} {path} answered {status}: {text[:300]!r}")
        return json.loads(text) if text else None


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(key_file, message, work):
    msg = os.path.join(work, "msg")
    with open(msg, "wb") as f:
        f.write(message)
    return subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key_file, "-in", msg],
        check=True, capture_output=True,
    ).stdout


def new_key(work, name):
    key = os.path.join(work, f"{name}.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    pub = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"], check=True,
                         capture_output=True, text=True).stdout
    return key, pub


def seed(api, work):
    """Real objects for every path parameter, and a second page for every listing."""
    digest = "ab" * 32
    commit = "cd" * 20
    for ns in ("fraud", "vision"):
        api.call("POST", "/v1/namespaces", {"name": ns, "description": "seeded"})
    for m in ("scorer", "ranker"):
        api.call("POST", "/v1/models", {"namespace": "fraud", "name": m})
    lineage = {
        "code": {"repo": "git@example.com:fraud.git", "commit": commit},
        "data": [{"name": "transactions", "sha256": digest, "uri": "s3://data/tx"}],
        "environment": {"image": "python:3.11", "frameworks": {"torch": "2.4"}},
    }
    api.call("POST", "/v1/models/fraud/scorer/versions", {"lineage": lineage, "metadata": {"auc": 0.9}})
    api.call("PUT", "/v1/models/fraud/scorer/versions/1/files/model.bin", raw=b"\x00" * 4096)
    api.call("POST", "/v1/models/fraud/scorer/versions/1/seal")
    api.call("POST", "/v1/models/fraud/scorer/versions", {"lineage": {}})
    api.call("PUT", "/v1/models/fraud/scorer/versions/2/files/weights/a.bin", raw=b"\x01" * 100)
    keyids = []
    for name in ("ci-fraud", "ci-spare"):
        key, pub = new_key(work, name)
        keyids.append(api.call("POST", "/v1/keys", {"name": name, "public_key": pub, "namespaces": ["fraud"]})["keyid"])
        if name == "ci-fraud":
            signing_key = key
    statement = api.call("GET", "/v1/models/fraud/scorer/versions/1/statement")
    payload = json.dumps(statement, separators=(",", ":")).encode()
    ptype = "application/vnd.in-toto+json"
    sig = sign(signing_key, pae(ptype, payload), work)
    api.call("POST", "/v1/models/fraud/scorer/versions/1/signatures", {
        "payloadType": ptype,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyids[0], "sig": base64.b64encode(sig).decode()}],
    })
    # An evaluation attestation of version 1 about its file.
    model_bin = statement["predicate"]["resources"][0]
    evaluation = json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": model_bin["name"], "digest": {"sha256": model_bin["digest"]}}],
        "predicateType": "https://signet.dev/attestations/evaluation/v1",
        "predicate": {"metrics": {"accuracy": 0.93}},
    }, separators=(",", ":")).encode()
    sig = sign(signing_key, pae(ptype, evaluation), work)
    attestation = api.call("POST", "/v1/models/fraud/scorer/versions/1/attestations", {
        "payloadType": ptype,
        "payload": base64.b64encode(evaluation).decode(),
        "signatures": [{"keyid": keyids[0], "sig": base64.b64encode(sig).decode()}],
    })["id"]
    for reason in ("first", "again"):
        api.call("PUT", "/v1/models/fraud/scorer/aliases/staging", {"version": 1, "reason": reason})
    for who in ("alice", "bob"):
        api.call("PUT", f"/v1/namespaces/fraud/members/{who}", {"roles": ["reader"]})
    # Keys no one registered yet, for generated registrations to use.
    fresh_keys = [new_key(work, f"fresh-{i}")[1] for i in range(3)]
    token = api.call("POST", "/v1/tokens", {"principal": "ci", "description": "seeded"})["id"]
    quarantines = [
        api.call("POST", "/v1/quarantines", {"kind": "dataset", "value": "ef" * 32, "reason": "seeded", "namespaces": ["vision"]})["id"],
        api.call("POST", "/v1/quarantines", {"kind": "commit", "value": "01" * 20, "reason": "seeded", "namespaces": ["vision"]})["id"],
    ]
    # A webhook (whose target never resolves) with two test deliveries.
    hook = api.call("POST", "/v1/namespaces/vision/webhooks", {
        "url": "https://hooks.invalid/conformance", "event_types": ["dev.signet.alias.moved"],
    })["id"]
    deliveries = [
        api.call("POST", f"/v1/namespaces/vision/webhooks/{hook}/test")["id"] for _ in range(2)
    ]
    # A real second-page cursor of each listing.
    listings = {
        "/v1/namespaces/{ns}/webhooks/{id}/deliveries": f"/v1/namespaces/vision/webhooks/{hook}/deliveries",
        "/v1/namespaces": "/v1/namespaces",
        "/v1/models": "/v1/models",
        "/v1/models/{ns}/{model}/versions": "/v1/models/fraud/scorer/versions",
        "/v1/models/{ns}/{model}/aliases/{alias}/history": "/v1/models/fraud/scorer/aliases/staging/history",
        "/v1/namespaces/{ns}/members": "/v1/namespaces/fraud/members",
        "/v1/keys": "/v1/keys",
        "/v1/tokens": "/v1/tokens",
        "/v1/quarantines": "/v1/quarantines",
        "/v1/audit": "/v1/audit",
        "/v1/audit/export": "/v1/audit",
    }
    cursors = {}
    for route, path in listings.items():
        page = api.call("GET", path + "?limit=1")
        if not page.get("next_cursor"):
            sys.exit(f"seeding: {path} has no second page")
        cursors[route] = page["next_cursor"]
    return {
        "ns": ["fraud", "vision"],
        "model": ["scorer", "ranker"],
        "v": [1, 2],
        "path": ["model.bin", "weights/a.bin"],
        "alias": ["staging"],
        "principal": ["alice", "bob"],
        "keyid": keyids,
        "sha256": [digest],
        "commit": [commit],
        "quarantine": quarantines,
        "token": [token],
        "public_key": fresh_keys,
        "webhook": [hook],
        "delivery": deliveries,
        "attestation": [attestation],
    }, cursors


def config(values, cursors, seed_, examples):
    """schemathesis.toml: every check, both kinds of data, parameters bound to the
    seeded objects most of the time."""
    lines = [
        f"seed = {seed_}",
        "workers = 1",
        "[generation]",
        'mode = "all"',
        f"max-examples = {examples}",
        "[checks]",
        "enabled = true",
        # Schema-valid data may still be unprocessable for reasons no schema can
        # state: a signature that does not verify, a parent version that does
        # not exist, a role that cannot be bound in that namespace. Those are 422.
        "[checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]',
        "[phases.stateful]",
        "enabled = false",
    ]
    for name, vals in values.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(vals)}"]
    lines.append("[parameters]")
    for name in ("ns", "model", "v", "path", "alias", "principal", "keyid", "sha256", "commit"):
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.8 }}')
    for route, cursor in cursors.items():
        lines += [
            "[[operations]]",
            f'include-path = "{route}"',
            "[operations.parameters]",
            f'"query.cursor" = "{cursor}"',
        ]
    # A public key is checked for being a key, which no schema can state:
    # registrations mostly use real keys, and text that is no key is 400.
    lines += [
        "[[operations]]",
        'include-operation-id = "register"',
        "[operations.parameters]",
        '"body.public_key" = { dictionary = "public_key", probability = 0.9 }',
        "[operations.checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]',
    ]
    # A declared digest that differs from the bytes is 400 `digest_mismatch` by
    # contract; no schema can tie a header to the body it describes.
    lines += [
        "[[operations]]",
        'include-operation-id = "put_file"',
        "[operations.checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]',
        # The same for a resumable upload's completion, which declares the
        # digest of the bytes sent before.
        "[[operations]]",
        'include-path = "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}/complete"',
        "[operations.checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]',
    ]
    # The identity token exchange takes a form of at most 32 KiB: an identity
    # token far over its 16 KiB (URL-encoded, a character may take 12 bytes)
    # is 413, as the route states.
    lines += [
        "[[operations]]",
        'include-operation-id = "exchange"',
        "[operations.checks.negative_data_rejection]",
        'expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]',
    ]
    hooks = "/v1/namespaces/{ns}/webhooks/{id}"
    attestation = "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}"
    for route, dictionary in (
        (attestation, "attestation"),
        (attestation + "/bundle", "attestation"),
        ("/v1/quarantines/{id}", "quarantine"),
        ("/v1/tokens/{id}", "token"),
        (hooks, "webhook"),
        (hooks + "/test", "webhook"),
        (hooks + "/deliveries", "webhook"),
        (hooks + "/deliveries/{delivery}/redeliver", "webhook"),
    ):
        lines += [
            "[[operations]]",
            f'include-path = "{route}"',
            "[operations.parameters]",
            f'"path.id" = {{ dictionary = "{dictionary}", probability = 0.8 }}',
        ]
        if route.endswith("/redeliver"):
            lines.append('"path.delivery" = { dictionary = "delivery", probability = 0.8 }')
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("signet")
    ap.add_argument("--examples", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--database", help="a database URL instead of a throwaway SQLite file")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="signet-conformance-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    # The transparency log's key, from a file as production keeps it (the
    # embedded default would make one; PostgreSQL needs it given).
    subprocess.run([args.signet, "keygen", "--algorithm", "ed25519", "--out",
                    os.path.join(work, "log")], check=True, capture_output=True)
    # The registry's own key, which signs promotion records, likewise.
    subprocess.run([args.signet, "keygen", "--out", os.path.join(work, "registry")],
                   check=True, capture_output=True)
    # The key webhook secrets are sealed with, likewise.
    with open(os.path.join(work, "webhook-key"), "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode())
    env.update({
        "SIGNET_LOG_KEY_FILE": os.path.join(work, "log.key"),
        "SIGNET_WEBHOOK_KEY_FILE": os.path.join(work, "webhook-key"),
        "SIGNET_REGISTRY_KEY_FILE": os.path.join(work, "registry.key"),
        "SIGNET_LISTEN": f"127.0.0.1:{port}",
        "SIGNET_DATABASE_URL": args.database or f"sqlite://{work}/signet.db",
        "SIGNET_STORAGE_URL": f"{work}/blobs",
        "SIGNET_BOOTSTRAP_TOKEN": ADMIN,
        "SIGNET_GC_INTERVAL_SECS": "0",
        "SIGNET_METRICS_LISTEN": "off",
        # The run makes thousands of requests as one principal, on purpose.
        "SIGNET_RATE_LIMIT": "off",
        "SIGNET_RATE_LIMIT_ROLES": "",
        "SIGNET_ANONYMOUS_RATE_LIMIT": "off",
        "RUST_LOG": "warn",
    })
    log = open(os.path.join(work, "signet.log"), "w")
    server = subprocess.Popen([args.signet, "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz")
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("signet did not start; see " + log.name)
        values, cursors = seed(Api(base), work)
        cfg = os.path.join(work, "schemathesis.toml")
        with open(cfg, "w") as f:
            f.write(config(values, cursors, args.seed, args.examples))
        cmd = [
            "schemathesis", "--config-file", cfg, "run", base + "/openapi.json",
            "-H", f"Authorization: Bearer {ADMIN}",
            "--phases", "examples,coverage,fuzzing",
            "--output-truncate", "true",
        ]
        print("==> " + " ".join(c if ADMIN not in c else "Authorization: Bearer …" for c in cmd), flush=True)
        code = subprocess.run(cmd, cwd=work).returncode
    finally:
        server.terminate()
        server.wait()
    if server.returncode not in (0, -15):
        print(f"signet exited with {server.returncode}; see {log.name}")
    sys.exit(code)


if __name__ == "__main__":
    main()
