"""A real Mosquitto configured from `plantstream broker acl` output (and TLS files)."""

from __future__ import annotations

from pathlib import Path

from plantstream.config import load_plant
from plantstream.devstack.services import Mosquitto, free_port
from plantstream.ops.broker import AclPolicy, BrokerFiles, write_broker_files

PLANT = Path(__file__).with_name("plant.toml")
ROOT = "acltest"


def broker_files(out: Path) -> BrokerFiles:
    return write_broker_files(load_plant(PLANT), AclPolicy(topic_root=ROOT), out_dir=out)


def secure_mosquitto(*, data_dir: Path, files: BrokerFiles, tls_listener: str = ""
                     ) -> Mosquitto:
    """Password + ACL on a plain loopback listener, plus an optional TLS listener block.

    Mosquitto's own defaults would allow anonymous access; the class adds no listener
    of its own because this configuration names one.
    """
    port = free_port()
    # `user root` keeps a broker started by root from dropping to the `mosquitto` user,
    # who cannot read pytest's private temporary directories; ignored when not root.
    config = ("user root\n"
              f"listener {port} 127.0.0.1\n"
              "allow_anonymous false\n"
              f"password_file {files.password_file}\n"
              f"acl_file {files.acl_file}\n"
              + tls_listener)
    return Mosquitto(data_dir=data_dir, port=port, extra_config=config)


def password(files: BrokerFiles, user: str) -> str:
    return (files.secrets_dir / f"mqtt-{user}").read_text().strip()
