"""Broker security from the asset registry: passwords, ACL, secrets and TLS certificates.

`plantstream broker acl --config PLANT.toml --out DIR` turns the plant registry into a
Mosquitto password file and ACL, so that

* each gateway (MQTT username = gateway id) may publish only its own `batch`, `status`
  and `health` topics and read only its own `cmd` topic (exact topics with its site,
  never a `%u` pattern with a `+` for the site, so it cannot pose as itself elsewhere);
* the ingest user reads every gateway's batches, health and status and writes dead
  letters;
* the monitor user (dashboards, diagnostics) reads everything and writes nothing;
* the control user writes commands to gateways and reads their status;
* nobody is anonymous (the broker configuration says `allow_anonymous false`).

Passwords are read from `SECRETS/mqtt-<user>` when the file exists, otherwise generated
there (mode 0600), and hashed in the format Mosquitto 2 uses (`$7$`, PBKDF2-SHA512, 101
iterations, 12-byte salt), computed here with hashlib: no `mosquitto_passwd` needed on
the machine that builds the configuration, and no password on a command line.

`plantstream broker certs ...` creates a CA, a server certificate and client
certificates (CN = gateway id, so `use_identity_as_username true` makes the ACL apply
to the certificate); EC P-256 keys, private keys written 0600.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plantstream.config import PlantConfig, load_plant
from plantstream.errors import ConfigError
from plantstream.topics import DEFAULT_ROOT, Topics

__all__ = [
    "AclPolicy",
    "BrokerFiles",
    "Rule",
    "acl_rules",
    "create_ca",
    "hash_password",
    "issue_certificate",
    "load_or_create_secret",
    "register",
    "render_emqx_acl",
    "render_emqx_users",
    "render_mosquitto_acl",
    "render_password_file",
    "render_template",
    "verify_password",
    "write_broker_files",
]

log = logging.getLogger(__name__)

Access = Literal["read", "write", "readwrite"]
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_PLACEHOLDER = re.compile(r"\{\{secret:([^}]*)\}\}")
PBKDF2_ITERATIONS: Final = 101  # what mosquitto_passwd 2.0 writes
PBKDF2_SALT_BYTES: Final = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    access: Access
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AclPolicy:
    """Who the non-gateway users are; `None` leaves that role out."""

    topic_root: str = DEFAULT_ROOT
    ingest_user: str = "ingest"
    monitor_user: str | None = "monitor"
    control_user: str | None = "control"

    def service_users(self) -> list[str]:
        return [u for u in (self.ingest_user, self.monitor_user, self.control_user) if u]


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerFiles:
    password_file: Path
    acl_file: Path
    secrets_dir: Path
    users: tuple[str, ...]


# -- ACL ---------------------------------------------------------------------------------

def acl_rules(plant: PlantConfig, policy: AclPolicy, *, source: str = "<plant>"
              ) -> dict[str, list[Rule]]:
    """Every MQTT user and what it may do, gateways first in registry order."""
    topics = Topics(root=policy.topic_root)
    _check_names(plant, policy, source=source)
    rules: dict[str, list[Rule]] = {}
    for gw in plant.gateways:
        own = topics.gateway(site=gw.site, gateway=gw.id)
        rules[gw.id] = [Rule(access="write", topic=own.batch),
                        Rule(access="write", topic=own.status),
                        Rule(access="write", topic=own.health),
                        Rule(access="read", topic=own.cmd)]
    base = topics.base
    rules[policy.ingest_user] = [Rule(access="read", topic=topics.all_batches),
                                 Rule(access="read", topic=topics.all_health),
                                 Rule(access="read", topic=f"{base}/+/+/status"),
                                 Rule(access="write", topic=f"{base}/deadletter/#"),
                                 # worker presence and session takeover (ingest/takeover.py)
                                 Rule(access="readwrite", topic=f"{base}/ingest/#")]
    if policy.monitor_user:
        rules[policy.monitor_user] = [Rule(access="read", topic=f"{base}/#"),
                                      Rule(access="read", topic="$SYS/#")]
    if policy.control_user:
        rules[policy.control_user] = [Rule(access="write", topic=f"{base}/+/+/cmd"),
                                      Rule(access="read", topic=f"{base}/+/+/status")]
    return rules


def _check_names(plant: PlantConfig, policy: AclPolicy, *, source: str) -> None:
    if not _NAME.match(policy.topic_root):
        raise ConfigError(source=source, key="topic_root", reason="not a plain topic level")
    service = policy.service_users()
    for user in service:
        if not _NAME.match(user):
            raise ConfigError(source=source, key="users", reason=f"bad user name {user!r}")
    if len(set(service)) != len(service):
        raise ConfigError(source=source, key="users", reason="service user names repeat")
    for i, gw in enumerate(plant.gateways):
        if gw.id in service:
            raise ConfigError(source=source, key=f"gateways[{i}].id",
                              reason=f"gateway id {gw.id!r} is also a service user name")
        if gw.site in ("deadletter", "ingest"):  # would share the dead-letter / presence tree
            raise ConfigError(source=source, key=f"gateways[{i}].site",
                              reason=f"site id {gw.site!r} is reserved")


def render_mosquitto_acl(rules: Mapping[str, Sequence[Rule]], *, header: str = "") -> str:
    """The Mosquitto `acl_file`: one `user` section per user, nothing for anonymous."""
    lines = ["# Generated by `plantstream broker acl`; edit the plant registry instead.",
             *(f"# {h}" for h in header.splitlines() if h),
             "# No rule outside a user section: anonymous clients get nothing.", ""]
    for user, user_rules in rules.items():
        lines.append(f"user {user}")
        lines += [f"topic {r.access} {r.topic}" for r in user_rules]
        lines.append("")
    return "\n".join(lines)


def render_emqx_acl(rules: Mapping[str, Sequence[Rule]]) -> str:
    """The same rules as an EMQX 5 `acl.conf` (file authorizer), default deny.

    read -> subscribe, write -> publish. Only the Mosquitto form is proven against a
    real broker in the tests; this one is the same rule set in EMQX's syntax.
    """
    actions = {"read": ["subscribe"], "write": ["publish"],
               "readwrite": ["subscribe", "publish"]}
    lines = ["%% Generated by `plantstream broker acl --emqx`; edit the plant registry instead."]
    for user, user_rules in rules.items():
        for action in ("publish", "subscribe"):
            topics = [r.topic for r in user_rules if action in actions[r.access]]
            if not topics:
                continue
            quoted = ", ".join(f'"{t}"' for t in topics)
            lines.append(f'{{allow, {{username, "{user}"}}, {action}, [{quoted}]}}.')
    lines.append("{deny, all}.")
    return "\n".join(lines) + "\n"


def render_emqx_users(credentials: Mapping[str, str]) -> str:
    """EMQX built-in database users (CSV, sha256 with a suffix salt, hex)."""
    rows = ["user_id,password_hash,salt,is_superuser"]
    for user, pw in credentials.items():
        salt = secrets.token_hex(16)
        digest = hashlib.sha256((pw + salt).encode()).hexdigest()
        rows.append(f"{user},{digest},{salt},false")
    return "\n".join(rows) + "\n"


# -- passwords and secrets -------------------------------------------------------------

def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """The Mosquitto 2 `$7$` hash: PBKDF2-HMAC-SHA512, base64 salt and digest."""
    salt = secrets.token_bytes(PBKDF2_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return (f"$7${iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def verify_password(password: str, hashed: str) -> bool:
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    expected = hash_password(password, salt=base64.b64decode(salt), iterations=int(iterations))
    return secrets.compare_digest(expected.rsplit("$", 1)[1], digest)


def render_password_file(credentials: Mapping[str, str]) -> str:
    return "".join(f"{user}:{hash_password(pw)}\n" for user, pw in credentials.items())


def load_or_create_secret(secrets_dir: Path, name: str, *, nbytes: int = 24) -> str:
    """The secret in `secrets_dir/name`, created (random, mode 0600) when missing."""
    if not _NAME.match(name):
        raise ConfigError(source=str(secrets_dir), key=name, reason="bad secret name")
    path = secrets_dir / name
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigError(source=str(path), key=name, reason="secret file is empty")
        return value
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(nbytes)
    _write_private(path, value + "\n")
    log.info("generated secret %s", path)
    return value


def _write_private(path: Path, text: str | bytes, *, mode: int = 0o600) -> None:
    """Write a file created with `mode` (never world-readable, even for a moment)."""
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # an existing file keeps its old mode through os.open
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_broker_files(plant: PlantConfig, policy: AclPolicy, *, out_dir: Path,
                       secrets_dir: Path | None = None, source: str = "<plant>",
                       emqx: bool = False) -> BrokerFiles:
    """`out_dir/passwd` (0640) and `out_dir/acl`; passwords in `secrets_dir/mqtt-<user>`.

    With `emqx`, also `out_dir/emqx/acl.conf` and `out_dir/emqx/users.csv` (0600).
    """
    rules = acl_rules(plant, policy, source=source)
    secrets_dir = secrets_dir or out_dir / "secrets"
    credentials = {user: load_or_create_secret(secrets_dir, f"mqtt-{user}") for user in rules}
    out_dir.mkdir(parents=True, exist_ok=True)
    password_file, acl_file = out_dir / "passwd", out_dir / "acl"
    _write_private(password_file, render_password_file(credentials), mode=0o640)
    header = (f"enterprise {plant.enterprise.id}: {len(plant.gateways)} gateways,"
              f" topic root {policy.topic_root}")
    acl_file.write_text(render_mosquitto_acl(rules, header=header), encoding="utf-8")
    if emqx:
        (out_dir / "emqx").mkdir(exist_ok=True)
        (out_dir / "emqx" / "acl.conf").write_text(render_emqx_acl(rules), encoding="utf-8")
        _write_private(out_dir / "emqx" / "users.csv", render_emqx_users(credentials))
    return BrokerFiles(password_file=password_file, acl_file=acl_file,
                       secrets_dir=secrets_dir, users=tuple(rules))


def render_template(template: str, *, secrets_dir: Path, source: str = "<template>") -> str:
    """Replace each `{{secret:NAME}}` by the content of `secrets_dir/NAME` (must exist)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        path = secrets_dir / name
        if not _NAME.match(name) or not path.is_file():
            raise ConfigError(source=source, key=f"secret:{name}",
                              reason=f"no secret file {path}")
        return path.read_text(encoding="utf-8").strip()

    return _PLACEHOLDER.sub(value, template)


# -- certificates ------------------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PlantStream"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_ca(*, common_name: str = "PlantStream CA", days: int = 3650,
              not_before: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """A self-signed CA: `(certificate PEM, private key PEM)`."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_certificate(*, ca_cert_pem: bytes, ca_key_pem: bytes, common_name: str,
                      purpose: Literal["server", "client"], alt_names: Iterable[str] = (),
                      days: int = 825, not_before: dt.datetime | None = None
                      ) -> tuple[bytes, bytes]:
    """A leaf certificate signed by the CA: `(certificate PEM, private key PEM)`.

    `alt_names` are DNS names or IP addresses (server certificates: the names clients
    dial). A client certificate's CN is its MQTT identity (the gateway id).
    """
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(source="ca.key", key="<file>", reason="not an EC private key")
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    usage = (ExtendedKeyUsageOID.SERVER_AUTH if purpose == "server"
             else ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, key_encipherment=False, key_cert_sign=False,
                   crl_sign=False, content_commitment=False, data_encipherment=False,
                   key_agreement=True, encipher_only=False, decipher_only=False),
                   critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    names = [_general_name(n) for n in alt_names]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_pair(out_dir: Path, stem: str, pair: tuple[bytes, bytes]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path = out_dir / f"{stem}.crt"
    cert_path.write_bytes(pair[0])
    _write_private(out_dir / f"{stem}.key", pair[1])
    return cert_path


def _read_ca(ca_dir: Path) -> tuple[bytes, bytes]:
    try:
        return (ca_dir / "ca.crt").read_bytes(), (ca_dir / "ca.key").read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(source=str(ca_dir), key="<file>",
                          reason=f"{exc.filename} missing; run `plantstream broker certs ca`"
                          ) from None


# -- command line ------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _write_private(args.out, text)
    print(f"wrote {args.out}")
    return 0


def _certs_ca(args: argparse.Namespace) -> int:
    if (args.out / "ca.key").exists():
        print(f"{args.out}/ca.key exists; not replacing a CA", file=sys.stderr)
        return 1
    path = _write_pair(args.out, "ca", create_ca(common_name=args.cn, days=args.days))
    print(f"wrote {path} and its key")
    return 0


def _certs_server(args: argparse.Namespace) -> int:
    ca_cert, ca_key = _read_ca(args.ca)
    pair = issue_certificate(ca_cert_pem=ca_cert, ca_key_pem=ca_key, common_name=args.name,
                             purpose="server", alt_names=[args.name, *args.san],
                             days=args.days)
    print(f"wrote {_write_pair(args.out, 'server', pair)} and its key")
    return 0


def _certs_client(args: argparse.Namespace) -> int:
    ca_cert, ca_key = _read_ca(args.ca)
    if not _NAME.match(args.name):
        raise ConfigError(source="--name", key="name", reason="not a plain identifier")
    pair = issue_certificate(ca_cert_pem=ca_cert, ca_key_pem=ca_key, common_name=args.name,
                             purpose="client", days=args.days)
    print(f"wrote {_write_pair(args.out, args.name, pair)} and its key")
    return 0


def _certs_gateways(args: argparse.Namespace) -> int:
    plant = load_plant(args.config)
    ca_cert, ca_key = _read_ca(args.ca)
    for gw in plant.gateways:
        pair = issue_certificate(ca_cert_pem=ca_cert, ca_key_pem=ca_key, common_name=gw.id,
                                 purpose="client", days=args.days)
        _write_pair(args.out, gw.id, pair)
    print(f"wrote {len(plant.gateways)} gateway certificates to {args.out}")
    return 0
