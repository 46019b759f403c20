"""Write the seeds of the `sftp_packets` fuzz target (fuzz/seeds/sftp_packets/).

Each seed is a session: SFTP request frames without their length prefix,
each preceded by a big-endian u16 length (the target's framing). Handles are
"1", "2", ... in the order the session opens them.
    python3 fuzz/seeds/make_sftp_seeds.py
"""

import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sftp_packets")


def s(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">I", len(b)) + b


def pkt(kind, rid, body=b""):
    return bytes([kind]) + (struct.pack(">I", rid) if kind != 1 else b"") + body


INIT = bytes([1]) + struct.pack(">I", 3)
READ, WRITE, CREAT, TRUNC = 1, 2, 8, 16


def open_(rid, path, flags):
    return pkt(3, rid, s(path) + struct.pack(">I", flags) + struct.pack(">I", 0))


def session(*frames):
    return b"".join(struct.pack(">H", len(f)) + f for f in frames)


SEEDS = {
    "upload": session(
        INIT,
        open_(1, "/incoming/a.xml", WRITE | CREAT | TRUNC),
        pkt(6, 2, s("1") + struct.pack(">Q", 0) + s(b"<Invoice/>")),
        pkt(4, 3, s("1")),
    ),
    "download": session(
        INIT,
        open_(1, "/outgoing/result.json", READ),
        pkt(5, 2, s("1") + struct.pack(">Q", 0) + struct.pack(">I", 4096)),
        pkt(8, 3, s("1")),
        pkt(4, 4, s("1")),
    ),
    "listing": session(
        INIT,
        pkt(11, 1, s("/")),
        pkt(12, 2, s("1")),
        pkt(12, 3, s("1")),
        pkt(4, 4, s("1")),
        pkt(16, 5, s("../../..")),
        pkt(17, 6, s("/outgoing/result.json")),
        pkt(7, 7, s("/incoming")),
    ),
    "escape": session(
        INIT,
        pkt(20, 1, s("/incoming/l") + s("../../outside/secret.txt")),
        open_(2, "/incoming/l", WRITE | TRUNC),
        pkt(19, 3, s("/incoming/l")),
        pkt(18, 4, s("/outgoing/result.json") + s("/../outside/moved")),
        pkt(13, 5, s("/../outside/secret.txt")),
        pkt(14, 6, s("/incoming/../../x") + struct.pack(">I", 0)),
        pkt(15, 7, s("/incoming/../../outside")),
    ),
    "extensions": session(
        INIT,
        pkt(200, 1, s("posix-rename@openssh.com") + s("/outgoing/result.json") + s("/outgoing/r2.json")),
        pkt(200, 2, s("statvfs@openssh.com") + s("/")),
        pkt(200, 3, s("limits@openssh.com")),
        pkt(200, 4, s("hardlink@openssh.com") + s("/outgoing/r2.json") + s("/incoming/h")),
        pkt(200, 5, s("fsync@openssh.com") + s("9")),
        pkt(9, 6, s("/incoming") + struct.pack(">I", 4) + struct.pack(">I", 0o777)),
    ),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(SEEDS)} seeds in {OUT}")
