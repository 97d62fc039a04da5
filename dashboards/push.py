"""`plantstream dashboards push`: create or update, through Grafana's HTTP API
(grafana-client), the PlantStream folders (one per language: "PlantStream" and
"PlantStream（中文）"), the InfluxQL data source, the dashboards in each language and the
alert rules (provisioning API). Idempotent: each object is addressed by its fixed uid,
so running it twice leaves two folders, one data source, each dashboard once per folder
and one copy of each rule, updated in place.

Errors are mapped to `GrafanaError` subclasses with the step and a reason: a bad URL
or a closed port (`GrafanaUnreachable`), a refused token (`GrafanaAuthError`, 401), a
token without the needed role (`GrafanaPermissionError`, 403).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
    GrafanaUnauthorizedError,
)

from plantstream.config import PlantConfig
from plantstream.dashboards._grafana import DATASOURCE_UID, FOLDERS
from plantstream.dashboards.alerts import AlertRule, build_rules
from plantstream.dashboards.catalog import build_every_language
from plantstream.dashboards.errors import (
    GrafanaAuthError,
    GrafanaPermissionError,
    GrafanaRequestError,
    GrafanaUnreachable,
)
from plantstream.dashboards.provisioning import datasource_model
from plantstream.dashboards.settings import DashboardSettings

__all__ = ["PushStep", "plan", "push"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PushStep:
    kind: str  # folder, datasource, dashboard
    uid: str
    title: str
    action: str = "planned"  # planned (dry run), created, updated


def plan(settings: DashboardSettings, plant: PlantConfig | None = None) -> list[PushStep]:
    """What push creates or updates, in order (also the dry-run output): per language
    its folder and dashboards, the data source after the first folder; then the alert
    rules, when a plant configuration is given."""
    steps: list[PushStep] = []
    for lang, models in build_every_language(settings).items():
        uid, title = FOLDERS[lang]
        steps.append(PushStep("folder", uid, title))
        if len(steps) == 1:
            steps.append(PushStep("datasource", DATASOURCE_UID,
                                  datasource_model(settings)["name"]))
        steps += [PushStep("dashboard", m["uid"], m["title"]) for m in models.values()]
    if plant is not None:
        steps += [PushStep("alert rule", r.uid, r.title) for r in build_rules(plant, settings)]
    return steps


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise GrafanaUnreachable(url=url, step="connect",
                                 reason="not an http(s) URL with a host, e.g. "
                                        "http://grafana:3000")


def _call(url: str, step: str, fn: Callable[[], T]) -> T:
    """Run one API call; translate grafana-client's exceptions into ours."""
    try:
        return fn()
    except GrafanaUnauthorizedError as exc:
        raise GrafanaAuthError(url=url, step=step, status=401,
                               reason="the token (or user and password) was refused") from exc
    except GrafanaTimeoutError as exc:
        raise GrafanaUnreachable(url=url, step=step, reason=f"timed out: {exc}") from exc
    except GrafanaClientError as exc:
        if exc.status_code == 403:
            raise GrafanaPermissionError(
                url=url, step=step, status=403,
                reason="permission denied: the token needs the Editor role for "
                       "dashboards and folders and Admin for data sources") from exc
        raise GrafanaRequestError(url=url, step=step, status=exc.status_code,
                                  reason=str(exc.message)) from exc
    except GrafanaServerError as exc:
        raise GrafanaRequestError(url=url, step=step, status=exc.status_code,
                                  reason=str(exc.message)) from exc
    except GrafanaException as exc:  # status 0: the request never got an answer
        raise GrafanaUnreachable(url=url, step=step, reason=str(exc.message)) from exc
    except niquests.exceptions.RequestException as exc:  # refused, DNS, TLS, bad URL
        raise GrafanaUnreachable(url=url, step=step, reason=str(exc)) from exc


def _exists(url: str, step: str, fn: Callable[[], Any]) -> bool:
    try:
        _call(url, step, fn)
    except GrafanaRequestError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def push(*, url: str, settings: DashboardSettings, token: str | None = None,
         influx_user: str | None = None, influx_password: str | None = None,
         influx_token: str | None = None, dry_run: bool = False,
         timeout_s: float = 10.0, plant: PlantConfig | None = None) -> list[PushStep]:
    """Create or update everything in `plan`; with `dry_run`, contact nothing.

    `token` is a Grafana service-account token; without it, credentials in the URL
    (`http://user:password@host:3000`) are used. The data source gets the InfluxDB
    v1 user and password, or a 2.x / 3.x token, when given.
    """
    steps = plan(settings, plant)
    _check_url(url)
    if dry_run:
        return steps
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    done: list[PushStep] = []
    for lang, models in build_every_language(settings).items():
        folder_uid, folder_title = FOLDERS[lang]
        done.append(_folder(api, url, folder_uid, folder_title))
        if len(done) == 1:
            done.append(_datasource(api, url, datasource_model(
                settings, user=influx_user, password=influx_password, token=influx_token)))
        for model in models.values():
            uid = str(model["uid"])
            existed = _exists(url, f"read dashboard {uid}",
                              lambda uid=uid: api.dashboard.get_dashboard(uid))  # type: ignore[misc]
            _call(url, f"save dashboard {uid}",
                  lambda model=model, folder_uid=folder_uid:  # type: ignore[misc]
                  api.dashboard.update_dashboard(
                      {"dashboard": {**model, "id": None}, "folderUid": folder_uid,
                       "overwrite": True, "message": "plantstream dashboards push"}))
            done.append(PushStep("dashboard", uid, str(model["title"]),
                                 "updated" if existed else "created"))
            log.info("dashboard %s %s", uid, done[-1].action)
    if plant is not None:
        for rule in build_rules(plant, settings):
            done.append(_push_rule(api, url, rule))
    return done


def _folder(api: Any, url: str, uid: str, title: str) -> PushStep:
    exists = _exists(url, "read folder", lambda: api.folder.get_folder(uid))
    if exists:
        _call(url, "update folder", lambda: api.folder.update_folder(
            uid, title=title, overwrite=True))
    else:
        _call(url, "create folder", lambda: api.folder.create_folder(title, uid=uid))
    return PushStep("folder", uid, title, "updated" if exists else "created")


def _datasource(api: Any, url: str, source: dict[str, Any]) -> PushStep:
    exists = _exists(url, "read data source",
                     lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID))
    if exists:
        _call(url, "update data source",
              lambda: api.datasource.update_datasource_by_uid(DATASOURCE_UID, source))
    else:
        _call(url, "create data source", lambda: api.datasource.create_datasource(source))
    return PushStep("datasource", DATASOURCE_UID, str(source["name"]),
                    "updated" if exists else "created")


def _push_rule(api: GrafanaApi, url: str, rule: AlertRule) -> PushStep:
    """Create the rule, or update it in place when its uid exists. Provenance is
    disabled so operators may still edit a pushed rule in the UI (a file-provisioned
    rule is locked instead)."""
    model = rule.model()
    existed = _exists(url, f"read alert rule {rule.uid}",
                      lambda: api.alertingprovisioning.get_alertrule(  # type: ignore[no-untyped-call]
                          rule.uid))
    if existed:
        _call(url, f"update alert rule {rule.uid}",
              lambda: api.alertingprovisioning.update_alertrule(  # type: ignore[no-untyped-call]
                  rule.uid, model, disable_provenance=True))
    else:
        _call(url, f"create alert rule {rule.uid}",
              lambda: api.alertingprovisioning.create_alertrule(  # type: ignore[no-untyped-call]
                  model, disable_provenance=True))
    log.info("alert rule %s %s", rule.uid, "updated" if existed else "created")
    return PushStep("alert rule", rule.uid, rule.title, "updated" if existed else "created")
