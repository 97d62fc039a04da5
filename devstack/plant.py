"""The demo factory: one site, three lines, two dozen believable machines.

Line 1 stamps (presses, two products), line 2 machines parts (CNC cells), line 3 heat
treats and washes (gas-fired furnaces, steam washers). Machines run a little slower
than their ideal cycle time, so effectiveness is believable (about 90%).
"""

from __future__ import annotations

from plantstream.config import Enterprise, Gateway, Line, Machine, PlantConfig, Site
from plantstream.edge.sources.simulator import SimulatedMachine, SimulatorConfig

__all__ = ["demo_plant"]

SITE = "suzhou-1"
_LINES = (
    ("line-1", "stamping", "press", {"P-100": 30.0, "P-200": 45.0}, 22.0, 0.0, 0.0),
    ("line-2", "machining", "cnc", {"P-100": 55.0, "P-300": 80.0}, 15.0, 0.0, 0.0),
    ("line-3", "heat-treat", "furnace", {"P-100": 40.0}, 12.0, 9.0, 0.0),
)


def demo_plant(machines: int = 24, *, seed: int = 1, timezone: str = "Asia/Shanghai",
               meter_devices: bool = False
               ) -> tuple[PlantConfig, dict[str, SimulatorConfig]]:
    """The plant registry and, per gateway (one per line), its simulator config.

    `meter_devices`: also one compressor sub-meter per line (`air-<line>`), a meter on
    its own without a machine state (electricity only)."""
    if machines < 1:
        raise ValueError("at least one machine")
    plant_machines: list[Machine] = []
    simulated: dict[str, list[SimulatedMachine]] = {}
    for i in range(machines):
        line_id, _, kind, ideal, rated_kw, gas, steam = _LINES[i % len(_LINES)]
        number = i // len(_LINES) + 1
        machine_id = f"{kind}-{number:02d}"
        if kind == "furnace" and number % 2 == 0:  # every other furnace is a steam washer
            machine_id, gas, steam = f"washer-{number:02d}", 0.0, 35.0
        gateway = f"gw-{line_id}"
        plant_machines.append(Machine(id=machine_id, line=line_id, gateway=gateway,
                                      ideal_cycle_s=dict(ideal)))
        simulated.setdefault(gateway, []).append(SimulatedMachine(
            id=machine_id,
            products={p: round(c * 1.1, 1) for p, c in ideal.items()},  # 10% slower than ideal
            rated_kw=rated_kw, gas_m3_per_h=gas, steam_kg_per_h=steam,
            # one small register per line, so a rollover shows up within a shift
            energy_register_modulus=100_000 if number == 1 else 2**32,
            maintenance_at="10:00" if number == 2 else None,
            meter_jitter=0.05))  # meters that step back a count now and then
    lines = sorted({m.line for m in plant_machines})
    if meter_devices:
        for line_id in lines:
            gateway = f"gw-{line_id}"
            plant_machines.append(Machine(id=f"air-{line_id}", line=line_id, gateway=gateway))
            simulated[gateway].append(SimulatedMachine(
                id=f"air-{line_id}", products={"air": 60.0}, rated_kw=30.0,
                energy_register_modulus=100_000, meter_jitter=0.05, meter_only=True))
    plant = PlantConfig(
        enterprise=Enterprise(id="demo-precision", name="Demo Precision Parts Co., Ltd.",
                              jurisdiction="cn-js-suzhou"),
        sites=[Site(id=SITE, name="Suzhou plant", timezone=timezone)],
        lines=[Line(id=line, site=SITE, name=next(x[1] for x in _LINES if x[0] == line))
               for line in lines],
        gateways=[Gateway(id=f"gw-{line}", site=SITE) for line in lines],
        machines=plant_machines)
    sims = {gw: SimulatorConfig(machines=ms, seed=seed, timezone=timezone)
            for gw, ms in simulated.items()}
    return plant, sims
