"""boto3 helper for tests/aws_sync.rs: an independent client of the moto server.

Usage: python3 tests/py/transfer_admin.py ENDPOINT COMMAND [ARGS]
  create-server              print the new SERVICE_MANAGED SFTP server's id
  create-user SERVER NAME    add a user Pasarela knows nothing of
  drift SERVER NAME          change a user's role and home behind Pasarela's back
  count SERVER               print moto's own user count of the server
  dump SERVER                print the server's users, keys and host keys as JSON
Credentials and region come from the environment (fake ones in the tests).
"""

import json
import sys

import boto3


def main():
    endpoint, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    c = boto3.client("transfer", endpoint_url=endpoint)
    if command == "create-server":
        out = c.create_server(IdentityProviderType="SERVICE_MANAGED", Protocols=["SFTP"])
        print(out["ServerId"])
    elif command == "create-user":
        server, name = args
        c.create_user(
            ServerId=server,
            UserName=name,
            Role="arn:aws:iam::123456789012:role/someone-else",
            HomeDirectoryType="PATH",
            HomeDirectory="/elsewhere/" + name,
        )
    elif command == "drift":
        server, name = args
        c.update_user(
            ServerId=server,
            UserName=name,
            Role="arn:aws:iam::123456789012:role/old",
            HomeDirectoryType="LOGICAL",
            HomeDirectoryMappings=[{"Entry": "/", "Target": "/old-bucket/" + name}],
        )
    elif command == "count":
        (server,) = args
        print(c.describe_server(ServerId=server)["Server"]["UserCount"])
    elif command == "dump":
        (server,) = args
        users = {}
        for listed in c.list_users(ServerId=server)["Users"]:
            u = c.describe_user(ServerId=server, UserName=listed["UserName"])["User"]
            users[u["UserName"]] = {
                "role": u.get("Role"),
                "home_type": u.get("HomeDirectoryType"),
                "mappings": [[m["Entry"], m["Target"]] for m in u.get("HomeDirectoryMappings", [])],
                "keys": sorted(k["SshPublicKeyBody"] for k in u.get("SshPublicKeys", [])),
            }
        described = c.describe_server(ServerId=server)["Server"]
        host_keys = c.list_host_keys(ServerId=server)["HostKeys"]
        print(
            json.dumps(
                {
                    # moto's own count, to cross-check the launcher's ListUsers.
                    "user_count": described.get("UserCount"),
                    "users": users,
                    "host_keys": sorted(k["Fingerprint"] for k in host_keys),
                }
            )
        )
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
