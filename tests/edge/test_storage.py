"""The gateway agent survives its own storage (issue 21), run as the systemd unit runs
it: a process restarted after it exits (here 0.5 s instead of 5 s). The broker refuses
the gateway's batch topic until the test fixes its ACL, so batches stay queued as in
an outage while health still arrives; then everything stored must arrive exactly once.

Cases: a full small filesystem (tmpfs, mounted as root), a damaged queue file
(truncated; a page of random bytes), a lost WAL file, an unusable state directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from plantstream.config import MqttConfig, to_toml
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import Mosquitto
from plantstream.edge.config import ClockConfig, EdgeConfig, GatewaySettings
from plantstream.topics import Topics
from plantstream.wire import Batch, Health

pytestmark = [pytest.mark.services, pytest.mark.slow]

PATIENCE_S = 60.0  # a hang guard: every condition holds within seconds when it works


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE_S:.0f} s: {what}")
        time.sleep(0.05)


async def until(condition: Callable[[], bool], what: str) -> None:
    await asyncio.to_thread(wait_until, condition, what)


# --------------------------------------------------------------------------- fixtures


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    result = _mount("-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount_point))
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False).returncode:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


@dataclass
class Gateway:
    """A broker whose ACL can refuse the gateway's batch topic, what it delivers, and
    the agent process supervised like `Restart=always`."""

    broker: Mosquitto
    config: EdgeConfig
    config_path: Path
    log_path: Path
    acl_path: Path
    seqs: list[int] = field(default_factory=list)
    health: list[Health] = field(default_factory=list)
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    _supervising: bool = False
    _thread: threading.Thread | None = None

    @property
    def queue_path(self) -> Path:
        return self.config.state_path / "queue.sqlite"

    def allow_batches(self, allowed: bool) -> None:
        gw = self.config.gateway
        prefix = f"{self.config.mqtt.topic_root}/v1/{gw.site}/{gw.id}"
        lines = [f"topic read {self.config.mqtt.topic_root}/#", f"topic write {prefix}/status",
                 f"topic write {prefix}/health"] + ([f"topic write {prefix}/batch"]
                                                    if allowed else [])
        self.acl_path.write_text("\n".join(lines) + "\n")
        if self.broker.pid is not None:
            os.kill(self.broker.pid, signal.SIGHUP)  # Mosquitto reloads its ACL

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- the agent as a supervised process ---------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "plantstream.cli", "edge", "run", "--config",
                 str(self.config_path), "--drain-timeout", "1"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _supervise(self) -> None:
        while self._supervising:
            self.process = self._spawn()
            self.starts += 1
            self.exit_codes.append(self.process.wait())
            if self._supervising:
                time.sleep(0.5)  # RestartSec (5 s in the unit)

    def start(self) -> None:
        """Start supervising (counting starts and exits afresh)."""
        self.starts, self.exit_codes = 0, []
        self._supervising = True
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()
        wait_until(lambda: self.process is not None and self.process.poll() is None,
                   "the agent started")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self._supervising = False
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._thread is not None:
            self._thread.join(timeout=PATIENCE_S)
            self._thread = None
        self.process = None

    def restart(self) -> None:
        """`systemctl restart`: SIGTERM, and the supervisor starts it again."""
        assert self.process is not None
        before = self.starts
        self.process.send_signal(signal.SIGTERM)
        wait_until(lambda: self.starts > before, "the agent restarted")

    # --- what is on disk --------------------------------------------------------

    def meta(self, key: str) -> int:
        """A value of the queue's meta table (-1 while it cannot be read: not created
        yet, or damaged and not yet recovered by the agent)."""
        try:
            with contextlib.closing(sqlite3.connect(self.queue_path, timeout=10)) as db:
                row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            return -1
        return 0 if row is None else int(row[0])

    def high_water(self) -> int:
        try:
            return int((self.config.state_path / "seq.hwm").read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0


async def _read(gateway: Gateway, ready: asyncio.Event) -> None:
    batches, healths = msgspec.json.Decoder(Batch), msgspec.json.Decoder(Health)
    topics = Topics(root=gateway.config.mqtt.topic_root)
    async with aiomqtt.Client("127.0.0.1", gateway.broker.port,
                              protocol=aiomqtt.ProtocolVersion.V5,
                              identifier=f"{topics.root}-reader") as client:
        await client.subscribe(topics.all_batches, qos=1)
        await client.subscribe(topics.all_health, qos=1)
        ready.set()
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            if message.topic.value.endswith("/batch"):
                gateway.seqs.append(batches.decode(payload).seq)
            else:
                gateway.health.append(healths.decode(payload))


@contextlib.asynccontextmanager
async def gateway_on(tmp_path: Path, topic_root: str, state_dir: Path, *,
                     speedup: float = 100.0, **settings: object) -> AsyncIterator[Gateway]:
    plant, sims = demo_plant(1, seed=6)
    gw = plant.gateways[0]
    acl = tmp_path / "acl"
    broker = Mosquitto(data_dir=tmp_path / "broker", extra_config=f"acl_file {acl}\n")
    start_ms = int(time.time() * 1000) - 24 * 3_600_000
    config = EdgeConfig(
        gateway=GatewaySettings(id=gw.id, site=gw.site, flush_interval_s=10,
                                state_dir=str(state_dir), health_interval_s=0.2,
                                keep_acked_s=0, republish_again_s=0,
                                **settings),  # type: ignore[arg-type]
        mqtt=MqttConfig(port=broker.port, topic_root=topic_root),
        sources=[sims[gw.id]], clock=ClockConfig(speedup=speedup, start_ms=start_ms))
    config_path = tmp_path / "edge.toml"
    config_path.write_bytes(to_toml(config))
    gateway = Gateway(broker=broker, config=config, config_path=config_path,
                      log_path=tmp_path / "edge.log", acl_path=acl)
    gateway.allow_batches(False)
    broker.start()
    ready = asyncio.Event()
    reader = asyncio.ensure_future(_read(gateway, ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=PATIENCE_S)
        yield gateway
    finally:
        await asyncio.to_thread(gateway.stop, signal.SIGKILL)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        broker.stop()


async def deliver_everything(gateway: Gateway) -> None:
    """Restart the agent while the topic is still refused (so no acknowledgement can
    be in flight), fix the ACL, and wait until the queue is empty; then stop."""
    refusals = gateway.log().count("refuses publishes")
    gateway.restart()
    await until(lambda: gateway.log().count("refuses publishes") > refusals,
                "the restarted agent was refused")
    gateway.allow_batches(True)
    await until(lambda: bool(gateway.health) and gateway.health[-1].backlog_batches == 0
                and gateway.health[-1].published_batches > 0, "the queue drained")
    await asyncio.to_thread(gateway.stop)
    await asyncio.sleep(0.5)  # the reader takes the last deliveries off the socket


def assert_delivered_once(gateway: Gateway) -> None:
    """Every seq ever given is delivered exactly once or counted as shed."""
    next_seq = gateway.meta("next_seq")
    shed_batches = gateway.meta("shed_batches")
    assert len(gateway.seqs) == len(set(gateway.seqs)), "a batch was delivered twice"
    assert set(gateway.seqs) <= set(range(next_seq))
    assert len(gateway.seqs) + shed_batches == next_seq


# --------------------------------------------------------------------------- cases


async def test_a_full_disk_sheds_counts_reports_and_recovers(
        small_fs: Path, tmp_path: Path, topic_root: str) -> None:
    """4 MiB filesystem, `max_queue_mb = 64`, batches refused: the queue sheds before
    the disk is full (state `low`); a disk filled by someone else makes writes fail
    (state `error`, intervals counted); space returns and it carries on. One start."""
    state = small_fs / "edge"
    async with gateway_on(tmp_path, topic_root, state, speedup=1000.0, max_queue_mb=64.0,
                          reserve_free_mb=0.5) as gateway:
        ballast = small_fs / "ballast"
        free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
        ballast.write_bytes(b"\0" * (free - 800 * 1024))  # 800 KiB left
        gateway.start()
        await until(lambda: any(h.storage == "low" and h.shed_samples > 0
                                for h in gateway.health), "shedding below the reserve")
        # someone else fills the disk
        filler = small_fs / "filler"
        with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as out:
            while True:  # until ENOSPC
                out.write(b"\0" * 4096)
        await until(lambda: any(h.storage == "error" and "disk_full" in (h.storage_error or "")
                                for h in gateway.health), "storage error reported")
        shed_then = gateway.health[-1].shed_batches
        await until(lambda: gateway.health[-1].shed_batches > shed_then,
                    "intervals that cannot be stored are counted")
        filler.unlink()
        ballast.unlink()
        await until(lambda: gateway.health[-1].storage == "ok", "storage ok again")
        closed_after = gateway.meta("next_seq")
        await until(lambda: gateway.meta("next_seq") > closed_after + 5,
                    "new batches stored after the space returned")
        assert gateway.starts == 1 and not gateway.exit_codes, gateway.log()[-2000:]
        log = gateway.log()
        assert log.count("disk_full during") == 1  # once per condition
        assert str(state / "queue.sqlite") in log and "MiB free" in log
        assert "storage works again" in log
        await deliver_everything(gateway)
        assert_delivered_once(gateway)
        assert gateway.meta("shed_intervals") > 0
        assert gateway.meta("shed_samples") > 0


def _intact(path: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                return False
            db.execute("SELECT payload FROM batches").fetchall()
    except sqlite3.DatabaseError:
        return False
    return True


def _truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _random_page(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(3 * 4096)  # a b-tree page of the batches table
        f.write(os.urandom(4096))


@pytest.mark.parametrize("damage", [_truncate_half, _random_page],
                         ids=["truncated", "random_page"])
async def test_a_damaged_queue_is_salvaged_moved_aside_and_the_gateway_carries_on(
        tmp_path: Path, topic_root: str, damage: Callable[[Path], None]) -> None:
    state = tmp_path / "edge"
    async with gateway_on(tmp_path, topic_root, state) as gateway:
        gateway.start()
        await until(lambda: gateway.high_water() >= 24, "24 batches queued")
        await asyncio.to_thread(gateway.stop)  # SIGTERM: the queue is checkpointed
        before = gateway.meta("next_seq")
        damage(gateway.queue_path)
        assert not _intact(gateway.queue_path)  # the fault happened
        gateway.start()
        await until(lambda: gateway.meta("next_seq") > before + 5, "new batches stored")
        assert gateway.starts == 1 and not gateway.exit_codes, gateway.log()[-2000:]
        log = gateway.log()
        assert "was damaged" in log and "batches recovered" in log
        aside = list(state.glob("queue.sqlite.damaged-*"))
        assert aside and any(p.name in log for p in aside)
        await deliver_everything(gateway)
    assert len(gateway.seqs) == len(set(gateway.seqs))
    assert all(s >= before for s in gateway.seqs if s not in range(before))
    assert any(s >= before for s in gateway.seqs)  # new data flows after the damage


async def test_a_lost_wal_never_reuses_a_seq(tmp_path: Path, topic_root: str) -> None:
    state = tmp_path / "edge"
    async with gateway_on(tmp_path, topic_root, state) as gateway:
        gateway.start()
        await until(lambda: gateway.high_water() >= 8, "8 batches queued")
        # a reader holds a snapshot, so what is committed next stays in the WAL
        reader = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
             "db.execute('BEGIN'); db.execute('SELECT count(*) FROM batches').fetchall(); "
             "print('ready', flush=True); sys.stdin.read()", str(gateway.queue_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert reader.stdout is not None and reader.stdout.readline() == b"ready\n"
        in_main = gateway.high_water()
        await until(lambda: gateway.high_water() >= in_main + 8, "8 batches only in the WAL")
        await asyncio.to_thread(gateway.stop, signal.SIGKILL)  # a power cut
        reader.kill()
        reader.wait()
        for pipe in (reader.stdin, reader.stdout):
            if pipe is not None:
                pipe.close()
        given = gateway.high_water()
        wal = Path(f"{gateway.queue_path}-wal")
        assert wal.stat().st_size > 0
        wal.unlink()  # the storage lost it
        with contextlib.closing(sqlite3.connect(gateway.queue_path)) as db:
            stored = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'"
                                    ).fetchone()[0])
        assert stored < given  # the fault happened: the queue forgot seqs it gave
        gateway.start()
        await until(lambda: gateway.meta("next_seq") > given + 3, "new batches stored")
        assert "are not in the queue" in gateway.log() or "was damaged" in gateway.log()
        await deliver_everything(gateway)
    assert len(gateway.seqs) == len(set(gateway.seqs))
    assert not set(gateway.seqs) & set(range(stored, given))  # lost, never reused
    assert any(s >= given for s in gateway.seqs)


def _run_once(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plantstream.cli", "edge", "run",
                           "--config", str(config_path)], capture_output=True, text=True,
                          timeout=PATIENCE_S, check=False)


def _config_file(tmp_path: Path, state_dir: Path, name: str) -> Path:
    plant, sims = demo_plant(1, seed=6)
    gw = plant.gateways[0]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(to_toml(EdgeConfig(
        gateway=GatewaySettings(id=gw.id, site=gw.site, state_dir=str(state_dir)),
        mqtt=MqttConfig(port=1), sources=[sims[gw.id]])))
    return path


def test_an_unusable_state_directory_fails_once_with_one_clear_line(
        small_fs: Path, tmp_path: Path) -> None:
    (small_fs / "edge").mkdir()
    assert _mount("-o", "remount,ro", str(small_fs)).returncode == 0
    cases = {"cannot be written": small_fs / "edge", "cannot be created": small_fs / "new"}
    for reason, state_dir in cases.items():
        result = _run_once(_config_file(tmp_path, state_dir, state_dir.name))
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert str(state_dir) in lines[0] and reason in lines[0]
        assert "Read-only file system" in lines[0]
    # a directory another running agent holds
    state_dir = tmp_path / "held"
    config_path = _config_file(tmp_path, state_dir, "held")
    holder = subprocess.Popen([sys.executable, "-m", "plantstream.cli", "edge", "run",
                               "--config", str(config_path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (state_dir / "seq.hwm").exists(), "the first agent started")
        result = _run_once(config_path)
    finally:
        holder.kill()  # the kernel releases its lock
        holder.wait()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "locked by another running agent" in result.stderr
    assert str(state_dir) in result.stderr


def test_acknowledgements_that_cannot_be_written_are_not_published_again(
        small_fs: Path) -> None:
    """The broker acknowledged, the disk is full: the queue keeps the acknowledgement in
    memory (the batch is not handed out again) and writes it once space returns."""
    from plantstream.edge.queue import DiskQueue

    path = small_fs / "edge" / "queue.sqlite"
    queue = DiskQueue(path=path, max_bytes=64 * 1024**2, keep_acked_s=3600)
    for seq in range(5):
        queue.enqueue(t_start_ms=seq * 1000, t_end_ms=(seq + 1) * 1000,
                      encode=lambda s: msgspec.json.encode(Batch(
                          v=1, site="s", gateway="g", seq=s, t_start_ms=s * 1000,
                          t_end_ms=(s + 1) * 1000, machines=[])),
                      checkpoint={"t_start_ms": 0, "machines": {}})
    queue._checkpoint()  # an empty WAL: the next write must grow it
    filler = small_fs / "filler"
    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as out:
        while True:
            out.write(b"\0" * 4096)
    try:
        queue.acknowledge([0, 1])
        assert queue.storage == "error" and "disk_full" in (queue.storage_error or "")
        window = queue.next_window(10, live_after_ms=0)
        assert [b.seq for b in window] == [2, 3, 4]
        assert len(queue) == 3
    finally:
        filler.unlink()
    queue.acknowledge([2])
    assert queue.storage == "ok"
    queue.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        acked = [r[0] for r in db.execute(
            "SELECT seq FROM batches WHERE acked_ms IS NOT NULL ORDER BY seq")]
    assert acked == [0, 1, 2]
