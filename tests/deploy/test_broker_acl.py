"""The generated password file and ACL, enforced by a real Mosquitto.

Each "nothing arrives" assertion is paired with a message that must arrive and that
the broker handles after the forbidden one (its PUBACK came first), so a broken ACL
fails the test instead of passing it by timing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plantstream.devstack.services import Mosquitto
from plantstream.ops.broker import BrokerFiles
from plantstream.topics import Topics
from tests.deploy.mqtt_probe import Probe
from tests.deploy.secure_broker import ROOT, broker_files, password, secure_mosquitto

pytestmark = pytest.mark.services

T = Topics(root=ROOT)
A = T.gateway(site="north", gateway="gw-a")
B = T.gateway(site="north", gateway="gw-b")
C = T.gateway(site="south", gateway="gw-c")
NOT_AUTHORIZED = 0x87
_Login = Callable[[str], Probe]  # the `login` fixture: user name -> connected probe


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> BrokerFiles:
    return broker_files(tmp_path_factory.mktemp("broker-files"))


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, files: BrokerFiles
           ) -> Iterator[Mosquitto]:
    service = secure_mosquitto(data_dir=tmp_path_factory.mktemp("mosquitto-acl"), files=files)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def login(secure: Mosquitto, files: BrokerFiles) -> Iterator[_Login]:
    probes: list[Probe] = []

    def connect(user: str) -> Probe:
        probe = Probe(port=secure.port, username=user, password=password(files, user),
                      name=user)
        probes.append(probe)
        assert probe.connect(), f"{user} could not connect: {probe.connack}"
        return probe

    yield connect
    for probe in probes:
        probe.close()


def _ingest(login: _Login) -> Probe:
    ingest = login("ingest")
    codes = ingest.subscribe(T.shared("ingest", T.all_batches),
                             T.shared("ingest", T.all_health), f"{T.base}/+/+/status")
    assert all(not c.is_failure for c in codes), codes
    return ingest


def test_anonymous_and_wrong_passwords_are_refused(secure: Mosquitto, files: BrokerFiles
                                                   ) -> None:
    anonymous = Probe(port=secure.port, name="anon")
    wrong = Probe(port=secure.port, username="gw-a", password="not-the-password")
    stranger = Probe(port=secure.port, username="nobody", password=password(files, "gw-a"))
    right = Probe(port=secure.port, username="gw-a", password=password(files, "gw-a"))
    try:
        assert not anonymous.connect()
        assert not wrong.connect()
        assert not stranger.connect()
        assert right.connect()  # the same broker does let a known gateway in
    finally:
        for probe in (anonymous, wrong, stranger, right):
            probe.close()


def test_gateway_publishes_only_under_its_own_topics(login: _Login) -> None:
    ingest = _ingest(login)
    forbidden = [B.batch, B.status, B.health, C.batch,
                 f"{T.base}/south/gw-a/batch",  # itself, but on a site it is not on
                 T.deadletter(site="north", gateway="gw-a"), A.cmd]
    for topic in forbidden:
        gw_a = login("gw-a")  # paho drops the connection after a refused publish
        assert gw_a.publish(topic, b"forged:" + topic.encode()) == NOT_AUTHORIZED, topic
    gw_a = login("gw-a")
    for topic in (A.status, A.health):
        assert not gw_a.publish(topic, topic.encode()).is_failure
    assert not gw_a.publish(A.batch, b"genuine").is_failure
    seen = ingest.wait_for(b"genuine")
    assert [topic for topic, _ in seen] == [A.status, A.health, A.batch]


def test_gateway_cannot_read_other_gateways(login: _Login) -> None:
    gw_a = login("gw-a")
    gw_a.subscribe(B.batch, B.cmd, T.all_batches, f"{T.base}/#", A.cmd)
    gw_b, control = login("gw-b"), login("control")
    assert not gw_b.publish(B.batch, b"b-batch").is_failure
    assert not control.publish(B.cmd, b"b-cmd").is_failure
    assert not control.publish(A.cmd, b"a-cmd").is_failure
    # Everything gw-a receives, up to its own command, is its own command.
    assert gw_a.wait_for(b"a-cmd") == [(A.cmd, b"a-cmd")]


def test_ingest_reads_every_gateway_and_writes_dead_letters(login: _Login) -> None:
    ingest = _ingest(login)
    monitor = login("monitor")
    monitor.subscribe(f"{T.base}/deadletter/#")
    expected = []
    for gateway, topics in (("gw-a", A), ("gw-b", B), ("gw-c", C)):
        probe = login(gateway)
        for topic in (topics.batch, topics.health, topics.status):
            assert not probe.publish(topic, topic.encode()).is_failure
            expected.append((topic, topic.encode()))
    got = ingest.wait_for(C.status.encode())
    assert sorted(got) == sorted(expected)
    dead = T.deadletter(site="south", gateway="gw-c")
    assert not ingest.publish(dead, b"bad_json").is_failure
    assert monitor.wait_for(b"bad_json") == [(dead, b"bad_json")]


def test_monitor_reads_but_cannot_write(login: _Login) -> None:
    ingest, gw_a = _ingest(login), login("gw-a")
    gw_a.subscribe(A.cmd)
    monitor = login("monitor")
    monitor.subscribe(f"{T.base}/#")
    assert login("monitor").publish(A.cmd, b"monitor-cmd") == NOT_AUTHORIZED
    assert login("monitor").publish(A.batch, b"monitor-batch") == NOT_AUTHORIZED
    assert not login("control").publish(A.cmd, b"control-cmd").is_failure
    assert not login("gw-a").publish(A.batch, b"a-batch").is_failure
    assert gw_a.wait_for(b"control-cmd") == [(A.cmd, b"control-cmd")]
    assert ingest.wait_for(b"a-batch") == [(A.batch, b"a-batch")]
    assert [m for m in monitor.wait_for(b"a-batch") if m[1].startswith(b"monitor")] == []


def test_password_files_are_private(files: BrokerFiles) -> None:
    assert (files.secrets_dir.stat().st_mode & 0o077) == 0
    for path in files.secrets_dir.iterdir():
        assert (path.stat().st_mode & 0o077) == 0, path
    assert (files.password_file.stat().st_mode & 0o007) == 0
    text = files.password_file.read_text()
    for user in files.users:  # hashes only: no password appears in the broker's file
        assert password(files, user) not in text
    assert sorted(line.split(":")[0] for line in text.splitlines()) == sorted(files.users)
    assert Path(files.acl_file).read_text().count("\nuser ") == len(files.users)
