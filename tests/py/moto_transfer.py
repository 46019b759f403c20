"""moto's server mode for the `pasarela aws sync` tests (tests/aws_sync.rs).

Usage: python3 tests/py/moto_transfer.py [--stock] -H 127.0.0.1 -p PORT

moto 5.2 implements Transfer Family servers, users (create, describe,
delete) and user SSH keys (import, delete), but not ListUsers, UpdateUser,
ImportHostKey or ListHostKeys, and its DescribeUser gives a key's
DateImported as a string where the AWS JSON protocol (and the Rust SDK)
expects epoch seconds as a number. Unless --stock is given, this launcher
adds those four operations to moto's Transfer backend, in memory, written
from the AWS API reference, and makes DateImported a number; then it runs
moto's own server. What this checks of those operations is our reading of
the API, not AWS itself: docs/AWS.md says which parts are which.
"""

import base64
import hashlib
import json
import sys
import time

from moto.server import main as moto_main
from moto.transfer.exceptions import ServerNotFound, UserNotFound
from moto.transfer.responses import TransferResponse


def _server(response, server_id):
    servers = response.transfer_backend.servers
    if server_id not in servers:
        raise ServerNotFound(server_id=server_id)
    return servers[server_id]


def _user(server, server_id, user_name):
    for user in server._users:
        if user.user_name == user_name:
            return user
    raise UserNotFound(user_name=user_name, server_id=server_id)


def list_users(self):
    params = json.loads(self.body)
    server_id = params.get("ServerId")
    server = _server(self, server_id)
    limit = int(params.get("MaxResults") or 1000)
    start = int(params.get("NextToken") or 0)
    users = sorted(server._users, key=lambda u: u.user_name)
    page = users[start : start + limit]
    out = {
        "ServerId": server_id,
        "Users": [
            {
                "Arn": u.arn,
                "HomeDirectory": u.home_directory,
                "HomeDirectoryType": u.home_directory_type,
                "Role": u.role,
                "SshPublicKeyCount": len(u.ssh_public_keys),
                "UserName": u.user_name,
            }
            for u in page
        ],
    }
    if start + limit < len(users):
        out["NextToken"] = str(start + limit)
    return json.dumps(out)


def update_user(self):
    params = json.loads(self.body)
    server_id = params.get("ServerId")
    user = _user(_server(self, server_id), server_id, params.get("UserName"))
    if "Role" in params:
        user.role = params["Role"]
    if "HomeDirectoryType" in params:
        user.home_directory_type = params["HomeDirectoryType"]
    if "HomeDirectory" in params:
        user.home_directory = params["HomeDirectory"]
    if "Policy" in params:
        user.policy = params["Policy"]
    if "HomeDirectoryMappings" in params:
        user.home_directory_mappings = [
            {"entry": m.get("Entry"), "target": m.get("Target"), "type": m.get("Type")}
            for m in params["HomeDirectoryMappings"]
        ]
    return json.dumps({"ServerId": server_id, "UserName": user.user_name})


_stock_describe_user = TransferResponse.describe_user


def describe_user(self):
    out = json.loads(_stock_describe_user(self))
    for key in out.get("User", {}).get("SshPublicKeys", []):
        if isinstance(key.get("DateImported"), str):
            key["DateImported"] = float(key["DateImported"])
    return json.dumps(out)


def _host_key_facts(private_openssh):
    """(type, SHA256 fingerprint) of an OpenSSH private key, as ssh-keygen -l."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private_openssh.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    kind, blob = public.split()[:2]
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return kind.decode(), "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def import_host_key(self):
    params = json.loads(self.body)
    server_id = params.get("ServerId")
    server = _server(self, server_id)
    kind, fingerprint = _host_key_facts(params["HostKeyBody"])
    keys = server.__dict__.setdefault("_pasarela_host_keys", [])
    host_key_id = "hostkey-%017x" % (len(keys) + 1)
    keys.append(
        {
            "Arn": f"{server.arn}/host-key/{host_key_id}",
            "DateImported": time.time(),
            "Description": params.get("Description", ""),
            "Fingerprint": fingerprint,
            "HostKeyId": host_key_id,
            "Type": kind,
        }
    )
    return json.dumps({"ServerId": server_id, "HostKeyId": host_key_id})


def list_host_keys(self):
    params = json.loads(self.body)
    server_id = params.get("ServerId")
    server = _server(self, server_id)
    keys = server.__dict__.get("_pasarela_host_keys", [])
    return json.dumps({"ServerId": server_id, "HostKeys": keys})


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--stock" in argv:
        argv.remove("--stock")
    else:
        TransferResponse.list_users = list_users
        TransferResponse.update_user = update_user
        TransferResponse.describe_user = describe_user
        TransferResponse.import_host_key = import_host_key
        TransferResponse.list_host_keys = list_host_keys
    moto_main(argv)
