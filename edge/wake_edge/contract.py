"""The streaming contract: what a runtime needs to drive a streaming graph, as config.json and the manifest carry it."""

from __future__ import annotations

from typing import Any

REQUIRED = ("step_samples", "chunk_samples", "window_samples", "audio_input", "probability_output", "states")


def check_contract(contract: Any) -> dict[str, Any]:
    """The contract if it names what a runtime needs; ValueError saying what is missing otherwise."""
    if not isinstance(contract, dict):
        raise ValueError("the streaming contract is not an object")
    missing = [key for key in REQUIRED if key not in contract]
    if missing:
        raise ValueError(f"the streaming contract lacks {', '.join(missing)}")
    step, chunk = contract["step_samples"], contract["chunk_samples"]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (step, chunk)) or chunk % step:
        raise ValueError(f"chunk_samples {chunk!r} is not a whole number of steps of {step!r} samples")
    states = contract["states"]
    if not isinstance(states, list) or not all(
        isinstance(s, dict) and isinstance(s.get("input"), str) and isinstance(s.get("output"), str) for s in states
    ):
        raise ValueError("the streaming contract's states are not a list of {input, output, shape}")
    return contract
