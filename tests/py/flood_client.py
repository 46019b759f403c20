"""A hostile SFTP client for Pasarela's resource limits (not a pytest file).

    python3 tests/py/flood_client.py MODE --port P --key K --user U [--seconds S]

Modes (each bounded in count and time, loopback only):
- `stall`: one session sends STAT requests and never reads a reply (so it
  never opens the server's window). Prints whether the server closed the
  session, and after how many requests.
- `flood`: for S seconds, as fast as it can: connections that each open SFTP
  sessions until refused, open directory and file handles in each until
  refused, and keep pipelines of unread requests. Prints counters.

Output: one JSON object on stdout.
"""
import argparse
import json
import socket
import struct
import threading
import time

import paramiko

SSH_FXP_INIT = 1
SSH_FXP_OPENDIR = 11
SSH_FXP_STAT = 17
SSH_FXP_OPEN = 3
SSH_FXP_HANDLE = 102
SSH_FXP_STATUS = 101
SSH_FXF_READ = 1


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def pkt(kind, body):
    return struct.pack(">IB", len(body) + 1, kind) + body


def transport(args):
    t = paramiko.Transport(("127.0.0.1", args.port))
    t.banner_timeout = 20
    t.connect(username=args.user, pkey=paramiko.Ed25519Key.from_private_key_file(args.key))
    return t


def subsystem(t):
    """An SFTP channel with INIT answered, or None when refused."""
    try:
        ch = t.open_session(timeout=10)
        ch.settimeout(10)
        ch.invoke_subsystem("sftp")
        ch.sendall(pkt(SSH_FXP_INIT, struct.pack(">I", 3)))
        head = recv_exact(ch, 5)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head[:4])
        if recv_exact(ch, n - 1) is None:
            return None
        return ch
    except Exception:
        return None


def recv_exact(ch, n):
    buf = b""
    while len(buf) < n:
        try:
            got = ch.recv(n - len(buf))
        except Exception:
            return None
        if not got:
            return None
        buf += got
    return buf


def reply(ch):
    head = recv_exact(ch, 4)
    if head is None:
        return None, None
    (n,) = struct.unpack(">I", head)
    body = recv_exact(ch, n)
    if body is None:
        return None, None
    return body[0], body[1:]


def stall(args):
    t = transport(args)
    ch = subsystem(t)
    if ch is None:
        print(json.dumps({"closed": True, "sent": 0, "error": "no session"}))
        return
    body = lambda i: struct.pack(">I", i) + sstr("/")
    sent = 0
    closed = False
    deadline = time.time() + args.seconds
    ch.settimeout(5)
    while sent < args.requests and time.time() < deadline:
        batch = b"".join(pkt(SSH_FXP_STAT, body(sent + k)) for k in range(500))
        try:
            ch.sendall(batch)
        except Exception:
            closed = True
            break
        sent += 500
        if ch.closed or ch.eof_received:
            closed = True
            break
    # Give the server a moment to act on what it has.
    end = time.time() + 10
    while not closed and time.time() < end:
        if ch.closed or ch.eof_received or not t.is_active():
            closed = True
            break
        time.sleep(0.05)
    print(json.dumps({"closed": closed, "sent": sent}))
    t.close()


def flood(args):
    stats = {
        "connections": 0,
        "sessions": 0,
        "sessions_refused": 0,
        "handles": 0,
        "handles_refused": 0,
        "requests_unread": 0,
        "errors": 0,
    }
    lock = threading.Lock()
    deadline = time.time() + args.seconds
    transports = []

    def bump(k, n=1):
        with lock:
            stats[k] += n

    def worker():
        while time.time() < deadline:
            try:
                t = transport(args)
            except Exception:
                bump("errors")
                time.sleep(0.2)
                continue
            with lock:
                transports.append(t)
            bump("connections")
            chans = []
            # Sessions until the server refuses one.
            for _ in range(args.sessions):
                if time.time() > deadline:
                    break
                ch = subsystem(t)
                if ch is None:
                    bump("sessions_refused")
                    break
                bump("sessions")
                chans.append(ch)
            for ch in chans:
                rid = 1000
                # Handles until refused (Too many open handles).
                for _ in range(args.handles):
                    if time.time() > deadline:
                        break
                    rid += 1
                    try:
                        ch.sendall(pkt(SSH_FXP_OPENDIR, struct.pack(">I", rid) + sstr("/")))
                        kind, _ = reply(ch)
                    except Exception:
                        kind = None
                    if kind == SSH_FXP_HANDLE:
                        bump("handles")
                    else:
                        bump("handles_refused")
                        break
                # A pipeline of requests never read.
                try:
                    ch.sendall(b"".join(pkt(SSH_FXP_STAT, struct.pack(">I", rid + k) + sstr("/")) for k in range(2000)))
                    bump("requests_unread", 2000)
                except Exception:
                    bump("errors")
            # Hold everything until the end, then go again.
            while time.time() < deadline and t.is_active():
                time.sleep(0.2)
            try:
                t.close()
            except Exception:
                pass

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=args.seconds + 60)
    for t in transports:
        try:
            t.close()
        except Exception:
            pass
    print(json.dumps(stats))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["stall", "flood"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--requests", type=int, default=400000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=40)
    ap.add_argument("--handles", type=int, default=400)
    args = ap.parse_args()
    {"stall": stall, "flood": flood}[args.mode](args)


if __name__ == "__main__":
    main()
