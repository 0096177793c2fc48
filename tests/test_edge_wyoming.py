"""`wake-edge wyoming`: a wake word engine for Home Assistant, driven with wyoming's client as Home Assistant does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.server import AsyncTcpServer
from wyoming.wake import Detect, Detection, NotDetected

from tests.edge_fake_api import DEVICE_TOKEN, FakeApi
from tests.processes import free_port
from tests.test_detect import BURST_AT_S, loudness_model, quiet_noise, with_burst
from wake_edge.wyoming_server import Deployments, ServeOptions, WakeHandler

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
RATE = 16_000
SAMPLES_PER_CHUNK = 1_024
# Home Assistant's chunk timestamps are milliseconds on the pipeline's clock, not from zero.
FIRST_CHUNK_MS = 5_000


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().up()
    yield fake
    fake.down()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return loudness_model(tmp_path / "export" / "model.onnx")


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


WAKE = pcm16(with_burst(quiet_noise(8)))
SILENCE = pcm16(quiet_noise(8))


def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


class Served:
    """The Wyoming server on a free port in this process, over deployments followed from the fake API."""

    def __init__(self, api: FakeApi, state: Path, names: list[str] | None, token: str | None = DEVICE_TOKEN) -> None:
        from wake_edge.api_client import ApiClient, is_device_token
        from wake_edge.reporter import Reporter

        self.deployments = Deployments(api.url, token, state, names, poll_s=0.2)
        self.deployments.start()
        self.reporter = Reporter(ApiClient(api.url, token)) if is_device_token(token) else None
        self.options = ServeOptions(api.url, self.reporter)
        self.port = free_port()

    def run(self, scenario) -> object:
        """Run a client scenario `async (port) -> result` against the server, both on one event loop."""

        async def main() -> object:
            server = AsyncTcpServer("127.0.0.1", self.port)
            await server.start(lambda reader, writer: WakeHandler(self.deployments, self.options, reader, writer))
            try:
                return await asyncio.wait_for(scenario(self.port), timeout=30)
            finally:
                await server.stop()

        return asyncio.run(main())

    def close(self) -> None:
        self.deployments.stop()
        if self.reporter is not None:
            self.reporter.close(5)


@pytest.fixture
def served(api: FakeApi, model: Path, tmp_path: Path) -> Iterator[Served]:
    api.publish("kitchen", model, phrase="hey kitchen")
    server = Served(api, tmp_path / "state", ["kitchen"])
    wait_for(lambda: server.deployments.get("kitchen") is not None)
    yield server
    server.close()


async def describe(port: int) -> Info:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await client.read_event()
            assert event is not None
            if Info.is_type(event.type):
                return Info.from_event(event)


async def home_assistant_run(
    port: int, wake_word_id: str | None, audio: bytes, *, rate: int = RATE, channels: int = 1, stop: bool = False
) -> Event | None:
    """What homeassistant/components/wyoming/wake_word.py sends: detect, audio-start, timestamped chunks.

    It stops at the first `detection` and hangs up. With `stop`, the stream ends with audio-stop (as other clients
    do) and the answer to it is returned when nothing was detected.
    """
    width = 2
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Detect(names=[wake_word_id] if wake_word_id else None).event())
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        reader = asyncio.create_task(client.read_event())
        step = SAMPLES_PER_CHUNK * width * channels
        for offset in range(0, len(audio), step):
            timestamp = FIRST_CHUNK_MS + (offset // (width * channels)) * 1000 // rate
            chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=audio[offset : offset + step])
            chunk.timestamp = timestamp
            await client.write_event(chunk.event())
            if reader.done():
                break
        if stop and not reader.done():
            await client.write_event(AudioStop().event())
        try:
            return await asyncio.wait_for(reader, timeout=10)
        except TimeoutError:
            return None


def test_describe_lists_each_deployment_as_a_wake_model_of_an_installed_program(served: Served) -> None:
    info = served.run(describe)

    assert len(info.wake) == 1
    program = info.wake[0]
    assert program.installed and program.name == "wake-training" and program.attribution.name == "wake-training"
    [model] = program.models
    assert (model.name, model.phrase, model.description, model.version) == (
        "kitchen",
        "hey kitchen",
        "hey kitchen",
        "v1",
    )
    assert model.installed and model.languages == [] and model.attribution.url == served.options.server


def test_the_wake_word_is_detected_at_its_time_on_the_clients_clock_and_reported(served: Served, api: FakeApi) -> None:
    event = served.run(lambda port: home_assistant_run(port, "kitchen", WAKE))

    assert event is not None and Detection.is_type(event.type)
    detection = Detection.from_event(event)
    assert detection.name == "kitchen"
    assert abs(detection.timestamp - FIRST_CHUNK_MS - BURST_AT_S * 1000) <= 500
    wait_for(lambda: len(api.reports) == 1)
    assert api.reports[0]["kind"] == "detection" and "audio" in api.reports[0]


def test_audio_without_the_wake_word_ends_in_not_detected(served: Served) -> None:
    event = served.run(lambda port: home_assistant_run(port, "kitchen", SILENCE, stop=True))

    assert event is not None and NotDetected.is_type(event.type)


def test_44_1_khz_stereo_audio_is_converted_and_detected(served: Served) -> None:
    mono = with_burst(quiet_noise(8, rate=44_100), rate=44_100)
    stereo = pcm16(np.stack([mono, mono], axis=1).reshape(-1))

    event = served.run(lambda port: home_assistant_run(port, "kitchen", stereo, rate=44_100, channels=2))

    assert event is not None and Detection.is_type(event.type)
    assert abs(Detection.from_event(event).timestamp - FIRST_CHUNK_MS - BURST_AT_S * 1000) <= 500


def test_a_detect_without_names_listens_for_every_deployment_served(served: Served) -> None:
    event = served.run(lambda port: home_assistant_run(port, None, WAKE))

    assert event is not None and Detection.from_event(event).name == "kitchen"


def test_an_unknown_wake_word_gets_an_error_naming_what_is_served(served: Served) -> None:
    event = served.run(lambda port: home_assistant_run(port, "garage", WAKE))

    assert event is not None and Error.is_type(event.type)
    assert "garage" in Error.from_event(event).text and "kitchen" in Error.from_event(event).text


def test_a_changed_deployment_is_served_from_the_next_stream_on(served: Served, api: FakeApi, model: Path) -> None:
    api.publish("kitchen", model, threshold=0.999, phrase="hey kitchen")
    wait_for(lambda: served.deployments.get("kitchen").manifest.version == 2)

    info = served.run(describe)
    strict = served.run(lambda port: home_assistant_run(port, "kitchen", WAKE, stop=True))
    api.publish("kitchen", model, threshold=0.5, phrase="hey kitchen")
    wait_for(lambda: served.deployments.get("kitchen").manifest.version == 3)
    relaxed = served.run(lambda port: home_assistant_run(port, "kitchen", WAKE))

    assert info.wake[0].models[0].version == "v2"
    assert strict is not None and NotDetected.is_type(strict.type)
    assert relaxed is not None and Detection.is_type(relaxed.type)


def test_a_deployment_changed_mid_stream_takes_over_at_the_next_hop(served: Served, api: FakeApi, model: Path) -> None:
    before_burst = round((BURST_AT_S - 1) * RATE) * 2

    async def scenario(port: int) -> Event | None:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Detect(names=["kitchen"]).event())
            await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
            for offset in range(0, len(WAKE), SAMPLES_PER_CHUNK * 2):
                if offset == before_burst - before_burst % (SAMPLES_PER_CHUNK * 2):
                    api.publish("kitchen", model, threshold=0.999)
                    await asyncio.to_thread(wait_for, lambda: served.deployments.get("kitchen").manifest.version == 2)
                chunk = WAKE[offset : offset + SAMPLES_PER_CHUNK * 2]
                await client.write_event(AudioChunk(rate=RATE, width=2, channels=1, audio=chunk).event())
            await client.write_event(AudioStop().event())
            return await client.read_event()

    event = served.run(scenario)

    assert event is not None and NotDetected.is_type(event.type)


def test_with_all_every_deployment_is_served_and_the_list_follows_the_server(
    api: FakeApi, model: Path, tmp_path: Path
) -> None:
    api.token = "admin-secret"
    api.publish("kitchen", model, phrase="hey kitchen")
    api.publish("garage", model, phrase="open sesame")
    server = Served(api, tmp_path / "state", None, token="admin-secret")
    try:
        wait_for(lambda: len(server.deployments.bundles()) == 2)
        both = server.run(describe)
        api.publish("attic", model, phrase="up there")
        del api.deployments["garage"]
        wait_for(lambda: sorted(server.deployments.bundles()) == ["attic", "kitchen"])
        after = server.run(describe)
        attic = server.run(lambda port: home_assistant_run(port, "attic", WAKE))
    finally:
        server.close()

    assert {(m.name, m.phrase) for m in both.wake[0].models} == {("garage", "open sesame"), ("kitchen", "hey kitchen")}
    assert [m.name for m in after.wake[0].models] == ["attic", "kitchen"]
    assert attic is not None and Detection.from_event(attic).name == "attic"
    assert api.reports == []  # an admin token reports nothing


def test_the_wyoming_command_serves_home_assistant(api: FakeApi, model: Path, tmp_path: Path) -> None:
    api.publish("kitchen", model)
    port = free_port()
    env = {**os.environ, "WAKE_EDGE_TOKEN": DEVICE_TOKEN}
    command = [sys.executable, "-m", "wake_edge", "wyoming", "--uri", f"tcp://127.0.0.1:{port}"]
    command += ["--server", api.url, "--deployment", "kitchen", "--state-dir", str(tmp_path / "state")]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:

        async def scenario() -> tuple[Info, Event | None]:
            deadline = time.monotonic() + 30
            while True:
                try:
                    info = await describe(port)
                    if info.wake[0].models:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None, "the server did not come up"
                await asyncio.sleep(0.2)
            return info, await home_assistant_run(port, "kitchen", WAKE)

        info, event = asyncio.run(scenario())
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)

    assert [m.name for m in info.wake[0].models] == ["kitchen"]
    assert event is not None and Detection.from_event(event).name == "kitchen"
    assert "installed v1" in stderr
