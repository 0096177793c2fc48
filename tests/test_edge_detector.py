"""The edge detector applies the service's detection rule, keeps it across a model swap, and finds near misses."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tests.test_detect import loudness_model, quiet_noise, write_wav
from wake_edge.detector import Hop, Rule, Scorer, StreamDetector
from wake_edge.model import Model
from wake_edge.runner import detect_file, offline_scorer
from worker.detect import WakeWordDetector, read_audio

pytestmark = pytest.mark.unit

RATE = 16_000


def tone(audio: np.ndarray, at_s: float, length_s: float, amplitude: float = 0.5) -> None:
    start, length = round(at_s * RATE), round(length_s * RATE)
    audio[start : start + length] += (
        amplitude * np.sin(2 * np.pi * 1_000 * np.arange(length) / RATE)[: audio.size - start]
    )


def busy_audio(seed: int, seconds: float) -> np.ndarray:
    """Noise with bursts at random times and lengths: some close together, some held, one at the very end."""
    rng = np.random.default_rng(seed)
    audio = quiet_noise(seconds, seed=seed)
    for at in np.sort(rng.uniform(0, seconds - 0.5, size=8)):
        tone(audio, float(at), float(rng.uniform(0.15, 2.5)), float(rng.uniform(0.25, 0.6)))
    tone(audio, seconds - 0.12, 0.12, 0.9)
    return audio


def edge_events(scorer: Scorer, audio: np.ndarray, block: int, max_batch: int = 32) -> list:
    detector = StreamDetector(scorer, max_batch=max_batch)
    events = []
    for start in range(0, audio.size, block):
        events += detector.feed(audio[start : start + block])
    return events + detector.finish()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("refractory_s", [1.0, 2.0, 0.05])
def test_detections_match_the_services_detector_on_the_same_model_and_file(
    tmp_path: Path, seed: int, refractory_s: float
) -> None:
    model = loudness_model(tmp_path / "export" / "model.onnx")
    # A length off the hop grid, so that the last, zero-padded window is scored too.
    wav = write_wav(tmp_path / "busy.wav", busy_audio(seed, 30.37))
    audio = read_audio(wav)
    service = WakeWordDetector(model, refractory_s=refractory_s).detect(audio)
    scorer, _source = offline_scorer(model, threshold=None, refractory_s=refractory_s)

    for block, batch in [(1_600, 32), (97, 1), (777, 5), (audio.size, 256)]:
        edge = [event for event in edge_events(scorer, audio, block, batch) if event.kind == "detection"]
        assert [round(e.time_s, 6) for e in edge] == [round(d.time_s, 6) for d in service], (block, batch)
        np.testing.assert_allclose([e.score for e in edge], [d.score for d in service], atol=1e-6)
    assert len(service) >= 3


def test_a_model_with_a_fixed_batch_of_one_detects_the_same(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "busy.wav", busy_audio(4, 12.0))
    audio = read_audio(wav)
    service = WakeWordDetector(loudness_model(tmp_path / "any" / "model.onnx")).detect(audio)
    scorer, _ = offline_scorer(
        loudness_model(tmp_path / "one" / "model.onnx", batch=1), threshold=None, refractory_s=None
    )

    edge = [e.time_s for e in edge_events(scorer, audio, 4_000) if e.kind == "detection"]

    assert edge == pytest.approx([d.time_s for d in service]) and edge


def test_the_detect_command_prints_the_same_lines_as_the_services(tmp_path: Path, capsys) -> None:
    from worker.detect import run

    model = loudness_model(tmp_path / "export" / "model.onnx")
    wav = write_wav(tmp_path / "busy.wav", busy_audio(5, 10.0))
    service_lines: list[str] = []
    run(model, wav, threshold=None, refractory_s=1.0, mic=False, echo=service_lines.append)
    edge_lines: list[str] = []

    assert detect_file(tmp_path / "export", wav, echo=edge_lines.append) == 0

    assert edge_lines == service_lines


def test_a_swap_mid_stream_neither_drops_nor_repeats_a_hop(tmp_path: Path) -> None:
    audio = busy_audio(6, 20.05)
    old = Scorer(Model(loudness_model(tmp_path / "a" / "model.onnx")), Rule(0.5), "kitchen", 1, "a" * 64)
    new = Scorer(Model(loudness_model(tmp_path / "b" / "model.onnx", batch=1)), Rule(0.6), "kitchen", 2, "b" * 64)
    expected = WakeWordDetector(old.model.path).scores(audio)
    hops: list[Hop] = []
    detector = StreamDetector(old, on_hop=hops.append)
    halfway = threading.Event()

    def swap_from_another_thread() -> None:
        halfway.wait(10)
        detector.swap(new)

    thread = threading.Thread(target=swap_from_another_thread)
    thread.start()
    for start in range(0, audio.size, 1_000):
        detector.feed(audio[start : start + 1_000])
        if start >= audio.size // 2:
            halfway.set()
            thread.join()
    detector.finish()

    ends = [hop.end_sample for hop in hops]
    assert ends[:-1] == list(range(8_000, audio.size + 1, 1_600))
    assert ends[-1] == audio.size and len(hops) == len(expected)
    np.testing.assert_allclose([hop.score for hop in hops], expected, atol=1e-6)
    versions = [hop.scorer.version for hop in hops]
    switch = versions.index(2)
    assert set(versions[:switch]) == {1} and set(versions[switch:]) == {2}
    assert 0 < switch < len(hops) - 1


def test_a_swap_to_a_longer_window_keeps_the_audio_already_heard(tmp_path: Path) -> None:
    audio = busy_audio(7, 6.0)
    short = Scorer(Model(loudness_model(tmp_path / "a" / "model.onnx", samples=8_000)), Rule(0.5))
    long = Scorer(Model(loudness_model(tmp_path / "b" / "model.onnx", samples=16_000)), Rule(0.5))
    hops: list[Hop] = []
    detector = StreamDetector(short, on_hop=hops.append)
    detector.feed(audio[: 3 * RATE])
    detector.swap(long)
    detector.feed(audio[3 * RATE :])

    first_long = next(hop for hop in hops if hop.scorer is long)
    window = audio[first_long.end_sample - 16_000 : first_long.end_sample][None, :]
    assert first_long.end_sample == hops[hops.index(first_long) - 1].end_sample + 1_600
    assert first_long.score == pytest.approx(float(long.model.score(window)[0]), abs=1e-6)


def test_a_stretch_that_comes_close_without_firing_is_one_near_miss_at_its_top(tmp_path: Path) -> None:
    model = Model(loudness_model(tmp_path / "export" / "model.onnx"))
    audio = quiet_noise(10)
    tone(audio, 2.0, 0.5, amplitude=0.27)  # rms ~0.19: just under the 0.2 that scores 0.5
    tone(audio, 6.0, 0.3, amplitude=0.5)  # a real detection: not a near miss
    scorer = Scorer(model, Rule(0.5, near_miss_ratio=0.7))
    hops: list[Hop] = []
    detector = StreamDetector(scorer, on_hop=hops.append)

    events = detector.feed(audio) + detector.finish()

    assert [event.kind for event in events] == ["near_miss", "detection"]
    near, detection = events
    assert 2.0 <= near.time_s <= 3.0 and 6.0 <= detection.time_s <= 6.8
    close = [hop.score for hop in hops if 1.5 <= hop.end_sample / RATE <= 3.5]
    assert near.score == pytest.approx(max(close)) and 0.35 <= near.score < 0.5


@pytest.fixture(scope="module")
def streaming_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tone_model import export_tone_model

    export_dir = tmp_path_factory.mktemp("streaming-export")
    export_tone_model(export_dir, window_s=1.0, architecture="streaming")
    return export_dir


@pytest.mark.parametrize("seed", [1, 2])
def test_a_streaming_export_detects_as_the_services_detector_in_any_block_size(
    streaming_export: Path, tmp_path: Path, seed: int
) -> None:
    wav = write_wav(tmp_path / "busy.wav", busy_audio(seed, 30.37))
    audio = read_audio(wav)
    service = WakeWordDetector(streaming_export / "model.onnx").detect(audio)
    scorer, _source = offline_scorer(streaming_export, threshold=None, refractory_s=None)
    assert scorer.model.streaming and scorer.rule.hop_s == pytest.approx(0.03)

    for block in (1_600, 97, 1_920, audio.size):
        edge = [event for event in edge_events(scorer, audio, block) if event.kind == "detection"]
        assert [round(e.time_s, 6) for e in edge] == [round(d.time_s, 6) for d in service], block
        np.testing.assert_allclose([e.score for e in edge], [d.score for d in service], atol=1e-6)
    assert len(service) >= 3


def test_a_swap_between_a_windowed_and_a_streaming_model_scores_every_step_once(
    streaming_export: Path, tmp_path: Path
) -> None:
    audio = busy_audio(5, 20.0)
    windowed, _ = offline_scorer(loudness_model(tmp_path / "w" / "model.onnx"), threshold=None, refractory_s=None)
    streaming, _ = offline_scorer(streaming_export, threshold=None, refractory_s=None)
    ends: list[tuple[int, bool]] = []
    detector = StreamDetector(windowed, on_hop=lambda hop: ends.append((hop.end_sample, hop.scorer.model.streaming)))
    for start in range(0, audio.size, 4_000):
        if start == 6 * RATE:
            detector.swap(streaming)
        if start == 14 * RATE:
            detector.swap(windowed)
        detector.feed(audio[start : start + 4_000])
    positions = [end for end, _ in ends]
    assert positions == sorted(set(positions))  # nothing scored twice, in order
    kinds = [is_streaming for _, is_streaming in ends]
    first_streamed = kinds.index(True)
    # The streaming model starts from the audio already heard: its first step follows the last window at once.
    assert positions[first_streamed] - positions[first_streamed - 1] == 480
    streamed = [end for end, is_streaming in ends if is_streaming]
    assert np.all(np.diff(streamed) == 480) and len(streamed) > 200
