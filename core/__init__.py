"""PlantStream: 5G industrial-internet telemetry for smart factories.

This package (folder `core/`) holds only the contracts every part shares and a gateway
installs: the wire format, the topic layout, configuration models, the error hierarchy,
the MQTT client factory, signals, sd_notify and the CLI dispatcher. It imports no other
package of ours and nothing server-side (no numpy, numba, InfluxDB or HTTP-server code);
`tests/core/test_import_contract.py` keeps both true.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
