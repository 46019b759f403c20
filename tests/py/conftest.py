"""Fixtures for the paramiko tests of Pasarela's SFTP server.

`cargo test --features test-support --test it sftp_paramiko::` starts a server and runs these tests with
PASARELA_SFTP_PORT, PASARELA_SFTP_KEY, PASARELA_SFTP_ROOT and
PASARELA_SFTP_BIG_SHA256 set. Without them, `python3 -m pytest tests/py` starts
`target/debug/pasarela run` itself on a temporary configuration (the daemon
must be built first: `cargo build`).
"""
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import paramiko
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIG_SIZE = 24 * 1024 * 1024


def _start_daemon():
    binary = REPO / "target" / "debug" / "pasarela"
    if not binary.exists():
        pytest.skip("build the daemon first (cargo build) or run cargo test --features test-support --test it sftp_paramiko::")
    root = pathlib.Path(tempfile.mkdtemp(prefix="pasarela-py-"))
    key = root / "demo_ed25519"
    shutil.copy(REPO / "fixtures/keys/demo_ed25519", key)
    key.chmod(0o600)
    (root / "config").mkdir()
    (root / "config/pasarela.toml").write_text(f"""
[daemon]
state_dir = "{root}/var"
[sftp]
listen = "127.0.0.1:0"
[accounts.demo]
home = "{root}/home/demo"
[accounts.demo.sftp]
authorized_keys = ["{REPO}/fixtures/keys/demo_ed25519.pub"]
[[routes]]
name = "all"
steps = ["classify"]
""")
    for d in ("incoming", "outgoing", "archive"):
        (root / "home/demo" / d).mkdir(parents=True, exist_ok=True)
    data = os.urandom(BIG_SIZE)
    (root / "home/demo/outgoing/big.bin").write_bytes(data)
    log = open(root / "daemon.log", "w+")
    proc = subprocess.Popen([str(binary), "run", "--config", str(root / "config/pasarela.toml")],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=log)
    port = None
    for _ in range(200):
        time.sleep(0.1)
        m = re.search(r"sftp server listening.*?127\.0\.0\.1:(\d+)", (root / "daemon.log").read_text())
        if m:
            port = int(m.group(1))
            break
        if proc.poll() is not None:
            break
    if port is None:
        proc.kill()
        pytest.skip("the daemon did not start an SFTP listener (is [sftp] wired into `pasarela run`?)")
    return proc, root, port, key, hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def server():
    if "PASARELA_SFTP_PORT" in os.environ:
        yield {
            "port": int(os.environ["PASARELA_SFTP_PORT"]),
            "key": os.environ["PASARELA_SFTP_KEY"],
            "root": pathlib.Path(os.environ["PASARELA_SFTP_ROOT"]),
            "big_sha256": os.environ["PASARELA_SFTP_BIG_SHA256"],
        }
        return
    proc, root, port, key, sha = _start_daemon()
    try:
        # The daemon takes uploads out of incoming/ as soon as they land.
        yield {"port": port, "key": str(key), "root": root, "big_sha256": sha, "daemon": True}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def connect(server, user="demo"):
    t = paramiko.Transport(("127.0.0.1", server["port"]))
    t.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(server["key"]))
    return t, paramiko.SFTPClient.from_transport(t)


@pytest.fixture
def sftp(server):
    t, c = connect(server)
    try:
        yield c
    finally:
        c.close()
        t.close()
