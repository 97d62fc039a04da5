"""The `plantstream broker` and `plantstream wire-schema` commands (operations tooling)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from plantstream.config import load_plant
from plantstream.errors import ConfigError
from plantstream.ops.broker import (
    PLAIN_NAME,
    AclPolicy,
    load_or_create_secret,
    render_template,
    write_broker_files,
    write_private,
)
from plantstream.ops.certs import create_ca, issue_certificate, read_ca, write_pair
from plantstream.topics import DEFAULT_ROOT
from plantstream.wire import json_schema

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_broker(sub)
    wire = sub.add_parser("wire-schema", help="print the JSON Schema of wire format v1")
    wire.set_defaults(handler=_wire_schema)


def _register_broker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("broker", help="broker security: passwords, ACL, secrets, TLS")
    commands = parser.add_subparsers(dest="broker_command", metavar="COMMAND", required=True)

    acl = commands.add_parser("acl", help="password file + ACL from the plant registry")
    acl.add_argument("--config", required=True, type=Path, help="plant configuration (TOML)")
    acl.add_argument("--out", required=True, type=Path, help="writes OUT/passwd, OUT/acl")
    acl.add_argument("--secrets", type=Path, default=None,
                     help="password files mqtt-<user>, read or created (default OUT/secrets)")
    acl.add_argument("--topic-root", default=DEFAULT_ROOT)
    acl.add_argument("--ingest-user", default="ingest")
    acl.add_argument("--monitor-user", default="monitor", help="read-only user ('' for none)")
    acl.add_argument("--control-user", default="control",
                     help="user that writes gateway commands ('' for none)")
    acl.add_argument("--emqx", action="store_true",
                     help="also OUT/emqx/acl.conf and users.csv for an EMQX cluster")
    acl.set_defaults(handler=_acl)

    sec = commands.add_parser("secrets", help="create random secrets (kept when present)")
    sec.add_argument("--out", required=True, type=Path, help="secrets directory")
    sec.add_argument("names", nargs="+", help="secret names, e.g. influxdb-token")
    sec.set_defaults(handler=_secrets)

    render = commands.add_parser("render",
                                 help="fill {{secret:NAME}} placeholders of a config file")
    render.add_argument("template", type=Path)
    render.add_argument("--secrets", required=True, type=Path, help="secrets directory")
    render.add_argument("--out", required=True, type=Path, help="result, written 0600")
    render.set_defaults(handler=_render)

    certs = commands.add_parser("certs", help="TLS: a CA, server and client certificates")
    kinds = certs.add_subparsers(dest="certs_command", metavar="KIND", required=True)
    ca = kinds.add_parser("ca", help="create OUT/ca.crt and OUT/ca.key")
    ca.add_argument("--out", required=True, type=Path)
    ca.add_argument("--cn", default="PlantStream CA")
    ca.add_argument("--days", type=int, default=3650)
    ca.set_defaults(handler=_certs_ca)
    server = kinds.add_parser("server", help="broker certificate OUT/server.{crt,key}")
    server.add_argument("--ca", required=True, type=Path, help="directory with ca.crt, ca.key")
    server.add_argument("--out", required=True, type=Path)
    server.add_argument("--name", required=True, help="host name clients dial (CN + SAN)")
    server.add_argument("--san", action="append", default=[], help="more DNS names / IPs")
    server.add_argument("--days", type=int, default=825)
    server.set_defaults(handler=_certs_server)
    client = kinds.add_parser("client", help="client certificate OUT/NAME.{crt,key}")
    client.add_argument("--ca", required=True, type=Path)
    client.add_argument("--out", required=True, type=Path)
    client.add_argument("--name", required=True, help="MQTT identity (CN), e.g. gateway id")
    client.add_argument("--days", type=int, default=825)
    client.set_defaults(handler=_certs_client)
    gateways = kinds.add_parser("gateways", help="a client certificate for every gateway")
    gateways.add_argument("--config", required=True, type=Path, help="plant configuration")
    gateways.add_argument("--ca", required=True, type=Path)
    gateways.add_argument("--out", required=True, type=Path)
    gateways.add_argument("--days", type=int, default=825)
    gateways.set_defaults(handler=_certs_gateways)


def _acl(args: argparse.Namespace) -> int:
    plant = load_plant(args.config)
    policy = AclPolicy(topic_root=args.topic_root, ingest_user=args.ingest_user,
                       monitor_user=args.monitor_user or None,
                       control_user=args.control_user or None)
    files = write_broker_files(plant, policy, out_dir=args.out, secrets_dir=args.secrets,
                               source=str(args.config), emqx=args.emqx)
    print(f"wrote {files.password_file} and {files.acl_file}: {len(files.users)} users"
          f" ({len(plant.gateways)} gateways); passwords in {files.secrets_dir}/mqtt-<user>")
    return 0


def _secrets(args: argparse.Namespace) -> int:
    for name in args.names:
        load_or_create_secret(args.out, name)
    print(f"{len(args.names)} secret(s) present in {args.out}")
    return 0


def _render(args: argparse.Namespace) -> int:
    try:
        template = args.template.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source=str(args.template), key="<file>",
                          reason="file not found") from None
    text = render_template(template, secrets_dir=args.secrets, source=str(args.template))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_private(args.out, text)
    print(f"wrote {args.out}")
    return 0


def _certs_ca(args: argparse.Namespace) -> int:
    if (args.out / "ca.key").exists():
        print(f"{args.out}/ca.key exists; not replacing a CA", file=sys.stderr)
        return 1
    path = write_pair(args.out, "ca", create_ca(common_name=args.cn, days=args.days))
    print(f"wrote {path} and its key")
    return 0


def _certs_server(args: argparse.Namespace) -> int:
    ca_cert, ca_key = read_ca(args.ca)
    pair = issue_certificate(ca_cert_pem=ca_cert, ca_key_pem=ca_key, common_name=args.name,
                             purpose="server", alt_names=[args.name, *args.san],
                             days=args.days)
    print(f"wrote {write_pair(args.out, 'server', pair)} and its key")
    return 0


def _certs_client(args: argparse.Namespace) -> int:
    ca_cert, ca_key = read_ca(args.ca)
    if not PLAIN_NAME.match(args.name):
        raise ConfigError(source="--name", key="name", reason="not a plain identifier")
    pair = issue_certificate(ca_cert_pem=ca_cert, ca_key_pem=ca_key, common_name=args.name,
                             purpose="client", days=args.days)
    print(f"wrote {write_pair(args.out, args.name, pair)} and its key")
    return 0


def _certs_gateways(args: argparse.Namespace) -> int:
    plant = load_plant(args.config)
    ca_cert, ca_key = read_ca(args.ca)
    for gw in plant.gateways:
        pair = issue_certificate(ca_cert_pem=ca_cert, ca_key_pem=ca_key, common_name=gw.id,
                                 purpose="client", days=args.days)
        write_pair(args.out, gw.id, pair)
    print(f"wrote {len(plant.gateways)} gateway certificates to {args.out}")
    return 0


def _wire_schema(_: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0
