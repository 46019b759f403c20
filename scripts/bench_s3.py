#!/usr/bin/env python3
"""The S3 path beside the SFTP path (issue 20): objects per second through
each, same daemon, same machine, same run.

One `pasarela run` (built with `--features aws`) serves both: account `viasftp`
over its SFTP server, account `vias3` through S3 + SQS (moto's server mode on
loopback: the S3 path's AWS side). N generated invoices go through each path
in turn, with the same route (`dian-validate`), the same number of concurrent
uploaders (C OpenSSH `sftp` clients; C boto3 threads putting objects), and the
same store (SQLite). Reported per path: files/s from the first upload to the
last committed outcome, the daemon's CPU per file, and for S3 the time until
every input left `incoming/` (archived), and moto's own CPU.

Usage (normally through scripts/bench-s3.sh, which builds the release binary):
  python3 scripts/bench_s3.py --bin target/release/pasarela [--files 2000]
      [--clients 8] [--workers 4] [--dir /tmp/pasarela-s3]
"""
import argparse
import atexit
import concurrent.futures
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET, PREFIX, QUEUE = "bolsa-sftp", "pasarela", "pasarela-intake"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFORBENCH0000",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-for-benchmarks",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(a, sftp_port, endpoint):
    return f"""
[daemon]
state_dir = "var"
workers = {a.workers}
stability_ms = 2000
poll_interval_ms = 200

[store]
url = "sqlite://var/pasarela.db"
synchronous = "full"

[log]
level = "info"

[dian]
rules = "{REPO}/rules/dian.toml"

[sftp]
listen = "127.0.0.1:{sftp_port}"
max_connections_per_ip = {a.clients * 2}

[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
server_id = "s-0123456789abcdef0"
role_arn = "arn:aws:iam::123456789012:role/pasarela-homes"
bucket = "{BUCKET}"
home_prefix = "{PREFIX}"

[aws.s3]
queue = "{QUEUE}"

[accounts.viasftp]
home = "var/home/viasftp"

[accounts.viasftp.sftp]
authorized_keys = ["{REPO}/fixtures/keys/demo_ed25519.pub"]
allowed_networks = ["127.0.0.0/8"]

[accounts.vias3]
home = "var/home/vias3"

[[routes]]
name = "xml-invoices"
formats = ["xml"]
steps = ["dian-validate"]

[[routes]]
name = "unsupported"
steps = ["reject-unsupported"]
"""


def done(db, account):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(
            "SELECT COUNT(*) FROM jobs WHERE account = ? AND state = 'done'", (account,)
        ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "target/release/pasarela"))
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--dir", default="/tmp/pasarela-s3")
    ap.add_argument("--timeout", type=int, default=1800)
    a = ap.parse_args()

    d = a.dir
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "config"))
    env = {**os.environ, **AWS_ENV}
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_ENDPOINT_URL", None)

    moto_port, sftp_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    moto = subprocess.Popen(
        ["python3", os.path.join(REPO, "tests/py/moto_transfer.py"), "--stock",
         "-H", "127.0.0.1", "-p", str(moto_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "moto.log"), "w"))
    atexit.register(moto.kill)  # also when the run fails half-way
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", moto_port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    subprocess.run(["python3", os.path.join(REPO, "tests/py/s3_admin.py"), endpoint, "setup",
                    BUCKET, QUEUE, QUEUE + "-dlq", "5", "300", f"{PREFIX}/vias3/incoming/"],
                   env=env, check=True)
    with open(os.path.join(d, "config/pasarela.toml"), "w") as f:
        f.write(config(a, sftp_port, endpoint))
    key = os.path.join(d, "key")
    shutil.copy(os.path.join(REPO, "fixtures/keys/demo_ed25519"), key)
    os.chmod(key, 0o600)

    print(f"== generating 2 x {a.files} invoices", file=sys.stderr)
    for out, seed in (("gen-sftp", 1), ("gen-s3", 1_000_001)):
        subprocess.run([a.bin, "generate", "--count", str(a.files), "--seed", str(seed),
                        "--out", out], cwd=d, check=True, stdout=subprocess.DEVNULL)
    listing = {p: sorted(os.path.join(d, p, n) for n in os.listdir(os.path.join(d, p)))
               for p in ("gen-sftp", "gen-s3")}

    log_path = os.path.join(d, "daemon.log")
    daemon = subprocess.Popen([a.bin, "run"], cwd=d, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(log_path, "w"))
    atexit.register(daemon.kill)
    deadline = time.time() + 60
    while "S3 intake started" not in open(log_path).read():
        assert time.time() < deadline and daemon.poll() is None, "daemon did not start"
        time.sleep(0.1)
    db = os.path.join(d, "var/pasarela.db")

    def wait_done(account, t0):
        while done(db, account) < a.files:
            assert time.time() - t0 < a.timeout, f"timeout waiting for {account}"
            assert daemon.poll() is None, "daemon exited"
            time.sleep(0.1)
        return time.time()

    report = {"files": a.files, "clients": a.clients, "workers": a.workers, "route": "dian-validate",
              "store": "sqlite full"}

    # SFTP: C OpenSSH clients, each putting its share.
    sftp_argv = ["sftp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "BatchMode=yes", "-i", key, "-P", str(sftp_port), "-b", "-", "viasftp@127.0.0.1"]
    errors = []

    def sftp_client(group):
        cmds = "cd incoming\n" + "".join(f"put {p}\n" for p in group)
        r = subprocess.run(sftp_argv, input=cmds, capture_output=True, text=True)
        if r.returncode != 0:
            errors.append(r.stderr[-500:])

    files = listing["gen-sftp"]
    print(f"== SFTP: {a.files} files, {a.clients} clients", file=sys.stderr)
    cpu0, t0 = cpu_seconds(daemon.pid), time.time()
    threads = [threading.Thread(target=sftp_client, args=(files[i::a.clients],))
               for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_up = time.time()
    assert not errors, errors
    t1 = wait_done("viasftp", t0)
    cpu1 = cpu_seconds(daemon.pid)
    report["sftp"] = {"files_per_s": round(a.files / (t1 - t0), 1), "seconds": round(t1 - t0, 1),
                      "upload_seconds": round(t_up - t0, 1),
                      "daemon_cpu_ms_per_file": round((cpu1 - cpu0) * 1000 / a.files, 1)}

    # S3: C boto3 threads putting objects, as Transfer Family would.
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])

    def put(path):
        with open(path, "rb") as f:
            s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/vias3/incoming/{os.path.basename(path)}",
                          Body=f.read())

    files = listing["gen-s3"]
    print(f"== S3: {a.files} objects, {a.clients} uploaders", file=sys.stderr)
    cpu0, moto0, t0 = cpu_seconds(daemon.pid), cpu_seconds(moto.pid), time.time()
    with concurrent.futures.ThreadPoolExecutor(a.clients) as pool:
        list(pool.map(put, files))
    t_up = time.time()
    done_at_up = done(db, "vias3")
    t1 = wait_done("vias3", t0)
    cpu1 = cpu_seconds(daemon.pid)
    while s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/vias3/incoming/").get("KeyCount", 0):
        assert time.time() - t0 < a.timeout, "timeout waiting for archive moves"
        time.sleep(0.2)
    t2 = time.time()
    moto1 = cpu_seconds(moto.pid)
    results = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/vias3/outgoing/"):
        results += page.get("KeyCount", 0)
    report["s3"] = {"files_per_s": round(a.files / (t1 - t0), 1), "seconds": round(t1 - t0, 1),
                    "upload_seconds": round(t_up - t0, 1),
                    "done_when_uploads_ended": done_at_up,
                    # Once the uploaders stop competing for moto's one core.
                    "files_per_s_after_uploads": round((a.files - done_at_up) / max(t1 - t_up, 0.001), 1),
                    "all_archived_seconds": round(t2 - t0, 1),
                    "daemon_cpu_ms_per_file": round((cpu1 - cpu0) * 1000 / a.files, 1),
                    "moto_cpu_ms_per_file": round((moto1 - moto0) * 1000 / a.files, 1),
                    "results_in_s3": results}
    daemon.terminate()
    daemon.wait(timeout=60)
    moto.terminate()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
