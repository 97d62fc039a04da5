"""Broker security from the asset registry: passwords, ACL and secrets
(TLS certificates: `plantstream.ops.certs`).

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

import base64
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from plantstream.config import PlantConfig
from plantstream.errors import ConfigError
from plantstream.topics import DEFAULT_ROOT, Topics

__all__ = [
    "PLAIN_NAME",
    "AclPolicy",
    "BrokerFiles",
    "Rule",
    "acl_rules",
    "hash_password",
    "load_or_create_secret",
    "render_emqx_acl",
    "render_emqx_users",
    "render_mosquitto_acl",
    "render_password_file",
    "render_template",
    "verify_password",
    "write_broker_files",
    "write_private",
]

log = logging.getLogger(__name__)

Access = Literal["read", "write", "readwrite"]
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
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
    if not PLAIN_NAME.match(policy.topic_root):
        raise ConfigError(source=source, key="topic_root", reason="not a plain topic level")
    service = policy.service_users()
    for user in service:
        if not PLAIN_NAME.match(user):
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
    if not PLAIN_NAME.match(name):
        raise ConfigError(source=str(secrets_dir), key=name, reason="bad secret name")
    path = secrets_dir / name
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigError(source=str(path), key=name, reason="secret file is empty")
        return value
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(nbytes)
    write_private(path, value + "\n")
    log.info("generated secret %s", path)
    return value


def write_private(path: Path, text: str | bytes, *, mode: int = 0o600) -> None:
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
    write_private(password_file, render_password_file(credentials), mode=0o640)
    header = (f"enterprise {plant.enterprise.id}: {len(plant.gateways)} gateways,"
              f" topic root {policy.topic_root}")
    acl_file.write_text(render_mosquitto_acl(rules, header=header), encoding="utf-8")
    if emqx:
        (out_dir / "emqx").mkdir(exist_ok=True)
        (out_dir / "emqx" / "acl.conf").write_text(render_emqx_acl(rules), encoding="utf-8")
        write_private(out_dir / "emqx" / "users.csv", render_emqx_users(credentials))
    return BrokerFiles(password_file=password_file, acl_file=acl_file,
                       secrets_dir=secrets_dir, users=tuple(rules))


def render_template(template: str, *, secrets_dir: Path, source: str = "<template>") -> str:
    """Replace each `{{secret:NAME}}` by the content of `secrets_dir/NAME` (must exist)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        path = secrets_dir / name
        if not PLAIN_NAME.match(name) or not path.is_file():
            raise ConfigError(source=source, key=f"secret:{name}",
                              reason=f"no secret file {path}")
        return path.read_text(encoding="utf-8").strip()

    return _PLACEHOLDER.sub(value, template)
