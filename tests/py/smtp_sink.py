#!/usr/bin/env python3
"""A real SMTP server for Pasarela's delivery tests (aiosmtpd).

Usage: smtp_sink.py PORT DIR [--starttls CERT KEY | --tls CERT KEY] [--auth USER:PASSWORD]
Listens on 127.0.0.1:PORT, writes each accepted message to DIR/<n>.eml
(atomically: temp name then rename), prints READY when listening, and runs
until killed.
  --starttls  offers STARTTLS and refuses mail before it (RFC 3207)
  --tls       implicit TLS from the first byte (SMTPS, RFC 8314)
  --auth      requires AUTH PLAIN/LOGIN with these credentials (only over TLS)
Each accepted message also records, in DIR/<n>.eml.session, whether the
session was encrypted and who authenticated.
"""
import argparse
import json
import os
import ssl
import time
import uuid
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
        transport = server.transport
        login = session.auth_data.login if session.authenticated else None
        meta = {
            "tls": transport is not None and transport.get_extra_info("ssl_object") is not None,
            "login": login.decode() if isinstance(login, bytes) else login,
        }
        with open(os.path.join(self.directory, name + ".session"), "w") as f:
            json.dump(meta, f)
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.directory, name))
        return "250 OK"


def main():
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("directory")
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth")
    a = ap.parse_args()
    os.makedirs(a.directory, exist_ok=True)

    kwargs = {}
    pair = a.starttls or a.tls
    if pair:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pair[0], pair[1])
        if a.starttls:
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        # Implicit TLS counts as TLS; aiosmtpd only knows STARTTLS for that check.
        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=bool(a.starttls),
        )
    controller = Controller(Sink(a.directory), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
