"""Augmentation of raw audio batches and log-mel features: shapes, seeding, levels, the RIR cache and the pipeline."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.training import augment, rooms
from worker.training.augment import (
    AugmentConfig,
    Augmenter,
    GainConfig,
    NoiseConfig,
    PitchConfig,
    PlacementConfig,
    SpeedConfig,
    change_speed,
    colored_noise,
    mix_at_snr,
    place_in_window,
    random_gain,
    random_noise,
    random_pitch,
    random_speed,
    shift_pitch,
)
from worker.training.data import fit_window, stack_windows
from worker.training.draws import make_generator
from worker.training.rooms import ReverbConfig, convolve_rir, load_or_build_rir_bank, random_reverb, rir_bank_path
from worker.training.spectral import SpecAugmentConfig, spec_augment, spec_augment_masks

pytestmark = pytest.mark.unit

RATE = 16_000
WINDOW = RATE
SMALL_REVERB = ReverbConfig(bank_size=8, rt60_s=(0.2, 0.4))
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # On two shared cores torch's intra-op threads fight each other; one is faster for these small batches.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def speech_like(batch: int = 4, samples: int = WINDOW, seed: int = 0) -> torch.Tensor:
    """Harmonic tones with a wobbling pitch, faded in and out inside silence: a stand-in for a spoken phrase."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / RATE
    rows = []
    for _ in range(batch):
        f0 = 100 + 150 * torch.rand(1, generator=gen)
        phase = 2 * math.pi * torch.cumsum(f0 + 20 * torch.sin(2 * math.pi * 4 * t), 0) / RATE
        voiced = sum(torch.sin(h * phase) / h for h in range(1, 12))
        envelope = torch.zeros(samples)
        start, length = samples // 5, samples // 2
        envelope[start : start + length] = torch.hann_window(length)
        rows.append(0.3 * voiced * envelope)
    return torch.stack(rows).float()


def snr_db(clean: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(clean.square().mean(1) / (mixed - clean).square().mean(1))


def peak_hz(row: torch.Tensor) -> float:
    """The strongest frequency of the row's middle second-and-a-bit, to 1.3 Hz."""
    middle = row[2000:14000]
    spectrum = torch.fft.rfft(middle * torch.hann_window(middle.numel())).abs()
    return int(spectrum.argmax()) * RATE / middle.numel()


def tone(hz: float, samples: int = WINDOW) -> torch.Tensor:
    return torch.sin(2 * math.pi * hz * torch.arange(samples) / RATE)[None, :]


@pytest.fixture(scope="module")
def rir_bank() -> torch.Tensor:
    return torch.from_numpy(rooms.build_rir_bank(SMALL_REVERB))


@pytest.fixture(scope="module")
def noise_bank() -> torch.Tensor:
    return colored_noise(3, 24_000, torch.tensor([0.0, 1.0, 2.0]), 99)


def parts(rir_bank: torch.Tensor, noise_bank: torch.Tensor) -> dict[str, Callable[[torch.Tensor, int], torch.Tensor]]:
    """Each audio part as f(batch, seed), applied to every row."""
    return {
        "placement": lambda x, s: place_in_window(x[:, : WINDOW // 2], WINDOW, s),
        "gain": lambda x, s: random_gain(x, s, GainConfig(probability=1.0)),
        "noise": lambda x, s: random_noise(x, s, NoiseConfig(probability=1.0), noise_bank),
        "reverb": lambda x, s: random_reverb(x, s, rir_bank, ReverbConfig(probability=1.0)),
        "speed": lambda x, s: random_speed(x, s, SpeedConfig(probability=1.0))[0],
        "pitch": lambda x, s: random_pitch(x, s, PitchConfig(probability=1.0)),
    }


PART_NAMES = ["placement", "gain", "noise", "reverb", "speed", "pitch"]


@pytest.mark.parametrize("name", PART_NAMES)
def test_each_augmentation_keeps_the_batch_shape_and_gives_finite_audio(
    name: str, rir_bank: torch.Tensor, noise_bank: torch.Tensor
) -> None:
    audio = speech_like()
    out = parts(rir_bank, noise_bank)[name](audio, 0)
    assert out.shape == audio.shape
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", PART_NAMES)
def test_same_seed_gives_identical_output_and_another_seed_a_different_one(
    name: str, rir_bank: torch.Tensor, noise_bank: torch.Tensor
) -> None:
    audio = speech_like()
    part = parts(rir_bank, noise_bank)[name]
    assert torch.equal(part(audio, 1), part(audio, 1))
    assert torch.equal(part(audio, make_generator(1)), part(audio, 1))
    assert not torch.equal(part(audio, 1), part(audio, 2))


def test_spec_augment_keeps_the_shape_and_follows_the_seed() -> None:
    features = torch.randn(4, 40, 98)
    assert spec_augment(features, 1).shape == features.shape
    assert torch.equal(spec_augment(features, 1), spec_augment(features, 1))
    assert not torch.equal(spec_augment(features, 1), spec_augment(features, 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("source", ["bank", "colored"])
@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_asked_snr(snr: float, source: str, device: str, noise_bank: torch.Tensor) -> None:
    audio = speech_like(batch=6).to(device)
    config = NoiseConfig(probability=1.0, snr_db=(snr, snr), bank_share=1.0)
    bank = noise_bank.to(device) if source == "bank" else None
    mixed = random_noise(audio, make_generator(3, device), config, bank)
    assert mixed.device == audio.device
    assert torch.allclose(snr_db(audio, mixed).cpu(), torch.full((6,), snr), atol=0.5)


def test_bank_clips_shorter_than_the_window_loop_and_still_hit_the_snr() -> None:
    audio = speech_like()
    short_bank = colored_noise(2, 5_000, 1.0, 4)
    mixed = random_noise(audio, 5, NoiseConfig(probability=1.0, snr_db=(5.0, 5.0), bank_share=1.0), short_bank)
    assert torch.allclose(snr_db(audio, mixed), torch.full((4,), 5.0), atol=0.5)
    assert (mixed - audio)[:, 5_000:10_000].abs().sum(1).gt(0).all()


def test_silent_rows_get_noise_below_the_reference_level_and_silent_noise_adds_nothing() -> None:
    silent = torch.zeros(2, WINDOW)
    noise = colored_noise(2, WINDOW, 0.0, 6)
    mixed = mix_at_snr(silent, noise, 10.0)
    expected_db = 10 * math.log10(augment.REFERENCE_POWER) - 10.0
    assert torch.allclose(10 * torch.log10(mixed.square().mean(1)), torch.full((2,), expected_db), atol=0.5)
    audio = speech_like(batch=2)
    assert torch.equal(mix_at_snr(audio, torch.zeros_like(audio), 0.0), audio)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_colored_noise_has_unit_rms_and_a_power_spectrum_falling_as_one_over_f_to_the_alpha(alpha: float) -> None:
    noise = colored_noise(16, WINDOW, alpha, 7)
    assert torch.allclose(noise.square().mean(1).sqrt(), torch.ones(16), atol=1e-4)
    power = torch.fft.rfft(noise).abs().square().mean(0)
    freqs = torch.fft.rfftfreq(WINDOW, 1 / RATE)
    band = (freqs > 50) & (freqs < 4000)
    slope = np.polyfit(np.log10(freqs[band].numpy()), np.log10(power[band].numpy()), 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.15)


@pytest.mark.parametrize("db", [-6.0, 0.0, 3.5])
def test_gain_scales_every_row_by_the_asked_db(db: float) -> None:
    audio = speech_like()
    out = random_gain(audio, 0, GainConfig(probability=1.0, db=(db, db)))
    measured = 10 * torch.log10(out.square().sum(1) / audio.square().sum(1))
    assert torch.allclose(measured, torch.full((4,), db), atol=0.01)


def test_gain_draws_stay_within_the_range() -> None:
    audio = torch.ones(256, 10)
    out = random_gain(audio, 0, GainConfig(probability=1.0, db=(-3.0, 2.0)))
    measured = 20 * torch.log10(out[:, 0])
    assert measured.min() >= -3.0 - 1e-4 and measured.max() <= 2.0 + 1e-4
    assert measured.max() - measured.min() > 4.0


def test_rir_bank_is_built_once_then_loaded_from_its_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_or_build_rir_bank(tmp_path, SMALL_REVERB)
    path = rir_bank_path(tmp_path, SMALL_REVERB)
    assert path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the temp file was renamed, not left behind

    def no_rebuild(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the cached bank should have been loaded")

    monkeypatch.setattr(augment, "build_rir_bank", no_rebuild)
    second = load_or_build_rir_bank(tmp_path, SMALL_REVERB)
    assert np.array_equal(first, second)
    assert first.shape == (8, math.ceil(0.4 * RATE)) and first.dtype == np.float32


def test_rir_bank_is_the_same_for_the_same_seed_and_has_its_own_file_per_setting(tmp_path: Path) -> None:
    assert np.array_equal(rooms.build_rir_bank(SMALL_REVERB), rooms.build_rir_bank(SMALL_REVERB))
    other = ReverbConfig(bank_size=8, rt60_s=(0.2, 0.4), seed=1)
    assert rir_bank_path(tmp_path, other) != rir_bank_path(tmp_path, SMALL_REVERB)
    assert not np.array_equal(rooms.build_rir_bank(other), rooms.build_rir_bank(SMALL_REVERB))


def test_a_truncated_rir_cache_file_is_rebuilt(tmp_path: Path) -> None:
    good = load_or_build_rir_bank(tmp_path, SMALL_REVERB)
    path = rir_bank_path(tmp_path, SMALL_REVERB)
    path.write_bytes(path.read_bytes()[:1000])
    assert np.array_equal(load_or_build_rir_bank(tmp_path, SMALL_REVERB), good)


def test_rirs_start_with_the_direct_path_and_decay(rir_bank: torch.Tensor) -> None:
    assert torch.allclose(rir_bank.square().sum(1), torch.ones(8), atol=1e-4)
    assert (rir_bank.abs().argmax(1) == 0).all()
    early = rir_bank[:, : RATE // 20].square().sum(1)
    late = rir_bank[:, RATE // 5 :].square().sum(1)
    assert (late < early / 100).all()


@pytest.mark.parametrize("device", DEVICES)
def test_reverberation_keeps_the_input_length_and_level(device: str, rir_bank: torch.Tensor) -> None:
    audio = speech_like().to(device)
    out = random_reverb(audio, make_generator(0, device), rir_bank.to(device), ReverbConfig(probability=1.0))
    assert out.shape == audio.shape
    assert torch.allclose(out.square().mean(1).sqrt(), audio.square().mean(1).sqrt(), rtol=1e-3)
    assert not torch.allclose(out, audio, atol=1e-3)


def test_convolution_with_a_unit_impulse_is_the_identity() -> None:
    audio = speech_like()
    impulse = torch.zeros(300)
    impulse[0] = 1.0
    assert torch.allclose(convolve_rir(audio, impulse), audio, atol=1e-5)


def test_placement_puts_a_shorter_clip_whole_at_a_random_offset_with_zeros_around() -> None:
    clip = torch.arange(1, 4001, dtype=torch.float32).repeat(8, 1)
    out = place_in_window(clip, WINDOW, 0)
    offsets = set()
    for row in out:
        nonzero = row.nonzero().squeeze(1)
        start = int(nonzero[0])
        assert torch.equal(row[start : start + 4000], clip[0])
        assert row.abs().sum() == clip[0].abs().sum()
        offsets.add(start)
    assert len(offsets) > 1


def test_placement_crops_a_longer_clip_and_keeps_a_positive_phrase_in_the_window() -> None:
    samples = 3 * WINDOW
    clip = torch.zeros(64, samples)
    clip[:, 2 * WINDOW + 4000 : 2 * WINDOW + 8000] = 1.0  # the phrase, late in a long clip
    positives = torch.tensor([True] * 32 + [False] * 32)
    out = place_in_window(clip, WINDOW, 0, positives=positives)
    assert out.shape == (64, WINDOW)
    assert (out[:32].sum(1) == 4000).all(), "every positive window holds the whole phrase"
    assert (out[32:].sum(1) < 4000).any(), "negatives are cropped anywhere"


def test_placement_without_a_generator_centres_as_validation_does() -> None:
    clips = [np.arange(1, n + 1, dtype=np.float32) for n in (9_000, 16_000, 20_001)]
    padded = torch.zeros(3, 20_001)
    for i, clip in enumerate(clips):
        padded[i, : clip.size] = torch.from_numpy(clip)
    lengths = torch.tensor([c.size for c in clips])
    out = place_in_window(padded, WINDOW, None, lengths=lengths)
    assert np.array_equal(out.numpy(), np.stack([fit_window(c, WINDOW) for c in clips]))


def test_speed_factor_scales_frequency_and_shortens_the_clip() -> None:
    faster = change_speed(tone(440.0), 1.1)
    assert peak_hz(faster[0]) == pytest.approx(484.0, abs=2.0)
    audio = speech_like(batch=2)
    out, lengths = random_speed(audio, 0, SpeedConfig(probability=1.0, factor=(1.25, 1.25)))
    assert lengths.tolist() == [12_800, 12_800]
    assert (out[:, 12_800:] == 0).all()


@pytest.mark.parametrize("semitones", [-2.0, 2.0])
def test_pitch_shift_moves_a_tone_by_the_asked_semitones_at_the_same_length(semitones: float) -> None:
    shifted = shift_pitch(tone(440.0), semitones)
    assert shifted.shape == (1, WINDOW)
    assert peak_hz(shifted[0]) == pytest.approx(440.0 * 2 ** (semitones / 12), abs=2.0)
    assert shifted.square().mean() == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize("fill", ["mean", "zero"])
def test_spec_augment_masks_stay_within_their_limits_and_take_the_fill_value(fill: str) -> None:
    config = SpecAugmentConfig(freq_masks=2, max_freq_width=5, time_masks=3, max_time_width=7, fill=fill)
    features = torch.randn(32, 40, 98) + 3.0
    freq, time = spec_augment_masks(tuple(features.shape), 4, config)
    assert freq.sum(1).max() <= 2 * 5 and time.sum(1).max() <= 3 * 7
    assert freq.any(1).float().mean() > 0.5 and time.any(1).float().mean() > 0.5

    out = spec_augment(features, 4, config)
    masked = freq[:, :, None] | time[:, None, :]
    expected = features.mean(dim=(1, 2), keepdim=True) if fill == "mean" else torch.zeros(32, 1, 1)
    assert torch.equal(out[~masked], features[~masked])
    assert torch.allclose(out, torch.where(masked, expected, features))


def test_spec_augment_with_zero_widths_changes_nothing() -> None:
    features = torch.randn(4, 40, 98)
    config = SpecAugmentConfig(max_freq_width=0, max_time_width=0)
    assert torch.equal(spec_augment(features, 0, config), features)


def clips_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clips of 0.6-1.4 s zero-padded into one batch, their lengths and labels."""
    lengths = torch.tensor([9_600, 16_000, 22_400, 12_000, 19_000, 14_000])
    audio = speech_like(batch=6, samples=int(lengths.max()))
    audio *= torch.arange(audio.shape[1])[None, :] < lengths[:, None]
    return audio, lengths, torch.tensor([1, 1, 1, 0, 0, 0])


def test_augmenter_turns_clips_into_windows_deterministically(tmp_path: Path, noise_bank: torch.Tensor) -> None:
    config = AugmentConfig(
        speed=SpeedConfig(probability=1.0),
        pitch=PitchConfig(probability=1.0),
        reverb=ReverbConfig(bank_size=8, rt60_s=(0.2, 0.4), probability=1.0),
        noise=NoiseConfig(probability=1.0),
    )
    augmenter = Augmenter(config, WINDOW, noise_bank=noise_bank, cache_dir=tmp_path)
    assert rir_bank_path(tmp_path, config.reverb).is_file()
    audio, lengths, labels = clips_batch()
    out = augmenter(audio, labels, 11, lengths)
    assert out.shape == (6, WINDOW)
    assert torch.isfinite(out).all()
    assert torch.equal(out, augmenter(audio, labels, 11, lengths))
    assert not torch.equal(out, augmenter(audio, labels, 12, lengths))
    features = torch.randn(6, 40, 98)
    assert torch.equal(augmenter.mask_features(features, 3), spec_augment(features, 3, config.spec_augment))


def test_a_disabled_augmenter_gives_the_centred_windows_validation_uses() -> None:
    audio, lengths, labels = clips_batch()
    augmenter = Augmenter(AugmentConfig(enabled=False), WINDOW)
    assert augmenter.rir_bank is None
    out = augmenter(audio, labels, 0, lengths)
    clips = [row[:n].numpy() for row, n in zip(audio, lengths.tolist(), strict=True)]
    assert np.array_equal(out.numpy(), stack_windows(clips, np.arange(6), WINDOW))
    features = torch.randn(6, 40, 98)
    assert augmenter.mask_features(features, 0) is features


def test_augmenter_adds_noise_to_positives_and_negatives_alike() -> None:
    only_noise = AugmentConfig(
        placement=PlacementConfig(enabled=False),
        speed=SpeedConfig(enabled=False),
        pitch=PitchConfig(enabled=False),
        reverb=ReverbConfig(enabled=False),
        gain=GainConfig(enabled=False),
        noise=NoiseConfig(probability=1.0, snr_db=(10.0, 10.0)),
    )
    audio = speech_like(batch=6)
    out = Augmenter(only_noise, WINDOW)(audio, torch.tensor([1, 0, 1, 0, 1, 0]), 0)
    assert torch.allclose(snr_db(audio, out), torch.full((6,), 10.0), atol=0.5)


@pytest.mark.parametrize("device", DEVICES)
def test_augmenter_runs_where_the_batch_is_and_moves_its_banks_with_it(device: str, noise_bank: torch.Tensor) -> None:
    config = AugmentConfig(reverb=ReverbConfig(bank_size=4, rt60_s=(0.2, 0.3)))
    augmenter = Augmenter(config, WINDOW, noise_bank=noise_bank).to(device)
    assert augmenter.rir_bank is not None and augmenter.rir_bank.device.type == device
    audio, lengths, labels = clips_batch()
    out = augmenter(audio.to(device), labels.to(device), make_generator(0, device), lengths.to(device))
    assert out.device.type == device and out.shape == (6, WINDOW)


@pytest.mark.parametrize(
    "make",
    [
        lambda: NoiseConfig(snr_db=(20.0, 0.0)),
        lambda: GainConfig(probability=1.5),
        lambda: SpeedConfig(factor=(0.0, 1.1)),
        lambda: ReverbConfig(bank_size=0),
        lambda: SpecAugmentConfig(max_time_width=-1),
    ],
)
def test_configs_refuse_impossible_settings_with_a_message(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="must"):
        make()


def test_mix_at_snr_scales_each_rows_noise_to_its_own_ratio() -> None:
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((3, 1_000)).astype(np.float32)
    noise = 5 * rng.standard_normal((3, 1_000)).astype(np.float32)
    snr = np.array([0.0, 10.0, 20.0])
    clean = torch.from_numpy(signal)
    added = (mix_at_snr(clean, torch.from_numpy(noise), torch.from_numpy(snr)) - clean).numpy()
    measured = 10 * np.log10(np.mean(signal**2, axis=1) / np.mean(added**2, axis=1))
    assert np.allclose(measured, snr, atol=1e-3)
