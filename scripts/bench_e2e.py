#!/usr/bin/env python3
"""End-to-end benchmark: SFTP upload -> DIAN validation -> pricing -> certificate
-> e-mail -> result, through the real daemon, on this machine.

N generated invoices are uploaded by C concurrent OpenSSH `sftp` clients into a
`pasarela run` with certificates and e-mail on (aiosmtpd on loopback). Reported:
sustained invoices/s, latency from upload close to committed result (p50, p95,
p99, from the store's audit rows), the daemon's CPU and peak memory, and the
counts that prove nothing was lost or duplicated (results, certificates,
e-mails, distinct Message-IDs).

Usage (normally through scripts/bench-e2e.sh, which builds the release binary):
  python3 scripts/bench_e2e.py --bin target/release/pasarela [--files 10000]
      [--clients 20] [--workers 4] [--dir /tmp/pasarela-e2e] [--store-url URL]
      [--rate R]   # offered load (files/s) instead of uploading as fast as possible
      [--mail on|off]  # the certificate e-mail (default on)
      [--sink discard|aiosmtpd]  # the SMTP server (default: scripts/smtp_discard.py)

On PostgreSQL it also counts the store round trips: the data segments the
daemon's connections to PostgreSQL sent (`ss -ti`, sampled every second), one
per request the client flushes (sqlx writes a statement's messages in one
flush), so an upper bound of the round trips.
"""
import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def flood_account(a):
    """A second account for --flood: it only floods, never uploads."""
    if not a.flood:
        return ""
    return f"""
[accounts.flood]
home = "var/home/flood"

[accounts.flood.sftp]
authorized_keys = ["{REPO}/fixtures/keys/demo_ed25519.pub"]
allowed_networks = ["127.0.0.0/8"]
"""


def smtp_section(a, smtp_port):
    if a.mail == "off":
        return ""
    return f"""[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
from = "Pasarela <certificados@bolsa.example>"
admins = ["ops@bolsa.example"]
templates_dir = "{REPO}/config/templates"
poll_interval_ms = 100
initial_backoff_ms = 200
max_backoff_secs = 2

"""


def config(a, sftp_port, smtp_port):
    store = a.store_url or "sqlite://var/pasarela.db"
    return f"""
[daemon]
state_dir = "var"
workers = {a.workers}
stability_ms = 2000
poll_interval_ms = 200

[store]
url = "{store}"
synchronous = "{a.synchronous}"

[log]
level = "info"

[dian]
rules = "{REPO}/rules/dian.toml"

[registration]
rules_dir = "{REPO}/rules"

[certificates]
issuer = "Bolsa Mercantil de Colombia S.A."

{smtp_section(a, smtp_port)}[sftp]
listen = "127.0.0.1:{sftp_port}"
max_connections_per_ip = {a.clients * 2}

[accounts.demo]
home = "var/home/demo"
email = ["demo@example.com"]

[accounts.demo.sftp]
authorized_keys = ["{REPO}/fixtures/keys/demo_ed25519.pub"]
allowed_networks = ["127.0.0.0/8"]
{flood_account(a)}
[[routes]]
name = "xml-invoices"
formats = ["xml"]
steps = ["dian-validate", "price", "certify"]

[[routes]]
name = "unsupported"
steps = ["reject-unsupported"]
"""


def proc_cpu_seconds(pid, children=False):
    """utime + stime, and with `children` cutime + cstime (its reaped children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds():
    """CPU of every process named postgres (the server on this machine), with
    the backends its postmaster has reaped."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            total += proc_cpu_seconds(pid, children=True)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def machine_busy_seconds():
    """CPU time spent by the whole machine, all cores (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


class PgSegments:
    """Data segments the daemon sent to PostgreSQL, per connection (keyed by
    local port), sampled in a thread: a connection that closes keeps its last
    sample; one opened and closed between two samples is missed."""

    def __init__(self, pid, port=5432):
        self.pid, self.port = pid, port
        self.seen = {}
        self.base = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def sample(self):
        r = subprocess.run(["ss", "-tinpH", "state", "established", "dport", f"= :{self.port}"],
                           capture_output=True, text=True)
        lines = r.stdout.splitlines()
        for head, info in zip(lines[::2], lines[1::2]):
            if f"pid={self.pid}," not in head:
                continue
            local = head.split()[2]
            for field in info.split():
                if field.startswith("data_segs_out:"):
                    self.seen[local] = int(field.split(":")[1])

    def start(self):
        self.sample()
        self.base = dict(self.seen)
        self.thread.start()

    def loop(self):
        while not self.stop.wait(1.0):
            self.sample()

    def total(self):
        self.stop.set()
        self.thread.join()
        self.sample()
        return sum(v - self.base.get(k, 0) for k, v in self.seen.items())


def proc_peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


def count_files(d, suffix):
    try:
        return sum(1 for n in os.listdir(d) if n.endswith(suffix))
    except FileNotFoundError:
        return 0


def latencies_sqlite(db):
    con = sqlite3.connect(db)
    up = {}
    for at, detail in con.execute("SELECT at, detail FROM audit WHERE event = 'sftp.upload'"):
        path = json.loads(detail)["path"]
        up[path.rsplit("/", 1)[-1]] = at
    out = []
    q = """SELECT a.at, j.rel_path, j.verdict FROM audit a JOIN jobs j ON j.id = a.job_id
           WHERE a.event = 'done'"""
    verdicts = {}
    done_at = []
    for at, rel, verdict in con.execute(q):
        name = rel.rsplit("/", 1)[-1]
        if name in up:
            out.append(at - up[name])
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        done_at.append(at)
    certs = con.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
    jobs_done = con.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0]
    first_up = min(up.values()) if up else None
    return out, verdicts, certs, jobs_done, first_up, max(done_at) if done_at else None


def latencies_postgres(url):
    def q(sql):
        r = subprocess.run(["psql", url, "-At", "-F", "\t", "-c", sql], capture_output=True, text=True, check=True)
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    ms = "(extract(epoch from at) * 1000)::bigint"
    up = {}
    for at, detail in q(f"SELECT {ms}, detail FROM audit WHERE event = 'sftp.upload'"):
        up[json.loads(detail)["path"].rsplit("/", 1)[-1]] = int(at)
    out, verdicts, done_at = [], {}, []
    for at, rel, verdict in q(
        f"SELECT {ms.replace('at', 'a.at')}, j.rel_path, j.verdict FROM audit a JOIN jobs j ON j.id = a.job_id WHERE a.event = 'done'"
    ):
        name = rel.rsplit("/", 1)[-1]
        if name in up:
            out.append(int(at) - up[name])
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        done_at.append(int(at))
    certs = int(q("SELECT COUNT(*) FROM certificates")[0][0])
    jobs_done = int(q("SELECT COUNT(*) FROM jobs WHERE state = 'done'")[0][0])
    return out, verdicts, certs, jobs_done, min(up.values()) if up else None, max(done_at) if done_at else None


def outbox_pending(a, d):
    sql = "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"
    if a.store_url:
        r = subprocess.run(["psql", a.store_url, "-At", "-c", sql], capture_output=True, text=True)
        return int(r.stdout.strip() or 1)
    con = sqlite3.connect(os.path.join(d, "var/pasarela.db"), timeout=30)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "target/release/pasarela"))
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--synchronous", default="full")
    ap.add_argument("--dir", default="/tmp/pasarela-e2e")
    ap.add_argument("--store-url", default=None, help="postgres://... (default: SQLite in the bench dir)")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--rate", type=float, default=0,
                    help="offered load in files/s spread over the clients (default: upload as fast as possible)")
    ap.add_argument("--mail", choices=["on", "off"], default="on", help="certificate e-mail (an [smtp] section)")
    ap.add_argument("--sink", choices=["discard", "aiosmtpd"], default="discard",
                    help="SMTP server: scripts/smtp_discard.py (cheap) or tests/py/smtp_sink.py (aiosmtpd, fsync'd files)")
    ap.add_argument("--json-out", help="also write the report to this file")
    ap.add_argument("--any-products", action="store_true", help="the generator's full product mix (most invoices end in review)")
    ap.add_argument("--flood", action="store_true",
                    help="while uploading, a second account floods sessions, handles and unread requests "
                         "(tests/py/flood_client.py); latencies stay those of the uploading account")
    a = ap.parse_args()

    d = a.dir
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "config"))
    sftp_port, smtp_port = free_port(), free_port()
    with open(os.path.join(d, "config/pasarela.toml"), "w") as f:
        f.write(config(a, sftp_port, smtp_port))
    key = os.path.join(d, "key")
    shutil.copy(os.path.join(REPO, "fixtures/keys/demo_ed25519"), key)
    os.chmod(key, 0o600)

    def run(*args):
        subprocess.run([a.bin, *args], cwd=d, check=True, stdout=subprocess.DEVNULL)

    print(f"== generating {a.files} invoices", file=sys.stderr)
    gen = ["generate", "--count", str(a.files), "--seed", "1", "--out", "gen"]
    if not a.any_products:
        gen.append("--registrable")  # every invoice is registered: certificate + e-mail
    run(*gen)
    run("catalog", "import", os.path.join(REPO, "fixtures/catalog/subyacentes.csv"),
        "--catalog-config", os.path.join(REPO, "rules/catalog.toml"))
    files = sorted(os.path.join(d, "gen", n) for n in os.listdir(os.path.join(d, "gen")))
    assert len(files) == a.files, len(files)

    mail = os.path.join(d, "mail")
    sink_script = "scripts/smtp_discard.py" if a.sink == "discard" else "tests/py/smtp_sink.py"
    sink = subprocess.Popen(
        ["python3", os.path.join(REPO, sink_script), str(smtp_port), mail],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert sink.stdout.readline().strip() == "READY"

    log = open(os.path.join(d, "daemon.log"), "w")
    daemon = subprocess.Popen([a.bin, "run", "--now", "2024-03-15T12:00:00-05:00"], cwd=d,
                              stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 60
    while "pasarela running" not in open(os.path.join(d, "daemon.log")).read():
        assert time.time() < deadline and daemon.poll() is None, "daemon did not start"
        time.sleep(0.1)
    cpu0 = proc_cpu_seconds(daemon.pid)
    sink0, pg0, busy0 = proc_cpu_seconds(sink.pid, children=True), postgres_cpu_seconds(), machine_busy_seconds()
    kids0, self0 = os.times(), time.process_time()
    segments = PgSegments(daemon.pid) if a.store_url else None
    if segments:
        segments.start()

    groups = [files[i::a.clients] for i in range(a.clients)]
    errors = []

    sftp_argv = ["sftp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "BatchMode=yes", "-i", key, "-P", str(sftp_port), "-b", "-", "demo@127.0.0.1"]

    def client(n, group):
        if not a.rate:
            cmds = "cd incoming\n" + "".join(f"put {p}\n" for p in group)
            r = subprocess.run(sftp_argv, input=cmds, capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(r.stderr[-500:])
            return
        # Offered load: this client's share of --rate, one `put` at a time on schedule.
        interval = a.clients / a.rate
        p = subprocess.Popen(sftp_argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        p.stdin.write("cd incoming\n")
        start = time.time() + n / a.rate
        for i, f in enumerate(group):
            delay = start + i * interval - time.time()
            if delay > 0:
                time.sleep(delay)
            p.stdin.write(f"put {f}\n")
            p.stdin.flush()
        p.stdin.close()
        if p.wait() != 0:
            errors.append(p.stderr.read()[-500:])

    flood = None
    if a.flood:
        print("== flooding from account 'flood'", file=sys.stderr)
        flood = subprocess.Popen(
            ["python3", os.path.join(REPO, "tests/py/flood_client.py"), "flood", "--port", str(sftp_port),
             "--key", key, "--user", "flood", "--seconds", str(a.timeout), "--connections", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(2)
    print(f"== uploading with {a.clients} sftp clients", file=sys.stderr)
    t0 = time.time()
    threads = [threading.Thread(target=client, args=(i, g)) for i, g in enumerate(groups)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_uploaded = time.time()
    assert not errors, errors

    out = os.path.join(d, "var/home/demo/outgoing")
    while count_files(out, ".result.json") < a.files:
        assert time.time() - t0 < a.timeout, "timeout waiting for results"
        assert daemon.poll() is None, "daemon exited"
        time.sleep(0.2)
    t_results = time.time()
    flood_stats = None
    if flood is not None:
        flood.terminate()
        try:
            flood.wait(timeout=30)
        except subprocess.TimeoutExpired:
            flood.kill()
        flood_stats = "killed at the end of the uploads (counters not printed)"
    cpu1 = proc_cpu_seconds(daemon.pid)
    # Every outcome is announced by e-mail (certificate or notification): wait
    # until the outbox has nothing left to send.
    while outbox_pending(a, d) > 0:
        if time.time() - t_results > 1800:
            break
        time.sleep(0.2)
    t_mail = time.time()
    time.sleep(1.0)
    peak = proc_peak_rss_mib(daemon.pid)
    cpu2 = proc_cpu_seconds(daemon.pid)
    round_trips = segments.total() if segments else None
    sink2, pg2, busy2 = proc_cpu_seconds(sink.pid, children=True), postgres_cpu_seconds(), machine_busy_seconds()
    kids2, self2 = os.times(), time.process_time()
    daemon.terminate()
    daemon.wait(timeout=60)
    sink.terminate()
    sink.wait(timeout=30)

    if a.store_url:
        lat, verdicts, certs, jobs_done, first_up, last_done = latencies_postgres(a.store_url)
    else:
        lat, verdicts, certs, jobs_done, first_up, last_done = latencies_sqlite(os.path.join(d, "var/pasarela.db"))
    ids = set()
    emails = 0
    index = os.path.join(mail, "messages.tsv")
    if os.path.exists(index):
        with open(index) as f:
            for line in f:
                emails += 1
                ids.add(line.split("\t", 1)[0])
    for n in os.listdir(mail):
        if n.endswith(".eml"):
            emails += 1
            with open(os.path.join(mail, n), errors="replace") as f:
                for line in f:
                    if line.lower().startswith("message-id:"):
                        ids.add(line.split(":", 1)[1].strip())
                        break
    def per(seconds):
        return round(seconds * 1000 / a.files, 2)

    span = (last_done - first_up) / 1000 if first_up and last_done else float("nan")
    report = {
        "files": a.files,
        "clients": a.clients,
        "workers": a.workers,
        "offered_rate_per_s": a.rate or "max",
        "flood": flood_stats if a.flood else False,
        "store": "postgres" if a.store_url else f"sqlite (synchronous={a.synchronous})",
        "mail": a.mail,
        "smtp_sink": a.sink if a.mail == "on" else None,
        "upload_wall_s": round(t_uploaded - t0, 1),
        "results_wall_s": round(t_results - t0, 1),
        "invoices_per_s_sustained": round(a.files / span, 1),
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p95": pct(lat, 95),
        "latency_ms_p99": pct(lat, 99),
        "latency_ms_max": max(lat) if lat else None,
        "latency_samples": len(lat),
        "daemon_cpu_cores_avg": round((cpu1 - cpu0) / max(t_results - t0, 1e-9), 2),
        "daemon_cpu_s_incl_mail": round(cpu2 - cpu0, 1),
        "daemon_peak_rss_mib": round(peak, 1),
        # Where the machine's CPU went, in ms per invoice, from upload start to
        # the outbox drained (the sleep(1) before the last sample included).
        "cpu_ms_per_invoice": {
            "daemon": per(cpu2 - cpu0),
            "sftp_clients": per((kids2.children_user + kids2.children_system)
                                - (kids0.children_user + kids0.children_system)),
            "smtp_sink": per(sink2 - sink0),
            "postgres_server": per(pg2 - pg0) if a.store_url else None,
            "bench_script": per(self2 - self0),
            "whole_machine": per(busy2 - busy0),
        },
        "store_round_trips_per_invoice": round(round_trips / a.files, 1) if round_trips is not None else None,
        "mail_done_wall_s": round(t_mail - t0, 1),
        "jobs_done": jobs_done,
        "verdicts": verdicts,
        "certificates": certs,
        "emails": emails,
        "distinct_message_ids": len(ids),
    }
    print(json.dumps(report, indent=2))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
