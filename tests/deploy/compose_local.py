"""Compose services as local processes (no container engine runs on these machines).

`ComposeLocal` reads deploy/compose.yaml (after deploy/setup.sh) and builds, for each
service, what compose would run: the command line (the service's entrypoint and
command, or its image's), its environment, and every file compose mounts (volumes,
configs, secrets). Container paths map to folders of the test; the compose network's
host names map to loopback ports:

- a mounted TOML file is copied with its container paths, `host`/`port` pairs and
  `http://service:port` URLs rewritten (nothing else changes, so the project's own
  loader reads it in the process exactly as in the container);
- mosquitto.conf gets its paths rewritten and each `listener N` bound to a free
  loopback port (plus `user root` when the tests run as root: compose runs the broker
  as a non-root user, and a root Mosquitto would drop to a user who cannot read the
  test's private files);
- command lines and health checks get the same path and port mapping, with compose's
  `$$` and `${VAR:-default}` interpolation applied.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import yaml

from plantstream.devstack.services import InfluxD, free_port

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
# The server certificate names `localhost` (deploy/setup.sh --san localhost), so TLS
# clients verify it under that name, as gateways verify it under `mosquitto`.
LOCAL_HOST_NAME = "localhost"
# The default command of images compose runs without a command of its own (from each
# image's Dockerfile); the plantstream images' come from deploy/docker/*.Dockerfile.
IMAGE_COMMANDS = {"eclipse-mosquitto": ["/usr/sbin/mosquitto", "-c",
                                        "/mosquitto/config/mosquitto.conf"]}


class AuthInfluxD(InfluxD):
    """influxd 1.x standing in for the compose `influxdb` service: authentication on
    (until the first admin user exists, only CREATE USER ... WITH ALL PRIVILEGES)."""

    def command(self) -> list[str]:
        argv = super().command()
        conf = self.data_dir / "influxdb.conf"
        conf.write_text(conf.read_text().replace("[http]\n", "[http]\n  auth-enabled = true\n"))
        return argv


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: `$$` is a literal `$`, `${X:-d}` / `${X}` / `$X`."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        default = match.group(3) or ""
        return env.get(name) or default

    return re.sub(r"\$\$|\$\{(\w+)(:-([^}]*))?\}|\$(\w+)", one, text)


def dockerfile_command(dockerfile: Path) -> tuple[list[str], list[str]]:
    """(ENTRYPOINT, CMD) of a Dockerfile's final stage, exec form."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^(ENTRYPOINT|CMD)\s+(\[.*\])\s*$", line)
        if match:
            value = yaml.safe_load(match.group(2))
            if match.group(1) == "ENTRYPOINT":
                entrypoint = value
            else:
                cmd = value
    return entrypoint, cmd


@dataclass
class Process:
    """A service's command line, started as a child process in its own session."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=self.env,
                                          start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM to the process group it leads (a `sh -c` loop and its child), then
        SIGKILL after the timeout. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode


def wait_for(condition: Callable[[], bool], *, what: str, timeout_s: float = 60.0,
             processes: list[Process] | None = None) -> None:
    """Poll `condition` until true; fail naming `what` (and a dead process's log)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for process in processes or []:
            if not process.running():
                raise AssertionError(f"{process.name} exited while waiting for {what}:\n"
                                     f"{process.log()[-3000:]}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.log()[-1500:]}" for p in processes or [])
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}\n{logs}")
        time.sleep(0.1)


@dataclass
class ComposeLocal:
    deploy: Path  # a copy of deploy/ after deploy/setup.sh
    work: Path  # where named volumes, rewritten files and logs go
    env: dict[str, str] = field(default_factory=dict)  # what compose interpolates from
    # tables added to a mounted TOML file: (service, container path) -> tables
    additions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    compose: dict[str, Any] = field(init=False)
    _ports: dict[tuple[str, int], int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.compose = yaml.safe_load((self.deploy / "compose.yaml").read_text())
        self.work.mkdir(parents=True, exist_ok=True)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        services: dict[str, dict[str, Any]] = self.compose["services"]
        return services

    def port(self, service: str, container_port: int) -> int:
        """The loopback port standing for `service:container_port`."""
        key = (service, container_port)
        if key not in self._ports:
            self._ports[key] = free_port()
        return self._ports[key]

    def url(self, service: str, container_port: int) -> str:
        return f"http://{LOOPBACK}:{self.port(service, container_port)}"

    # -- mounts ---------------------------------------------------------------------------

    def mounts(self, service: str) -> dict[str, Path]:
        """Container path -> host path for every volume, config and secret of `service`."""
        spec = self.services[service]
        table: dict[str, Path] = {}
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith(("./", "/")):
                table[target] = (self.deploy / source).resolve()
            else:  # a named volume: a folder of its own
                path = self.work / "volumes" / source
                path.mkdir(parents=True, exist_ok=True)
                table[target] = path
        for ref in spec.get("configs", []):
            source = ref if isinstance(ref, str) else ref["source"]
            target = f"/{source}" if isinstance(ref, str) else ref.get("target", f"/{source}")
            table[target] = (self.deploy / self.compose["configs"][source]["file"]).resolve()
        for ref in spec.get("secrets", []):
            source = ref if isinstance(ref, str) else ref["source"]
            target = source if isinstance(ref, str) else ref.get("target", source)
            if not target.startswith("/"):
                target = f"/run/secrets/{target}"
            table[target] = (self.deploy / self.compose["secrets"][source]["file"]).resolve()
        return table

    def host_path(self, service: str, container_path: str) -> Path:
        mapped = self.map_paths(service, container_path)
        assert mapped != container_path, f"{service}: {container_path} is not mounted"
        return Path(mapped)

    def map_paths(self, service: str, text: str) -> str:
        """Every container path in `text` (a path, an argument, a shell line) -> host."""
        table = self._mapped_mounts(service)
        targets = sorted(table, key=len, reverse=True)
        pattern = re.compile(r"(?<![\w/.$-])(" + "|".join(map(re.escape, targets))
                             + r")(?=$|[/\s\"')};:])")
        return pattern.sub(lambda m: str(table[m.group(1)]), text)

    def _mapped_mounts(self, service: str) -> dict[str, Path]:
        """`mounts`, with each TOML file or mosquitto.conf replaced by its rewritten copy."""
        table = self.mounts(service)
        folder = self.work / "mounts" / service
        for target, path in list(table.items()):
            if path.is_file() and (path.suffix == ".toml" or path.name == "mosquitto.conf"):
                table[target] = folder / target.lstrip("/")
        return table

    def materialise(self, service: str) -> None:
        """Write the rewritten copies `_mapped_mounts` points at."""
        original = self.mounts(service)
        for target, path in self._mapped_mounts(service).items():
            if path == original[target]:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".toml":
                data = self._rewrite(service, tomllib.loads(original[target].read_text()))
                data.update(self.additions.get((service, target), {}))
                path.write_text(tomli_w.dumps(data))
            else:
                path.write_text(self._mosquitto_conf(service, original[target].read_text()))
            path.chmod(0o600)

    def _rewrite(self, service: str, node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: self._rewrite(service, v) for k, v in node.items()}
            host = out.get("host")
            if isinstance(host, str) and host in self.services and "port" in out:
                out["port"] = self.port(host, int(out["port"]))
                out["host"] = LOCAL_HOST_NAME
            return out
        if isinstance(node, list):
            return [self._rewrite(service, v) for v in node]
        if isinstance(node, str):
            match = re.fullmatch(r"http://([\w-]+):(\d+)(/.*)?", node)
            if match and match.group(1) in self.services:
                return self.url(match.group(1), int(match.group(2))) + (match.group(3) or "")
            return self.map_paths(service, node)
        return node

    def _mosquitto_conf(self, service: str, text: str) -> str:
        lines = ["user root"] if os.geteuid() == 0 else []
        for line in text.splitlines():
            match = re.fullmatch(r"listener\s+(\d+)\s*", line)
            if match:
                line = f"listener {self.port(service, int(match.group(1)))} {LOOPBACK}"
            lines.append(self.map_paths(service, line))
        return "\n".join(lines) + "\n"

    # -- command lines --------------------------------------------------------------------

    def image_command(self, service: str) -> tuple[list[str], list[str]]:
        """(ENTRYPOINT, CMD) of the service's image."""
        image = self.services[service]["image"]
        for spec in self.services.values():  # the service that builds this image
            if spec.get("image") == image and "build" in spec:
                return dockerfile_command(self.deploy / ".." / spec["build"]["dockerfile"])
        name = image.split(":")[0]
        assert name in IMAGE_COMMANDS, f"{service}: no known command for image {image}"
        return [], IMAGE_COMMANDS[name]

    def argv(self, service: str) -> list[str]:
        """The command line compose would run, mapped; `plantstream` from this venv."""
        spec = self.services[service]
        entrypoint, cmd = self.image_command(service)
        entrypoint = spec.get("entrypoint", entrypoint)
        command = spec.get("command", cmd)
        argv = [interpolate(a, self.env) for a in [*entrypoint, *command]]
        out: list[str] = []
        for i, arg in enumerate(argv):
            previous = argv[i - 1] if i else ""
            if previous == "--host":
                arg = LOOPBACK
            elif previous == "--port":
                arg = str(self.port(service, int(arg)))
            out.append(self.map_paths(service, arg))
        if out and out[0] == "plantstream":
            out[0] = str(BIN / "plantstream")
        return out

    def environment(self, service: str, **extra: str) -> dict[str, str]:
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1",
               "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
        for key, value in (self.services[service].get("environment") or {}).items():
            env[key] = self.map_paths(service, interpolate(str(value), self.env))
        env.update(extra)
        return env

    def process(self, service: str, *, name: str | None = None, **env: str) -> Process:
        self.materialise(service)
        name = name or service
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        return Process(name=name, argv=self.argv(service),
                       env=self.environment(service, **env), log_path=logs / f"{name}.log")

    def healthcheck(self, service: str) -> list[str]:
        """The service's health check command, mapped like its command line."""
        test = self.services[service]["healthcheck"]["test"]
        kind, *rest = test
        if kind == "CMD-SHELL":
            line = interpolate(rest[0], self.env)
            line = re.sub(r"(-p\s+)(\d+)",
                          lambda m: m.group(1) + str(self.port(service, int(m.group(2)))),
                          line)
            return ["sh", "-c", self.map_paths(service, line)]
        assert kind == "CMD", test
        argv = [self.map_paths(service, interpolate(a, self.env)) for a in rest]
        if argv[0] == "plantstream":
            argv[0] = str(BIN / "plantstream")
        return argv

    def run_healthcheck(self, service: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.materialise(service)
        return subprocess.run(self.healthcheck(service), capture_output=True, text=True,
                              env=self.environment(service, **env), timeout=60, check=False)

