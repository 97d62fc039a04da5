"""PlantStream: 5G industrial-internet telemetry for smart factories.

The core package holds what every part shares and a gateway can install: the wire
format, the topic layout, configuration models, the error hierarchy and the CLI.
It imports nothing server-side (no numpy, numba or HTTP clients) at module level.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
