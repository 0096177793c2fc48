"""wake-edge: the device side of wake-training (follow a deployment, detect, report, serve Home Assistant)."""

__version__ = "0.1.0"
