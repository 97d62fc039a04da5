"""The deployment files, read and checked (no Docker engine or cluster here).

compose.yaml and every Kubernetes manifest parse; every compose service and every
long-running pod has a health check; every image reference is pinned; no secret
literal appears; every secret file compose and kustomize reference is produced by
the setup scripts, which are run for real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from plantstream.config import load_plant
from plantstream.edge.config import load_edge_config

DEPLOY = Path(__file__).parents[2] / "deploy"
K8S = DEPLOY / "k8s"
BIN = Path(sys.executable).parent
SECRET_KEY = re.compile(r"(password|passwd|token|secret|cookie|private_?key)", re.I)
# What a generated secret looks like: long, mixed case and digits, no path or dots.
RANDOM_LOOKING = re.compile(r"(?<![\w/.$-])(?=[\w+-]*[A-Z])(?=[\w+-]*[a-z])"
                            r"(?=[\w+-]*\d)[\w+-]{20,}=*(?![\w/.-])")
PINNED_TAG = re.compile(r"^[\w.\-/]+:(v?\d+\.\d+(\.\d+)?[\w.\-]*)$")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's input, not an object
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = path.name
                docs.append(doc)
    return docs


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k), v
            yield from _walk(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    return bool(PINNED_TAG.match(image)) and not image.endswith(":latest")


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "Job":
        return [doc["spec"]["template"]["spec"]]
    return []


# -- compose ------------------------------------------------------------------------------

def test_compose_has_every_part_of_the_stack() -> None:
    services = _compose()["services"]
    assert {"mosquitto", "influxdb", "grafana", "ingest", "rollup", "reports"} <= set(services)
    sims = [name for name, s in services.items() if "sim" in s.get("profiles", [])]
    assert sims, "no simulated gateways in profile `sim`"
    assert services["ingest"]["deploy"]["replicas"] >= 2
    commands = {name: " ".join(s.get("command", [])) for name, s in services.items()}
    assert "plantstream ingest run --config /etc/plantstream/ingest.toml" in commands["ingest"]
    assert "plantstream rollups kpi --config" in commands["rollup"]
    assert commands["reports"].startswith("reports serve --config")
    grafana_mounts = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_mounts
    assert any(m.startswith("./grafana/dashboards:") for m in grafana_mounts)


def test_every_compose_service_has_health_check_restart_and_pinned_image() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
        assert _pinned(service["image"]), f"{name}: image {service['image']} is not pinned"
    app = {n: s for n, s in services.items() if s["image"].startswith("plantstream/")}
    for name, service in app.items():  # the app services use the `check` subcommands
        assert "check" in service["healthcheck"]["test"], name


def test_compose_volumes_are_named_and_declared() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith(("./", "/")):
                assert source in declared, f"{name}: volume {source} not declared"
    for stateful in ("mosquitto", "influxdb", "grafana"):
        assert any(not m.startswith("./") for m in compose["services"][stateful]["volumes"])


def test_compose_secrets_come_from_files_never_literals() -> None:
    compose = _compose()
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, name
        assert secret["file"].startswith("./generated/"), name
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEY.search(key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), \
                    f"{name}: {key} must point at a secret file"
        for ref in service.get("secrets", []):
            source = ref if isinstance(ref, str) else ref["source"]
            assert source in compose["secrets"], f"{name}: undeclared secret {source}"


# -- kubernetes ---------------------------------------------------------------------------

def test_kubernetes_manifests_parse_and_cover_the_scale_out() -> None:
    docs = _manifests()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("StatefulSet", "emqx") in kinds
    assert ("Deployment", "ingest") in kinds
    assert ("CronJob", "rollup") in kinds
    assert ("Deployment", "reports") in kinds and ("Service", "reports") in kinds
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest"
    assert any(m["type"] == "External" and "lag" in m["external"]["metric"]["name"]
               for m in hpa["spec"]["metrics"])
    for doc in docs:
        assert doc["metadata"].get("namespace", "plantstream") == "plantstream"


def test_kubernetes_pods_have_probes_pinned_images_and_run_unprivileged() -> None:
    for doc in _manifests():
        for spec in _pod_specs(doc):
            where = f"{doc['__file__']}:{doc['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            for container in spec["containers"] + spec.get("initContainers", []):
                assert _pinned(container["image"]), f"{where}: {container['image']}"
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                if doc["kind"] != "CronJob":  # a job's health is its exit code
                    assert any(p in container for p in
                               ("readinessProbe", "livenessProbe", "startupProbe")), where


def test_kustomization_generates_every_config_and_secret_the_pods_use() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")
    generated = {g["name"] for g in kustomization["secretGenerator"]}
    generated |= {g["name"] for g in kustomization["configMapGenerator"]}
    for doc in _manifests():
        for key, value in _walk(doc):
            if key in ("secretName",) or (key in ("secret", "configMap", "secretKeyRef")
                                          and isinstance(value, dict) and "name" in value):
                name = value if isinstance(value, str) else value["name"]
                if doc["kind"] == "ConfigMap":
                    continue
                if name == "emqx-config":  # a plain ConfigMap resource in emqx.yaml
                    continue
                assert name in generated, f"{doc['__file__']}: {name} is not generated"
    for doc in _manifests():  # no Secret object carries data in the repository
        assert doc["kind"] != "Secret", doc["__file__"]


# -- images and pins ------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["server", "edge"])
def test_dockerfiles_use_pinned_bases_and_exact_requirements(role: str) -> None:
    dockerfile = (DEPLOY / "docker" / f"{role}.Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert bases and all(_pinned(b) for b in bases), bases
    assert f"COPY requirements/{role}.txt" in dockerfile
    assert not re.search(r"^(ARG|ENV)\s+\S*(PASSWORD|TOKEN|SECRET)", dockerfile, re.M | re.I)
    pins = [line.split(";")[0].split("#")[0].strip()
            for line in (DEPLOY.parent / "requirements" / f"{role}.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.+!]+", p) for p in pins), pins
    names = {p.split("==")[0].lower().replace("_", "-") for p in pins}
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    wanted = [*pyproject["project"]["dependencies"], *extras[role]]
    if role == "server":
        wanted += extras["edge"]
    for requirement in wanted:
        name = re.split(r"[<>=!\[ ;]", requirement)[0].lower().replace("_", "-")
        if name != "plantstream":
            assert name in names, f"{name} missing from requirements/{role}.txt"
    if role == "edge":
        assert not names & {"numpy", "numba", "llvmlite", "influxdb-client", "fastapi"}


# -- no secret literal anywhere ------------------------------------------------------------

def _deploy_text_files() -> list[Path]:
    return [p for p in DEPLOY.rglob("*") if p.is_file() and "generated" not in p.parts
            and p.suffix not in (".json", ".png")]


def test_no_secret_literal_in_deploy_files() -> None:
    files = _deploy_text_files()
    assert any(p.name == "compose.yaml" for p in files)
    for path in files:
        text = path.read_text()
        for match in RANDOM_LOOKING.finditer(text):
            pytest.fail(f"{path}: looks like a secret literal: {match.group(0)[:6]}...")
        if path.suffix == ".toml":
            for key, value in _walk(tomllib.loads(text)):
                if SECRET_KEY.search(key) and isinstance(value, str):
                    assert re.fullmatch(r"\{\{secret:[\w.\-]+\}\}", value) or \
                        value.startswith("/run/secrets/"), f"{path}: {key} is a literal"
        if path.suffix == ".yaml":
            for doc in yaml.safe_load_all(text):
                for key, value in _walk(doc):
                    if SECRET_KEY.search(key) and isinstance(value, str) and \
                            not key.endswith(("_FILE", "secretName")):
                        # a path, ${ENV}, or Grafana's $__file{...} / $__env{...}
                        assert value.startswith(("/", "./", "$", "generated/")), \
                            f"{path}: {key} = literal"


def test_secret_scanner_catches_a_literal(tmp_path: Path) -> None:
    leaked = "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: q8Zr2vXkP0mWcA7tLbN4sE9uYhG1jF6d\n"
    assert RANDOM_LOOKING.search(leaked)
    assert not RANDOM_LOOKING.search("metric: plantstream_ingest_lag_seconds\n")
    assert not RANDOM_LOOKING.search("image: influxdb:2.7.11 /run/secrets/mqtt-monitor\n")


# -- the setup scripts, run for real --------------------------------------------------------

@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("generated"))
    return copy


@pytest.fixture(scope="module")
def compose_setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/ after one run of deploy/setup.sh."""
    copy = tmp_path_factory.mktemp("compose-setup") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("generated"))
    result = _run(copy / "setup.sh")
    assert result.returncode == 0, result.stderr
    return copy


def _run(script: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60,
                          env=environment, check=False)


@pytest.mark.slow
def test_compose_setup_creates_every_file_compose_references(compose_setup: Path) -> None:
    deploy_copy = compose_setup
    compose = yaml.safe_load((deploy_copy / "compose.yaml").read_text())
    for name, secret in compose["secrets"].items():
        path = deploy_copy / secret["file"]
        assert path.is_file(), f"secret {name}: {path} not created"
        assert (path.stat().st_mode & 0o007) == 0, f"{path} is world-readable"
    for name, config in compose["configs"].items():
        assert (deploy_copy / config["file"]).is_file(), name
    gen = deploy_copy / "generated"
    rendered = (gen / "config" / "ingest.toml").read_text()
    assert (gen / "secrets" / "mqtt-ingest").read_text().strip() in rendered
    assert "{{" not in rendered
    # (running it again keeps secrets and the CA: tests/deploy/test_broker_cli.py)


@pytest.mark.slow
def test_compose_configs_match_the_real_config_schemas(compose_setup: Path,
                                                      tmp_path: Path) -> None:
    from plantstream.ingest.config import load_ingest_config  # server side: lazily

    deploy_copy = compose_setup
    plant = load_plant(deploy_copy / "config" / "plant.toml")
    rendered = tmp_path / "ingest.toml"
    template = (deploy_copy / "generated" / "config" / "ingest.toml").read_text()
    rendered.write_text(template.replace("/etc/plantstream/plant.toml",
                                         str(deploy_copy / "config/plant.toml")))
    config, _ = load_ingest_config(rendered)
    assert config.mqtt.username == "ingest" and config.mqtt.password is not None
    gateways = {g.id: g.site for g in plant.gateways}
    for path in sorted((deploy_copy / "config").glob("edge-*.toml")):
        edge = load_edge_config(path)
        assert gateways.get(edge.gateway.id) == edge.gateway.site, path
        assert edge.mqtt.tls is not None and edge.mqtt.password is None
        machines = {m.id for m in plant.machines_of_gateway(edge.gateway.id)}
        assert {m.id for s in edge.sources for m in s.machines} == machines


def _load_config(path: Path, mounted_as: str) -> object:
    """The project's own loader of a configuration file, by the name it is mounted as."""
    from plantstream.ingest.config import load_ingest_config  # server side: lazily
    from plantstream.reports.config import load_report_config

    loaders: dict[str, Callable[[Path], object]] = {
        "plant.toml": load_plant, "ingest.toml": load_ingest_config,
        "reports.toml": load_report_config, "edge.toml": load_edge_config}
    assert mounted_as in loaders, f"{path}: no loader for a file mounted as {mounted_as}"
    return loaders[mounted_as](path)


@pytest.mark.slow
def test_every_deploy_config_loads_with_the_project_loaders(compose_setup: Path,
                                                            tmp_path: Path) -> None:
    """Compose: every TOML file a service mounts (configs and rendered secrets), with
    its container paths mapped. Kubernetes: every template, rendered by k8s/setup.sh.
    A TOML file under deploy/ that neither uses fails."""
    from tests.deploy.compose_local import ComposeLocal

    deploy = compose_setup
    local = ComposeLocal(deploy=deploy, work=tmp_path / "run")
    loaded: set[Path] = set()
    for service in local.services:
        local.materialise(service)
        for target, source in local.mounts(service).items():
            if source.suffix == ".toml":
                _load_config(local.host_path(service, target), Path(target).name)
                loaded.add(source)
    generated = deploy / "generated" / "config"
    for path in sorted((deploy / "config").glob("*.toml")):
        rendered = generated / path.name
        assert path in loaded or rendered in loaded, f"{path.name}: mounted by no service"

    k8s = deploy / "k8s"
    for name, value in (("influxdb-url", "https://influx.example.invalid"),
                        ("influxdb-token", "t"), ("influxdb-read-token", "r")):
        (k8s / "generated" / "secrets").mkdir(parents=True, exist_ok=True)
        (k8s / "generated" / "secrets" / name).write_text(value)
    result = _run(k8s / "setup.sh")
    assert result.returncode == 0, result.stderr
    plant = k8s / "generated" / "plant.toml"
    _load_config(plant, "plant.toml")
    templates = sorted((k8s / "templates").glob("*.toml"))
    assert [t.name for t in templates] == ["ingest.toml", "reports.toml"]
    for template in templates:
        rendered = tmp_path / "k8s" / template.name  # the pod's /etc/plantstream/
        rendered.parent.mkdir(exist_ok=True)
        rendered.write_text((k8s / "generated" / template.name).read_text()
                            .replace("/etc/plantstream/plant.toml", str(plant)))
        _load_config(rendered, template.name)

    everything = {p for p in deploy.rglob("*.toml") if "generated" not in p.parts}
    covered = set((deploy / "config").glob("*.toml")) | set(templates)
    assert everything == covered, f"TOML files no test loads: {everything - covered}"


@pytest.mark.slow
def test_k8s_setup_creates_every_generated_file(deploy_copy: Path) -> None:
    k8s = deploy_copy / "k8s"
    refused = _run(k8s / "setup.sh")
    assert refused.returncode != 0 and "influxdb-url" in refused.stderr
    secrets = k8s / "generated" / "secrets"
    for name, value in (("influxdb-url", "https://influx.example.invalid"),
                        ("influxdb-token", "t"), ("influxdb-read-token", "r")):
        (secrets / name).write_text(value)
    result = _run(k8s / "setup.sh")
    assert result.returncode == 0, result.stderr
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    for generator in kustomization["secretGenerator"] + kustomization["configMapGenerator"]:
        for entry in generator["files"]:
            assert (k8s / entry.split("=", 1)[1]).is_file(), entry
    acl = (k8s / "generated" / "emqx" / "acl.conf").read_text()
    assert acl.rstrip().endswith("{deny, all}.")
    assert '{allow, {username, "gw-line-1"}, publish, ["plantstream/v1/suzhou-1/gw-line-1' \
        in acl


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [p for p in DEPLOY.rglob("*.sh") if "generated" not in p.parts]
    assert len(scripts) >= 4
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout


def test_systemd_unit_runs_the_agent_confined_with_a_watchdog() -> None:
    unit = (DEPLOY / "systemd" / "plantstream-edge.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["User"] == "plantstream-edge" and settings["Restart"] == "always"
    assert settings["StateDirectory"] == "plantstream-edge"
    assert settings["Type"] == "notify" and int(settings["WatchdogSec"]) > 0
    assert settings["NoNewPrivileges"] == "yes" and settings["ProtectSystem"] == "strict"
    assert "plantstream edge run --config" in settings["ExecStart"]
    install = (DEPLOY / "edge" / "install.sh").read_text()
    assert "/opt/plantstream-edge" in install and "plantstream[edge]" in install
