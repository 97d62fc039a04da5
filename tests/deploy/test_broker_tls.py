"""TLS with the PlantStream CA: certificates made by `plantstream broker certs`.

The broker runs the compose stack's own deploy/mosquitto/mosquitto.conf (paths and
ports adapted): passwords on the service listener, client certificates on the
gateway listener, generated ACL on both. The TLS listener requires a client
certificate and takes its CN as the MQTT user name, so the generated ACL applies to
certificate holders too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from plantstream.cli import main
from plantstream.devstack.services import Mosquitto, free_port
from plantstream.ops.broker import BrokerFiles
from plantstream.ops.certs import create_ca, issue_certificate
from plantstream.topics import Topics
from tests.deploy.mqtt_probe import Probe, Tls
from tests.deploy.secure_broker import PLANT, ROOT, broker_files, password

pytestmark = pytest.mark.services

T = Topics(root=ROOT)
A = T.gateway(site="north", gateway="gw-a")
B = T.gateway(site="north", gateway="gw-b")
MOSQUITTO_CONF = Path(__file__).parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"


@dataclass(frozen=True)
class TlsBroker:
    service: Mosquitto
    tls_port: int
    pki: Path
    files: BrokerFiles


def _write(directory: Path, stem: str, pair: tuple[bytes, bytes]) -> Tls:
    (directory / f"{stem}.crt").write_bytes(pair[0])
    (directory / f"{stem}.key").write_bytes(pair[1])
    return Tls(ca=directory / "ca.crt", cert=directory / f"{stem}.crt",
               key=directory / f"{stem}.key")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    pki = tmp_path_factory.mktemp("pki")
    assert main(["broker", "certs", "ca", "--out", str(pki)]) == 0
    assert main(["broker", "certs", "server", "--ca", str(pki), "--out", str(pki),
                 "--name", "localhost", "--san", "127.0.0.1"]) == 0
    assert main(["broker", "certs", "gateways", "--config", str(PLANT), "--ca", str(pki),
                 "--out", str(pki / "gateways")]) == 0
    files = broker_files(tmp_path_factory.mktemp("broker-files"))
    plain_port, tls_port = free_port(), free_port()
    config = shipped_config(auth=files.password_file.parent, certs=pki,
                            ports={1883: plain_port, 8883: tls_port})
    service = Mosquitto(data_dir=tmp_path_factory.mktemp("mosquitto-tls"), port=plain_port,
                        extra_config="user root\n" + config)
    service.start()
    yield TlsBroker(service=service, tls_port=tls_port, pki=pki, files=files)
    service.stop()


def shipped_config(*, auth: Path, certs: Path, ports: dict[int, int]) -> str:
    """deploy/mosquitto/mosquitto.conf with this machine's paths and free ports.

    The test broker class sets persistence itself, so those lines are left out.
    """
    lines = []
    for line in MOSQUITTO_CONF.read_text().splitlines():
        if line.startswith(("persistence", "autosave_interval", "max_")):
            continue
        if line.startswith("listener "):
            line = f"listener {ports[int(line.split()[1])]} 127.0.0.1"
        lines.append(line.replace("/mosquitto/auth/", f"{auth}/")
                     .replace("/mosquitto/certs/", f"{certs}/"))
    return "\n".join(lines) + "\n"


def _gateway_tls(broker: TlsBroker, gateway: str) -> Tls:
    d = broker.pki / "gateways"
    return Tls(ca=broker.pki / "ca.crt", cert=d / f"{gateway}.crt", key=d / f"{gateway}.key")


def _try(broker: TlsBroker, tls: Tls) -> bool:
    probe = Probe(port=broker.tls_port, tls=tls, name="tls")
    try:
        return probe.connect()
    finally:
        probe.close()


def test_gateway_with_ca_signed_certificate_connects_as_itself(tls_broker: TlsBroker) -> None:
    ingest = Probe(port=tls_broker.service.port, username="ingest",
                   password=password(tls_broker.files, "ingest"))
    gw_a = Probe(port=tls_broker.tls_port, tls=_gateway_tls(tls_broker, "gw-a"), name="gw-a")
    forger = Probe(port=tls_broker.tls_port, tls=_gateway_tls(tls_broker, "gw-a"), name="f")
    try:
        assert ingest.connect()
        ingest.subscribe(T.all_batches)
        assert gw_a.connect(), gw_a.connack
        assert forger.connect()
        # The certificate's CN is the user: gw-a's certificate cannot write as gw-b.
        assert forger.publish(B.batch, b"forged").is_failure
        assert not gw_a.publish(A.batch, b"over-tls").is_failure
        assert ingest.wait_for(b"over-tls") == [(A.batch, b"over-tls")]
    finally:
        for probe in (ingest, gw_a, forger):
            probe.close()


def test_self_signed_client_certificate_is_refused(tls_broker: TlsBroker,
                                                   tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes((tls_broker.pki / "ca.crt").read_bytes())
    rogue_ca = create_ca(common_name="gw-a")  # self-signed, claims to be gw-a
    assert not _try(tls_broker, _write(tmp_path, "self", rogue_ca))
    signed_by_rogue = issue_certificate(ca_cert_pem=rogue_ca[0], ca_key_pem=rogue_ca[1],
                                        common_name="gw-a", purpose="client")
    assert not _try(tls_broker, _write(tmp_path, "rogue", signed_by_rogue))
    assert _try(tls_broker, _gateway_tls(tls_broker, "gw-a"))  # the genuine one does


def test_expired_client_certificate_is_refused(tls_broker: TlsBroker, tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes((tls_broker.pki / "ca.crt").read_bytes())
    ca = ((tls_broker.pki / "ca.crt").read_bytes(), (tls_broker.pki / "ca.key").read_bytes())
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    expired = issue_certificate(ca_cert_pem=ca[0], ca_key_pem=ca[1], common_name="gw-a",
                                purpose="client", not_before=long_ago, days=1)
    current = issue_certificate(ca_cert_pem=ca[0], ca_key_pem=ca[1], common_name="gw-a",
                                purpose="client")
    assert not _try(tls_broker, _write(tmp_path, "expired", expired))
    assert _try(tls_broker, _write(tmp_path, "current", current))


def test_client_without_certificate_is_refused(tls_broker: TlsBroker) -> None:
    no_cert = Tls(ca=tls_broker.pki / "ca.crt")
    assert not _try(tls_broker, no_cert)


def test_private_keys_are_private(tls_broker: TlsBroker) -> None:
    keys = [*tls_broker.pki.glob("*.key"), *(tls_broker.pki / "gateways").glob("*.key")]
    assert len(keys) == 2 + 3  # ca, server, three gateways
    for key in keys:
        assert (key.stat().st_mode & 0o077) == 0, key


def test_shipped_config_refuses_anonymous_clients_on_both_listeners(tls_broker: TlsBroker
                                                                    ) -> None:
    anonymous = Probe(port=tls_broker.service.port, name="anon")
    monitor = Probe(port=tls_broker.service.port, username="monitor",
                    password=password(tls_broker.files, "monitor"))
    try:
        assert not anonymous.connect()
        assert monitor.connect()
    finally:
        anonymous.close()
        monitor.close()
    assert not _try(tls_broker, Tls(ca=tls_broker.pki / "ca.crt"))
