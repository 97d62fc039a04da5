"""The compose stack, run without a container engine.

deploy/setup.sh runs into a temporary copy of deploy/; then every compose service's
command line runs as a local process with exactly the configuration and secret files
compose would mount (tests/deploy/compose_local.py maps container paths to the copy
and the compose network's host names to loopback ports). A simulated hour goes
through, then the tests check what each service is for.

Two services have stand-ins, said so in PLACES: the `influxdb` image is InfluxDB 2,
here influxd 1.6.7 with authentication on and the v1 users the image's init script
creates (the v2 token path is tested against VictoriaMetrics in tests/store/); Grafana
cannot run here, so its data-source provisioning is resolved the way Grafana does and
its URL, database, user and password are tried against this stack.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from plantstream.config import load_plant
from plantstream.errors import StoreError
from plantstream.store.influxql import InfluxQL
from tests.deploy.compose_local import BIN, AuthInfluxD, ComposeLocal, Process, wait_for

DEPLOY = Path(__file__).parents[2] / "deploy"
SIM_SECONDS = 3600  # the simulated hour
SPEEDUP = 600.0  # simulated seconds per wall second: the hour in six seconds
ROLLUP_EVERY_S = "2"  # compose's ${ROLLUP_EVERY_S}: the rollup loop's pause

# Every compose service and what this test makes of it. A service added to compose.yaml
# without an entry here fails test_every_compose_service_has_a_place.
PLACES = {
    "mosquitto": "runs: Debian's mosquitto with the mounted mosquitto.conf, password file, "
                 "ACL and TLS files; health check run",
    "influxdb": "stand-in: influxd 1.6.7, auth on, users of influxdb/init/10-plantstream.sh",
    "grafana": "provisioning resolved; its data source's URL, database and user tried",
    "ingest": "runs: every replica, worker id from $HOSTNAME; health check run",
    "rollup": "runs: the sh loop of `plantstream rollups kpi --once`; health check run",
    "reports": "runs: `plantstream reports serve`; scoped token pulls; health check run",
    "sim-gw-line-1": "runs: `plantstream edge run`, client certificate over TLS, fast clock",
    "sim-gw-line-2": "runs: `plantstream edge run`, client certificate over TLS, fast clock",
}


@dataclass(frozen=True)
class V1User:
    name: str
    password_file: str  # a container path
    read: bool
    write: bool


def init_script_users(script: str) -> list[V1User]:
    """The `influx v1 auth create` commands of the InfluxDB init script."""
    users = []
    for command in script.replace("\\\n", " ").splitlines():
        if not command.strip().startswith("influx v1 auth create"):
            continue
        args = shlex.split(command)
        value = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
        secret = re.fullmatch(r"\$\(cat (\S+)\)", value["--password"])
        assert secret, f"password not from a secret file: {command}"
        users.append(V1User(name=value["--username"], password_file=secret.group(1),
                            read="--read-bucket" in value, write="--write-bucket" in value))
    return users


def init_influxdb(stack: ComposeLocal, url: str) -> tuple[str, str]:
    """What the image's setup and init script create, through the v1 API: the admin
    user (DOCKER_INFLUXDB_INIT_USERNAME / _PASSWORD_FILE), the database of the DBRP
    mapping (PLANTSTREAM_DATABASE) and each v1 user with its read / write grant.
    Returns the admin's credentials."""
    env = stack.environment("influxdb")
    admin = env["DOCKER_INFLUXDB_INIT_USERNAME"]
    admin_password = Path(env["DOCKER_INFLUXDB_INIT_PASSWORD_FILE"]).read_text().strip()
    database = env["PLANTSTREAM_DATABASE"]
    script = stack.deploy / "influxdb" / "init" / "10-plantstream.sh"
    assert stack.host_path("influxdb", "/docker-entrypoint-initdb.d") == script.parent

    def q(statement: str, auth: tuple[str, str] | None) -> None:
        r = httpx.post(f"{url}/query", data={"q": statement}, auth=auth, timeout=10)
        assert r.status_code == 200 and "error" not in r.text, (statement, r.text)

    q(f"CREATE USER \"{admin}\" WITH PASSWORD '{admin_password}' WITH ALL PRIVILEGES", None)
    credentials = (admin, admin_password)
    q(f'CREATE DATABASE "{database}"', credentials)
    users = init_script_users(script.read_text())
    assert {u.name for u in users} == {"ingest", "reader"}, users
    for user in users:
        password = stack.host_path("influxdb", user.password_file).read_text().strip()
        q(f"CREATE USER \"{user.name}\" WITH PASSWORD '{password}'", credentials)
        grant = "ALL" if user.read and user.write else "READ" if user.read else "WRITE"
        q(f'GRANT {grant} ON "{database}" TO "{user.name}"', credentials)
    return credentials


@dataclass
class Stack:
    local: ComposeLocal
    admin: InfluxQL
    start_ms: int
    day: dt.date  # the local day of the simulated hour
    processes: dict[str, Process] = field(default_factory=dict)
    edge_next_seq: dict[str, int] = field(default_factory=dict)
    edge_exit: dict[str, int | None] = field(default_factory=dict)


def _run_setup(deploy: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["sh", str(deploy / "setup.sh")], capture_output=True, text=True,
                            timeout=60, env=env, check=False)
    assert result.returncode == 0, result.stderr


def _simulated_hour(timezone: str) -> tuple[int, dt.date]:
    """09:00 yesterday, local time: an hour of a complete past day (reports need one)."""
    tz = ZoneInfo(timezone)
    day = dt.datetime.now(tz).date() - dt.timedelta(days=1)
    return int(dt.datetime.combine(day, dt.time(9), tz).timestamp() * 1000), day


def _stored(admin: InfluxQL, gateway: str, where: str = "") -> list[int]:
    series = admin.query(f"SELECT seq FROM batch WHERE gateway = '{gateway}' {where}")
    return sorted(int(v) for s in series for v in s.column("seq"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("compose-local")
    deploy = root / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns("generated"))
    shutil.copytree(DEPLOY.parent / "requirements", root / "requirements")  # build context
    _run_setup(deploy)
    local = ComposeLocal(deploy=deploy, work=root / "run", env={"ROLLUP_EVERY_S": ROLLUP_EVERY_S})
    assert set(local.services) == set(PLACES)
    plant = load_plant(deploy / "config" / "plant.toml")
    start_ms, day = _simulated_hour(plant.sites[0].timezone)
    started: list[Process] = []
    influx = AuthInfluxD(data_dir=root / "run" / "influxd", port=local.port("influxdb", 8086))
    admin: InfluxQL | None = None
    try:
        broker = local.process("mosquitto")
        broker.start()
        started.append(broker)
        influx.start()
        admin_user, admin_password = init_influxdb(local, influx.url)
        admin = InfluxQL(url=influx.url, database="plantstream", username=admin_user,
                         password=admin_password)
        result = Stack(local=local, admin=admin, start_ms=start_ms, day=day)
        wait_for(lambda: local.run_healthcheck("mosquitto").returncode == 0,
                 what="the broker's health check", processes=[broker])

        replicas = int(local.services["ingest"]["deploy"]["replicas"])
        for i in range(1, replicas + 1):
            worker = local.process("ingest", name=f"ingest-{i}", HOSTNAME=str(i))
            worker.start()
            started.append(worker)
            result.processes[worker.name] = worker
        for name in ("rollup", "reports"):
            process = local.process(name)
            process.start()
            started.append(process)
            result.processes[name] = process
        result.processes["mosquitto"] = broker

        # each worker subscribes as soon as it is connected and writes ingest_health
        # 5 s after start; a batch published before a subscription would be missing
        # from test_every_batch_is_stored, never silently passed
        def workers_up() -> bool:
            series = admin.query("SELECT count(spool_depth) FROM ingest_health GROUP BY worker")
            return {s.tags["worker"] for s in series} >= {f"ingest-{i}" for i in
                                                          range(1, replicas + 1)}
        wait_for(workers_up, what="both ingest workers", processes=started)
        reports_url = local.url("reports", 8000)

        def reports_up() -> bool:
            try:
                return httpx.get(f"{reports_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(reports_up, what="the report API", processes=started)

        gateways = [name for name, spec in local.services.items()
                    if "sim" in spec.get("profiles", [])]
        for name in gateways:  # the fast clock is the one thing added to the edge config
            local.additions[(name, "/etc/plantstream/edge.toml")] = {
                "clock": {"speedup": SPEEDUP, "start_ms": start_ms}}
            edge = local.process(name)
            edge.start()
            started.append(edge)
            result.processes[name] = edge
        end_ms = start_ms + SIM_SECONDS * 1000
        for name in gateways:
            gateway_id = _edge_config(local, name)["gateway"]["id"]
            wait_for(lambda g=gateway_id: len(_stored(
                admin, g, f"AND time >= {start_ms}ms AND time < {end_ms}ms")) == 360,
                what=f"{gateway_id}: the simulated hour stored", processes=started)
        for name in gateways:  # SIGTERM: close the open interval, deliver what is queued
            result.edge_exit[name] = result.processes[name].stop()
            state = local.host_path(name, "/var/lib/plantstream-edge")
            with sqlite3.connect(state / "queue.sqlite") as db:
                (value,) = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
            result.edge_next_seq[name] = int(value)
        yield result
    finally:
        for process in reversed(started):
            process.stop()
        influx.stop()
        if admin is not None:
            admin.close()


def _edge_config(local: ComposeLocal, service: str) -> dict[str, Any]:
    path = local.host_path(service, "/etc/plantstream/edge.toml")
    return tomllib.loads(path.read_text())


def test_every_compose_service_has_a_place() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert set(services) - set(PLACES) == set(), "compose services the stack test skips"
    assert set(PLACES) - set(services) == set(), "PLACES names services compose lacks"


@pytest.mark.slow
def test_every_batch_is_stored(stack: Stack) -> None:
    for name, next_seq in stack.edge_next_seq.items():
        assert stack.edge_exit[name] == 0, stack.processes[name].log()[-2000:]
        config = _edge_config(stack.local, name)
        gateway = str(config["gateway"]["id"])
        mqtt = config["mqtt"]  # the TLS listener, a client certificate, no password
        assert mqtt["port"] == stack.local.port("mosquitto", 8883) and "password" not in mqtt
        # the ACL lets only the user named by the certificate's CN publish these batches
        assert mqtt["tls"]["cert_file"].endswith(f"{gateway}.crt")
        wait_for(lambda g=gateway, n=next_seq: len(_stored(stack.admin, g)) >= n,
                 what=f"{gateway}: {next_seq} batches stored")
        stored = _stored(stack.admin, gateway)
        assert stored == list(range(next_seq)), f"{gateway}: gaps or duplicates"
        assert next_seq > 360  # the hour, and the interval open at SIGTERM
    dead = stack.admin.query('SELECT count(*) FROM "dead_letter"')
    assert dead == [], dead


@pytest.mark.slow
def test_rollup_job_rolls_up_the_late_hour(stack: Stack) -> None:
    end_ms = stack.start_ms + SIM_SECONDS * 1000
    machines = {m.id for m in load_plant(stack.local.deploy / "config" / "plant.toml").machines}

    def rolled() -> bool:
        series = stack.admin.query(
            f"SELECT count(*) FROM kpi_1h WHERE time >= {stack.start_ms}ms "
            f"AND time < {end_ms}ms GROUP BY machine")
        return {s.tags["machine"] for s in series} >= machines
    wait_for(rolled, what="kpi_1h of every machine for the hour",
             processes=[stack.processes["rollup"]])
    assert "rollup run failed" not in stack.processes["rollup"].log()


@pytest.mark.slow
def test_report_api_answers_its_scope_and_refuses_another(stack: Stack) -> None:
    local = stack.local
    token = (local.deploy / "generated" / "secrets" / "reports-token-sample").read_text().strip()
    url = local.url("reports", 8000)
    headers = {"Authorization": f"Bearer {token}"}
    day = stack.day.isoformat()
    ok = httpx.get(f"{url}/v1/reports/energy", headers=headers, timeout=60,
                   params={"scope": "suzhou-1", "period": day, "as_of": day})
    assert ok.status_code == 200, ok.text
    report = ok.json()
    assert report["scope"]["id"] == "suzhou-1" and report["period"]["start"].startswith(day)
    electricity = [c for c in report["energy"]["carriers"] if c["carrier"] == "electricity"]
    assert electricity and electricity[0]["quantity"] > 0, report["energy"]
    refused = httpx.get(f"{url}/v1/reports/energy", headers=headers, timeout=60,
                        params={"scope": "demo-precision", "period": day, "as_of": day})
    assert refused.status_code == 403, refused.text
    unknown = httpx.get(f"{url}/v1/reports/energy", timeout=60,
                        headers={"Authorization": "Bearer not-a-token"},
                        params={"scope": "suzhou-1", "period": day})
    assert unknown.status_code == 401, unknown.text
    config = tomllib.loads(local.host_path("reports", "/etc/plantstream/reports.toml")
                           .read_text())
    audit = Path(config["audit_log"])
    assert audit.is_relative_to(local.work / "volumes" / "reports-audit")
    pulls = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(p.get("regulator") == "sample-regulator" and p.get("scope") == "suzhou-1"
               for p in pulls), pulls


@pytest.mark.slow
def test_grafana_datasource_names_a_url_database_and_user_of_this_stack(stack: Stack) -> None:
    local = stack.local
    grafana = local.services["grafana"]
    env = {k: str(v) for k, v in grafana["environment"].items()}
    folder = local.host_path("grafana", "/etc/grafana/provisioning") / "datasources"
    (source,) = yaml.safe_load((folder / "plantstream.yaml").read_text())["datasources"]

    def expand(value: str) -> str:  # Grafana's $VAR / ${VAR} and $__file{path}
        value = re.sub(r"\$__file\{([^}]+)\}",
                       lambda m: local.host_path("grafana", m.group(1)).read_text().strip(),
                       value)
        return re.sub(r"\$\{?(\w+)\}?", lambda m: env[m.group(1)], value)

    url = expand(source["url"])
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", url).groups()
    assert host == "influxdb" and host in local.services
    database = expand(source["jsonData"]["dbName"])
    user = expand(source["user"])
    password = expand(source["secureJsonData"]["password"])
    with InfluxQL(url=local.url(host, int(port)), database=database, username=user,
                  password=password) as client:
        measurements = {v[0] for s in client.query("SHOW MEASUREMENTS") for v in s.values}
        assert {"batch", "energy"} <= measurements
        with client.writer() as writer, pytest.raises(StoreError, match="not authorized"):
            writer.write(["grafana_probe value=1"])  # the reader reads only
    dashboards = yaml.safe_load((folder.parent / "dashboards" / "plantstream.yaml").read_text())
    for provider in dashboards["providers"]:
        path = local.host_path("grafana", provider["options"]["path"])
        assert sorted(path.glob("*.json")), path


@pytest.mark.slow
@pytest.mark.parametrize("service", ["mosquitto", "ingest", "rollup", "reports",
                                     "sim-gw-line-1", "sim-gw-line-2"])
def test_health_check_passes(stack: Stack, service: str) -> None:
    result = stack.local.run_healthcheck(service)
    assert result.returncode == 0, result.stdout + result.stderr
