"""An account can never reach outside its view, through any SFTP operation.

Every operation paramiko offers is tried against paths that point outside the
account's home: `..` climbs, absolute host paths, a sibling account's home, the
daemon's config and store, and symlinks planted inside the home (by someone with
shell access) that point out. Each must fail, and afterwards nothing outside the
home has changed. `normalize` must never reveal a host path.
"""
import hashlib
import os
import pathlib

import paramiko
import pytest

from conftest import connect


def snapshot(root, skip):
    """Path -> sha256 (or 'dir') of everything under root except `skip` dirs."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        p = pathlib.Path(dirpath)
        dirnames[:] = [d for d in dirnames if (p / d) not in skip]
        for d in dirnames:
            out[str(p / d)] = "dir"
        for f in filenames:
            if f.endswith(".log"):
                continue  # the daemon's own log (standalone mode)
            fp = p / f
            try:
                out[str(fp)] = hashlib.sha256(fp.read_bytes()).hexdigest()
            except OSError:
                out[str(fp)] = "unreadable"
    return out


@pytest.fixture
def outside(server):
    root = pathlib.Path(server["root"])
    home = root / "home" / "demo"
    sibling = root / "home" / "demo2"
    for d in ("incoming", "outgoing", "archive"):
        (sibling / d).mkdir(parents=True, exist_ok=True)
    secret = sibling / "outgoing" / "secreto.txt"
    secret.write_text("datos de otra entidad\n")
    sentinel = root / "sentinel.txt"
    sentinel.write_text("fuera de la vista\n")
    # Symlinks planted inside the view by someone with shell access.
    links = {
        "dirlink": home / "outgoing" / "evil-dir",
        "filelink": home / "outgoing" / "evil-file",
    }
    for l in links.values():
        if l.is_symlink() or l.exists():
            l.unlink()
    os.symlink(sibling, links["dirlink"])
    os.symlink(sentinel, links["filelink"])
    skip = {root / "var", home}
    before = snapshot(root, skip)
    yield {"root": root, "home": home, "sibling": sibling, "before": before, "skip": skip}
    for l in links.values():
        if l.is_symlink():
            l.unlink()
    after = snapshot(root, skip)
    assert after == before, "something outside the view changed"


def escape_paths(root):
    return [
        "/../demo2/outgoing/secreto.txt",
        "../demo2/outgoing/secreto.txt",
        "/incoming/../../demo2/outgoing/secreto.txt",
        "/outgoing/../../../sentinel.txt",
        str(root / "sentinel.txt"),
        str(root / "home" / "demo2" / "outgoing" / "secreto.txt"),
        "/outgoing/evil-dir/outgoing/secreto.txt",
        "/outgoing/evil-file",
        "//..//..//sentinel.txt",
    ]


OPERATIONS = {
    "read": lambda c, p: c.open(p, "rb").read(),
    "write": lambda c, p: c.open(p, "wb").write(b"x"),
    "append": lambda c, p: c.open(p, "ab").write(b"x"),
    "stat": lambda c, p: c.stat(p),
    "lstat_then_read": lambda c, p: (c.lstat(p), c.open(p, "rb").read()),
    "listdir": lambda c, p: c.listdir(p),
    "remove": lambda c, p: c.remove(p),
    "rename_out": lambda c, p: c.rename("/incoming/mine.txt", p),
    "rename_in": lambda c, p: c.rename(p, "/incoming/stolen.txt"),
    "posix_rename_in": lambda c, p: c.posix_rename(p, "/incoming/stolen2.txt"),
    "mkdir": lambda c, p: c.mkdir(p + "-newdir"),
    "rmdir": lambda c, p: c.rmdir(p),
    "chmod": lambda c, p: c.chmod(p, 0o777),
    "utime": lambda c, p: c.utime(p, (0, 0)),
    "truncate": lambda c, p: c.truncate(p, 0),
    "readlink": lambda c, p: c.readlink(p),
    "symlink_to_outside": lambda c, p: c.symlink(p, "/incoming/link-out"),
    "symlink_at_outside": lambda c, p: c.symlink("/incoming/mine.txt", p + "-link"),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_every_operation_stays_inside_the_view(server, outside, op):
    t, c = connect(server)
    try:
        with c.open("/incoming/mine.txt", "wb") as f:
            f.write(b"mine")
        for p in escape_paths(outside["root"]):
            try:
                result = OPERATIONS[op](c, p)
            except (IOError, OSError, paramiko.SFTPError):
                continue
            # The planted links are entries of the view: deleting or moving the
            # link itself is allowed; what it points to must stay untouched
            # (checked when the fixture ends).
            if op in ("remove", "rename_in", "posix_rename_in") and "/evil-" in p:
                continue
            # readlink of the planted link may answer, but never with a host path.
            if op == "readlink" and (result is None or not str(result).startswith(str(outside["root"]))):
                continue
            if op == "stat" and p == "/outgoing/evil-file":
                pytest.fail(f"stat followed a symlink out of the view: {p}")
            pytest.fail(f"{op} on {p!r} succeeded: {result!r}")
    finally:
        c.close()
        t.close()


def test_normalize_never_reveals_host_paths(server, outside):
    t, c = connect(server)
    try:
        for p in escape_paths(outside["root"]) + [".", "..", "/..", "/incoming/.."]:
            try:
                n = c.normalize(p)
            except IOError:
                continue
            assert n.startswith("/"), (p, n)
            if str(outside["root"]) not in p:
                # Nothing the client did not send: no host path of the home.
                assert str(outside["root"]) not in n, (p, n)
    finally:
        c.close()
        t.close()
