#!/usr/bin/env python3
"""A cheap SMTP sink for benchmarks: speaks enough of RFC 5321 for an SMTP
client (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), reads each message
body in bulk up to the terminating "<CRLF>.<CRLF>", keeps only its
Message-ID and size, and discards the rest.

The tests use tests/py/smtp_sink.py (aiosmtpd, every message written and
fsync'd). That sink costs ~4 ms of CPU per 45 KB certificate e-mail in
Python line handling, as much as the daemon's whole per-invoice budget, so
the end-to-end benchmark (scripts/bench_e2e.py) uses this one to keep the
load harness off the daemon's cores.

Usage: smtp_discard.py PORT DIR
Prints READY when listening. On SIGTERM it writes DIR/messages.tsv (one line
per accepted message: Message-ID, bytes) and exits.
"""
import asyncio
import os
import re
import signal
import sys

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
END = b"\r\n.\r\n"


class Sink:
    def __init__(self):
        self.accepted = []  # (message-id, bytes)

    async def session(self, reader, writer):
        def reply(line):
            writer.write(line.encode() + b"\r\n")

        reply("220 bench-sink ESMTP")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-bench-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 104857600\r\n")
                elif verb == b"HELO":
                    reply("250 bench-sink")
                elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    reply("250 OK")
                elif verb == b"DATA":
                    reply("354 end with <CRLF>.<CRLF>")
                    await writer.drain()
                    body = await reader.readuntil(END)
                    head = body[:16384].split(b"\r\n\r\n", 1)[0]
                    m = MESSAGE_ID.search(head)
                    self.accepted.append((m.group(1).decode(errors="replace") if m else "", len(body)))
                    reply("250 OK")
                elif verb == b"QUIT":
                    reply("221 bye")
                    await writer.drain()
                    break
                else:
                    reply("502 not implemented")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    sink = Sink()
    server = await asyncio.start_server(sink.session, "127.0.0.1", port, limit=64 * 1024 * 1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("READY", flush=True)
    async with server:
        await stop.wait()
    with open(os.path.join(directory, "messages.tsv"), "w") as f:
        for mid, size in sink.accepted:
            f.write(f"{mid}\t{size}\n")


if __name__ == "__main__":
    asyncio.run(main())
