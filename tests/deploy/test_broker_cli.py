"""`plantstream broker ...` on the shipped sample plant, and the password hash format."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from plantstream.cli import main
from plantstream.config import Enterprise, Gateway, PlantConfig, Site, load_plant
from plantstream.errors import ConfigError
from plantstream.ops.broker import AclPolicy, acl_rules, hash_password, verify_password

SAMPLE = Path(__file__).parents[2] / "deploy" / "config" / "plant.toml"


def test_acl_command_generates_files_from_the_sample_plant(tmp_path: Path) -> None:
    out = tmp_path / "mosquitto"
    assert main(["broker", "acl", "--config", str(SAMPLE), "--out", str(out)]) == 0
    plant = load_plant(SAMPLE)
    acl = (out / "acl").read_text()
    for gw in plant.gateways:
        prefix = f"plantstream/v1/{gw.site}/{gw.id}"
        section = acl.split(f"user {gw.id}\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert section == [f"topic write {prefix}/batch", f"topic write {prefix}/status",
                           f"topic write {prefix}/health", f"topic read {prefix}/cmd"]
    users = [line.split(":")[0] for line in (out / "passwd").read_text().splitlines()]
    assert sorted(users) == sorted([g.id for g in plant.gateways]
                                   + ["ingest", "monitor", "control"])
    before = {p.name: p.read_text() for p in (out / "secrets").iterdir()}
    assert main(["broker", "acl", "--config", str(SAMPLE), "--out", str(out),
                 "--monitor-user", "", "--topic-root", "acme"]) == 0
    after = {p.name: p.read_text() for p in (out / "secrets").iterdir()}
    assert after == before  # existing passwords are kept, never regenerated
    acl = (out / "acl").read_text()
    assert "user monitor" not in acl and "topic read acme/v1/+/+/batch" in acl


def test_render_fills_placeholders_and_refuses_unknown_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    assert main(["broker", "secrets", "--out", str(secrets), "db-password"]) == 0
    template = tmp_path / "app.toml"
    template.write_text('password = "{{secret:db-password}}"\n')
    out = tmp_path / "out" / "app.toml"
    assert main(["broker", "render", str(template), "--secrets", str(secrets),
                 "--out", str(out)]) == 0
    value = (secrets / "db-password").read_text().strip()
    assert out.read_text() == f'password = "{value}"\n' and len(value) >= 24
    assert (out.stat().st_mode & 0o077) == 0
    template.write_text('token = "{{secret:nope}}"\n')
    assert main(["broker", "render", str(template), "--secrets", str(secrets),
                 "--out", str(out)]) == 2


def test_certs_never_replace_an_existing_ca(tmp_path: Path) -> None:
    assert main(["broker", "certs", "ca", "--out", str(tmp_path)]) == 0
    ca = (tmp_path / "ca.crt").read_bytes(), (tmp_path / "ca.key").read_bytes()
    assert main(["broker", "certs", "ca", "--out", str(tmp_path)]) == 1
    assert ((tmp_path / "ca.crt").read_bytes(), (tmp_path / "ca.key").read_bytes()) == ca
    assert main(["broker", "certs", "client", "--ca", str(tmp_path / "nope"),
                 "--out", str(tmp_path), "--name", "gw-1"]) == 2


def _plant(*, site: str, gateway: str) -> PlantConfig:
    return PlantConfig(enterprise=Enterprise(id="e", name="E"), sites=[Site(id=site)],
                       lines=[], gateways=[Gateway(id=gateway, site=site)], machines=[])


def test_names_that_would_break_the_acl_are_refused() -> None:
    with pytest.raises(ConfigError, match="service user"):
        acl_rules(_plant(site="north", gateway="ingest"), AclPolicy())
    with pytest.raises(ConfigError, match="reserved"):
        acl_rules(_plant(site="deadletter", gateway="gw-1"), AclPolicy())
    assert "gw-1" in acl_rules(_plant(site="north", gateway="gw-1"), AclPolicy())


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_password_hash_is_the_mosquitto_format(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(path), "alice", "s3cret pass"], check=True,
                   timeout=30)
    theirs = path.read_text().strip().split(":", 1)[1]
    assert verify_password("s3cret pass", theirs)
    assert not verify_password("s3cret pasS", theirs)
    ours = hash_password("s3cret pass")
    assert ours.split("$")[1:3] == theirs.split("$")[1:3]  # $7$ and the iteration count
    assert verify_password("s3cret pass", ours) and ours != hash_password("s3cret pass")
