"""Malformed SFTP packets over a real SSH channel never hurt the server.

A deterministic, mutation-based protocol fuzzer: valid requests of every type
(open, read, write, stat, opendir, rename, extended, ...) are encoded, then
truncated, extended, bit-flipped, given absurd lengths and handles, and sent
raw on the `sftp` subsystem channel. The server may answer with a status or
close the session, but it must not hang, crash or let a file escape the view,
and a fresh session must work afterwards. Run as part of the paramiko suite.
"""
import os
import random
import socket
import struct

import paramiko

from conftest import connect

SSH_FXP = {
    "INIT": 1, "OPEN": 3, "CLOSE": 4, "READ": 5, "WRITE": 6, "LSTAT": 7, "FSTAT": 8,
    "SETSTAT": 9, "FSETSTAT": 10, "OPENDIR": 11, "READDIR": 12, "REMOVE": 13, "MKDIR": 14,
    "RMDIR": 15, "REALPATH": 16, "STAT": 17, "RENAME": 18, "READLINK": 19, "SYMLINK": 20,
    "EXTENDED": 200,
}


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def frame(kind, body):
    payload = bytes([kind]) + body
    return struct.pack(">I", len(payload)) + payload


def valid_requests(rid):
    attrs = struct.pack(">I", 0)
    paths = ["/incoming/f.txt", "/outgoing", "/", "/../..", "/incoming/" + "a" * 300]
    p = random.choice(paths)
    h = s(random.choice([b"0", b"1", b"\xff" * 8, b"", b"9" * 200]))
    reqs = [
        (SSH_FXP["OPEN"], struct.pack(">I", rid) + s(p) + struct.pack(">I", random.choice([1, 2, 0x1A, 0xFFFFFFFF])) + attrs),
        (SSH_FXP["CLOSE"], struct.pack(">I", rid) + h),
        (SSH_FXP["READ"], struct.pack(">I", rid) + h + struct.pack(">QI", random.choice([0, 2**63, 2**64 - 1]), random.choice([0, 32768, 2**32 - 1]))),
        (SSH_FXP["WRITE"], struct.pack(">I", rid) + h + struct.pack(">Q", random.choice([0, 2**62])) + s(os.urandom(random.randint(0, 64)))),
        (SSH_FXP["LSTAT"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["FSTAT"], struct.pack(">I", rid) + h),
        (SSH_FXP["SETSTAT"], struct.pack(">I", rid) + s(p) + struct.pack(">II", 0x4, 0o7777)),
        (SSH_FXP["OPENDIR"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["READDIR"], struct.pack(">I", rid) + h),
        (SSH_FXP["REMOVE"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["MKDIR"], struct.pack(">I", rid) + s(p) + attrs),
        (SSH_FXP["RMDIR"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["REALPATH"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["STAT"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["RENAME"], struct.pack(">I", rid) + s(p) + s("/../../escape")),
        (SSH_FXP["READLINK"], struct.pack(">I", rid) + s(p)),
        (SSH_FXP["SYMLINK"], struct.pack(">I", rid) + s("/etc/passwd") + s(p)),
        (SSH_FXP["EXTENDED"], struct.pack(">I", rid) + s(random.choice(["posix-rename@openssh.com", "statvfs@openssh.com", "hardlink@openssh.com", "fsync@openssh.com", "nope@x"])) + s(p) + s("/../x")),
    ]
    return reqs


def mutate(kind, body):
    r = random.random()
    if r < 0.2:
        body = body[: random.randint(0, len(body))]
    elif r < 0.4:
        body = body + os.urandom(random.randint(1, 64))
    elif r < 0.6 and body:
        b = bytearray(body)
        for _ in range(random.randint(1, 4)):
            b[random.randrange(len(b))] ^= 1 << random.randrange(8)
        body = bytes(b)
    elif r < 0.7:
        kind = random.randint(0, 255)
    elif r < 0.8 and len(body) > 8:
        # An inner string length far beyond the packet.
        i = random.randrange(0, len(body) - 4)
        body = body[:i] + struct.pack(">I", random.choice([0xFFFFFFFF, 0x7FFFFFFF, len(body) + 1])) + body[i + 4:]
    return kind, body


def run_session(server, n, seed):
    random.seed(seed)
    t, _ = connect(server)
    ch = t.open_session()
    ch.settimeout(10)
    ch.invoke_subsystem("sftp")
    ch.sendall(frame(SSH_FXP["INIT"], struct.pack(">I", 3)))
    sent = 0
    try:
        for i in range(n):
            kind, body = random.choice(valid_requests(i))
            kind, body = mutate(kind, body)
            if random.random() < 0.02:
                # A frame whose outer length lies (too long for what follows).
                data = struct.pack(">I", random.choice([0, 2**31, 40 * 1024 * 1024])) + bytes([kind]) + body
            else:
                data = frame(kind, body)
            ch.sendall(data)
            sent += 1
            while ch.recv_ready():
                ch.recv(65536)
            if ch.closed or ch.exit_status_ready():
                break
    except (socket.timeout, OSError, EOFError, paramiko.SSHException):
        pass
    finally:
        try:
            ch.close()
        except Exception:
            pass
        t.close()
    return sent


def test_malformed_packets_never_hurt_the_server(server):
    total = 0

    for seed in range(12):
        total += run_session(server, 400, seed)
    print("fuzz frames sent:", total)
    assert total > 400, total
    # The server still serves a normal session, promptly.
    t, c = connect(server)
    try:
        assert "incoming" in c.listdir("/")
        with c.open("/incoming/after-fuzz.txt", "wb") as f:
            f.write(b"ok")
    finally:
        c.close()
        t.close()
    # Nothing escaped: no file appeared beside the homes.
    root = server["root"]
    names = set(os.listdir(root))
    assert "escape" not in names and not any(n.startswith("x") and len(n) == 1 for n in names), names
