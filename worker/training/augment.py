"""On-the-fly augmentation of raw 16 kHz audio batches and log-mel features: seeded, on the batch's own device.

Every part is a plain function of a [batch, samples] float32 tensor (log-mel [batch, mels, frames] for SpecAugment)
and a `torch.Generator` or an int seed, so the same seed gives the same output. Random numbers are drawn on the
generator's device and the work runs on the tensor's device: pass a generator made on the batch's device
(`make_generator(seed, audio.device)`) to keep everything on the GPU; a CPU generator works for any batch at the cost
of a small copy. The same seed gives different draws on CPU and CUDA generators.

The `random_*` functions apply their part to each row with the part config's `probability`, whatever its `enabled`
flag; `Augmenter` runs the enabled parts in order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from worker.training.draws import (
    Seed,
    as_generator,
    check_probability,
    check_range,
    chosen_rows,
    integers,
    per_row,
    uniform,
)
from worker.training.rooms import (
    ReverbConfig,
    build_rir_bank,
    load_or_build_rir_bank,
    random_reverb,
)
from worker.training.spectral import SpecAugmentConfig, spec_augment

SILENT_POWER = 1e-10
"""Mean square below which a row counts as silent (-100 dBFS): it has no level for an SNR to be relative to."""
REFERENCE_POWER = 0.01
"""-20 dBFS, a typical speech level: a silent row gets its noise at the asked SNR below this."""
PITCH_N_FFT = 512
PITCH_HOP = 128


@dataclass(frozen=True)
class PlacementConfig:
    """Where each clip lands in the window: at random when enabled, centred (as validation does) when not."""

    enabled: bool = True
    keep_phrase: bool = True
    """Crop a positive clip longer than the window around its energy centroid, so the phrase stays in the window."""


@dataclass(frozen=True)
class GainConfig:
    """A random level change, uniform in dB; no clipping (the model sees float audio)."""

    enabled: bool = True
    probability: float = 1.0
    db: tuple[float, float] = (-6.0, 6.0)

    def __post_init__(self) -> None:
        check_probability("gain.probability", self.probability)
        check_range("gain.db", self.db)


@dataclass(frozen=True)
class NoiseConfig:
    """Additive noise at a random SNR (power over the whole window), from the noise bank or coloured."""

    enabled: bool = True
    probability: float = 0.5
    snr_db: tuple[float, float] = (5.0, 25.0)
    bank_share: float = 0.5
    """Of the noisy rows, the share that take a noise-bank clip when there is a bank; the rest get coloured noise."""
    alpha: tuple[float, float] = (0.0, 2.0)
    """Exponent of the coloured noise's power spectrum 1/f^alpha, uniform in this range: 0 white, 1 pink, 2 brown."""

    def __post_init__(self) -> None:
        check_probability("noise.probability", self.probability)
        check_probability("noise.bank_share", self.bank_share)
        check_range("noise.snr_db", self.snr_db)
        check_range("noise.alpha", self.alpha)


@dataclass(frozen=True)
class SpeedConfig:
    """Tempo and pitch change together by resampling: factor 1.1 plays 10% faster (and higher)."""

    enabled: bool = True
    probability: float = 0.5
    factor: tuple[float, float] = (0.85, 1.18)

    def __post_init__(self) -> None:
        check_probability("speed.probability", self.probability)
        check_range("speed.factor", self.factor, positive=True)


@dataclass(frozen=True)
class PitchConfig:
    """Pitch change at the same duration: a phase-vocoder time stretch, then resampling (see shift_pitch)."""

    enabled: bool = True
    probability: float = 0.3
    semitones: tuple[float, float] = (-3.0, 3.0)

    def __post_init__(self) -> None:
        check_probability("pitch.probability", self.probability)
        check_range("pitch.semitones", self.semitones)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run and how strongly; `enabled=False` turns them all off (centred placement only)."""

    enabled: bool = True
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    pitch: PitchConfig = field(default_factory=PitchConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    gain: GainConfig = field(default_factory=GainConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


def _power(audio: torch.Tensor) -> torch.Tensor:
    return audio.square().mean(dim=1)


# --- placement --------------------------------------------------------------------------------------------------


def place_in_window(
    audio: torch.Tensor,
    window: int,
    generator: Seed | None,
    *,
    lengths: torch.Tensor | None = None,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fit each row's first `lengths` samples to `window` samples: [batch, samples] to [batch, window].

    A clip shorter than the window lands at a random offset with zeros around it; a longer one is randomly cropped,
    a positive one (where `positives` is True) so that its energy centroid lands in the window's middle half, which
    keeps a trimmed phrase whole.
    With generator None both are centred, exactly as data.fit_window does for validation.
    """
    batch, samples = audio.shape
    device = audio.device
    if lengths is None:
        lengths = torch.full((batch,), samples, device=device, dtype=torch.long)
    lengths = lengths.to(device=device, dtype=torch.long).clamp(0, samples)
    longer = lengths >= window
    slack = (lengths - window).abs()
    if generator is None:
        offset = slack // 2
    else:
        gen = as_generator(generator, device)
        low, high = torch.zeros_like(slack), slack
        if positives is not None:
            # The crop starts between 3/4 and 1/4 of a window before the centroid, so the centroid lands in the
            # window's middle half; clamping both ends alike keeps low <= high.
            keep = longer & positives.to(device=device, dtype=torch.bool)
            centroid = _energy_centroid(audio, lengths)
            last_start = (lengths - window).clamp(min=0)
            keep_low = (centroid - 0.75 * window).round().long().clamp(min=0).minimum(last_start)
            keep_high = (centroid - 0.25 * window).round().long().clamp(min=0).minimum(last_start)
            low, high = torch.where(keep, keep_low, low), torch.where(keep, keep_high, high)
        offset = low + integers(gen, high - low)
    # Source sample of output sample j: j + offset when cropping, j - offset when padding.
    source = torch.arange(window, device=device)[None, :] + torch.where(longer, offset, -offset)[:, None]
    valid = (source >= 0) & (source < lengths[:, None])
    return audio.gather(1, source.clamp(0, max(samples - 1, 0))) * valid


def _energy_centroid(audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's energy-weighted mean sample index; the middle of the clip when it is silent."""
    positions = torch.arange(audio.shape[1], device=audio.device, dtype=torch.float32)
    energy = audio.square() * (positions[None, :] < lengths[:, None])
    total = energy.sum(dim=1)
    centroid = (energy * positions).sum(dim=1) / total.clamp(min=1e-20)
    return torch.where(total > 0, centroid, lengths / 2)


# --- gain -------------------------------------------------------------------------------------------------------


def apply_gain(audio: torch.Tensor, db: torch.Tensor | float) -> torch.Tensor:
    """Each row scaled by its gain in dB (a scalar or one value per row)."""
    return audio * torch.pow(10.0, per_row(db, audio.shape[0], audio) / 20.0)[:, None]


def random_gain(audio: torch.Tensor, generator: Seed, config: GainConfig | None = None) -> torch.Tensor:
    """Each chosen row scaled by a gain uniform in config.db."""
    config = config or GainConfig()
    gen = as_generator(generator, audio.device)
    batch = audio.shape[0]
    db = uniform(gen, (batch,), *config.db, audio.device)
    chosen = chosen_rows(gen, batch, config.probability, audio.device)
    return apply_gain(audio, torch.where(chosen, db, torch.zeros_like(db)))


# --- noise ------------------------------------------------------------------------------------------------------


def colored_noise(
    batch: int,
    samples: int,
    alpha: torch.Tensor | float,
    generator: Seed,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Gaussian noise [batch, samples] with power spectrum ~ 1/f^alpha (0 white, 1 pink, 2 brown), unit RMS rows."""
    device = torch.device(device)
    gen = as_generator(generator, device)
    white = torch.randn((batch, samples), generator=gen, device=gen.device).to(device)
    spectrum = torch.fft.rfft(white, dim=1)
    freqs = torch.fft.rfftfreq(samples, device=device)
    alphas = per_row(alpha, batch, white)
    # Amplitude ~ f^(-alpha/2) gives power ~ f^-alpha; DC is dropped (it would be infinite, and is inaudible).
    shape = freqs[1:][None, :] ** (-alphas[:, None] / 2)
    spectrum = torch.cat([torch.zeros_like(spectrum[:, :1]), spectrum[:, 1:] * shape], dim=1)
    noise = torch.fft.irfft(spectrum, n=samples, dim=1)
    return noise / _power(noise).sqrt().clamp(min=1e-12)[:, None]


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor | float) -> torch.Tensor:
    """signal + noise scaled so each row's SNR, from power over the whole row, is snr_db.

    A silent row (power below SILENT_POWER) gets the noise at snr_db below REFERENCE_POWER; a silent noise row adds
    nothing.
    """
    snr = per_row(snr_db, signal.shape[0], signal)
    signal_power = _power(signal)
    reference = torch.where(signal_power < SILENT_POWER, torch.full_like(signal_power, REFERENCE_POWER), signal_power)
    noise_power = _power(noise)
    scale = torch.sqrt(reference / (noise_power.clamp(min=1e-30) * torch.pow(10.0, snr / 10.0)))
    scale = torch.where(noise_power > 0, scale, torch.zeros_like(scale))
    return signal + scale[:, None] * noise


def bank_noise(bank: torch.Tensor, batch: int, samples: int, generator: Seed) -> torch.Tensor:
    """A random noise-bank clip per row at a random offset, [batch, samples]; clips shorter than that loop."""
    gen = as_generator(generator, bank.device)
    count, length = bank.shape
    choice = integers(gen, torch.full((batch,), count - 1, device=bank.device))
    offset = integers(gen, torch.full((batch,), max(length - samples, 0), device=bank.device))
    index = (offset[:, None] + torch.arange(samples, device=bank.device)[None, :]) % length
    return bank[choice[:, None], index]


def random_noise(
    audio: torch.Tensor,
    generator: Seed,
    config: NoiseConfig | None = None,
    bank: torch.Tensor | None = None,
) -> torch.Tensor:
    """Noise added to each chosen row at an SNR uniform in config.snr_db, from the bank or coloured."""
    config = config or NoiseConfig()
    batch, samples = audio.shape
    device = audio.device
    gen = as_generator(generator, device)
    snr = uniform(gen, (batch,), *config.snr_db, device)
    chosen = chosen_rows(gen, batch, config.probability, device)
    alpha = uniform(gen, (batch,), *config.alpha, device)
    noise = colored_noise(batch, samples, alpha, gen, device)
    if bank is not None and bank.shape[0] > 0:
        from_bank = chosen_rows(gen, batch, config.bank_share, device)
        noise = torch.where(from_bank[:, None], bank_noise(bank.to(device), batch, samples, gen), noise)
    return torch.where(chosen[:, None], mix_at_snr(audio, noise, snr), audio)


# --- speed and pitch --------------------------------------------------------------------------------------------


def change_speed(audio: torch.Tensor, factors: torch.Tensor | float) -> torch.Tensor:
    """Each row resampled by linear interpolation to play `factor` times faster, from its start, same length.

    A faster row ends early and is zero-padded; a slower one loses what no longer fits. Speeding up by f folds
    content above 8 kHz / f back down (no anti-alias filter): for factors near 1 that is a little energy above 7 kHz.
    """
    batch, samples = audio.shape
    factor = per_row(factors, batch, audio)
    position = torch.arange(samples, device=audio.device, dtype=torch.float32)[None, :] * factor[:, None]
    below = position.floor().long()
    fraction = position - below
    padded = nn.functional.pad(audio, (0, 1))
    left = padded.gather(1, below.clamp(max=samples))
    right = padded.gather(1, (below + 1).clamp(max=samples))
    out = left + fraction * (right - left)
    return out * (position <= samples - 1)


def random_speed(
    audio: torch.Tensor,
    generator: Seed,
    config: SpeedConfig | None = None,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each chosen row at a speed factor uniform in config.factor; also the rows' new content lengths."""
    config = config or SpeedConfig()
    batch, samples = audio.shape
    gen = as_generator(generator, audio.device)
    factor = uniform(gen, (batch,), *config.factor, audio.device)
    chosen = chosen_rows(gen, batch, config.probability, audio.device)
    factor = torch.where(chosen, factor, torch.ones_like(factor))
    if lengths is None:
        lengths = torch.full((batch,), samples, device=audio.device, dtype=torch.long)
    new_lengths = torch.ceil(lengths.to(audio.device) / factor).long().clamp(max=samples)
    return change_speed(audio, factor), torch.where(chosen, new_lengths, lengths.to(audio.device))


def shift_pitch(audio: torch.Tensor, semitones: torch.Tensor | float) -> torch.Tensor:
    """Each row's pitch moved by `semitones` at the same duration and length.

    A phase-locked phase vocoder (512-point STFT, hop 128) stretches the row in time by the pitch ratio, then
    change_speed resamples it back to its duration, which moves every frequency by the ratio. Formants move with
    the pitch, transients smear a little, the level can move by up to about 10%, and shifting up folds content near
    8 kHz as change_speed does: tolerable for augmentation, and all of it runs on the batch's device.
    """
    batch, samples = audio.shape
    device = audio.device
    ratio = torch.pow(2.0, per_row(semitones, batch, audio) / 12.0)
    window = torch.hann_window(PITCH_N_FFT, device=device, dtype=audio.dtype)
    stft = torch.stft(
        audio, PITCH_N_FFT, PITCH_HOP, window=window, center=True, pad_mode="constant", return_complex=True
    )
    bins, frames = stft.shape[1], stft.shape[2]
    if frames < 2:
        return audio
    magnitude, phase = stft.abs(), stft.angle()
    expected = (2 * math.pi * PITCH_HOP / PITCH_N_FFT) * torch.arange(bins, device=device, dtype=audio.dtype)
    deviation = phase.diff(dim=2) - expected[None, :, None]
    deviation = deviation - 2 * math.pi * torch.round(deviation / (2 * math.pi))
    # Each bin's phase advance over one hop at its measured (not nominal) frequency.
    advance = expected[None, :, None] + deviation

    # Output frame j reads input frame j / ratio: magnitudes interpolated, phases accumulated from the advances so
    # that every bin keeps its frequency while the frames are spread out.
    # Sized for the most stretched row, and never shorter than the input: change_speed keeps its input's length.
    stretch = max(float(ratio.max()), 1.0)
    out_frames = math.ceil(frames * stretch)
    position = torch.arange(out_frames, device=device, dtype=audio.dtype)[None, :] / ratio[:, None]
    below = position.floor().long()
    fraction = (position - below)[:, None, :]

    def take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return values.gather(2, index[:, None, :].expand(-1, bins, -1))

    left = take(magnitude, below.clamp(max=frames - 1))
    right = take(magnitude, (below + 1).clamp(max=frames - 1))
    stretched_magnitude = (left + fraction * (right - left)) * (position <= frames - 1)[:, None, :]
    step = torch.remainder(take(advance, below.clamp(max=frames - 2)), 2 * math.pi)
    accumulated = phase[:, :, :1] + torch.cumsum(step, dim=2) - step
    # Identity phase locking (Laroche and Dolson): each bin takes its nearest spectral peak's accumulated phase plus
    # its own offset from that peak in the input frame. Without it, bins of one partial drift apart in phase after
    # any transient, and the overlap-add cancels part of the sound (a 20-30% power loss measured on a voiced tone).
    source_phase = take(phase, position.round().long().clamp(max=frames - 1))
    peak = _nearest_peak(stretched_magnitude)
    stretched_phase = accumulated.gather(1, peak) + source_phase - source_phase.gather(1, peak)
    stretched = torch.istft(
        torch.polar(stretched_magnitude, stretched_phase),
        PITCH_N_FFT,
        PITCH_HOP,
        window=window,
        center=True,
        length=math.ceil(samples * stretch),
    )
    return change_speed(stretched, ratio)[:, :samples]


def _nearest_peak(magnitude: torch.Tensor) -> torch.Tensor:
    """For [batch, bins, frames] magnitudes, the index of each bin's nearest local maximum over bins in its frame."""
    bins = magnitude.shape[1]
    index = torch.arange(bins, device=magnitude.device)[None, :, None].expand_as(magnitude)
    padded = nn.functional.pad(magnitude, (0, 0, 1, 1), value=-1.0)
    is_peak = (magnitude > padded[:, :-2]) & (magnitude >= padded[:, 2:]) & (magnitude > 0)
    previous = torch.cummax(torch.where(is_peak, index, -1), dim=1).values
    following = torch.cummin(torch.where(is_peak, index, bins).flip(1), dim=1).values.flip(1)
    nearer_previous = (index - previous) <= (following - index)
    peak = torch.where(nearer_previous, previous, following)
    # A frame without peaks (silence) keeps each bin's own phase.
    return torch.where((peak < 0) | (peak >= bins), index, peak)


def random_pitch(audio: torch.Tensor, generator: Seed, config: PitchConfig | None = None) -> torch.Tensor:
    """Each chosen row's pitch moved by semitones uniform in config.semitones."""
    config = config or PitchConfig()
    batch = audio.shape[0]
    gen = as_generator(generator, audio.device)
    semitones = uniform(gen, (batch,), *config.semitones, audio.device)
    chosen = chosen_rows(gen, batch, config.probability, audio.device)
    # Only the chosen rows go through the vocoder, the costliest part (about 14 ms a 1.7 s row on one CPU thread).
    rows = chosen.nonzero().squeeze(1)
    if rows.numel() == 0:
        return audio
    out = audio.clone()
    out[rows] = shift_pitch(audio[rows], semitones[rows])
    return out


# --- the pipeline -----------------------------------------------------------------------------------------------


class Augmenter(nn.Module):
    """The enabled parts in order, on raw clips to training windows: speed, pitch, placement, reverb, noise, gain.

    Speed and pitch act on the whole clip before it is fitted to the window, so a slowed phrase is not cut; the
    room (reverb) colours the phrase before noise is added, as a microphone would hear it; gain last changes the
    level of the whole mix, leaving the SNR as drawn. Placement uses the labels: a positive clip longer than the
    window is cropped around its energy (see place_in_window). Every other part applies to positives and negatives
    alike. The banks are buffers, so `.to(device)` moves them with the module.
    """

    noise_bank: torch.Tensor | None
    rir_bank: torch.Tensor | None

    def __init__(
        self,
        config: AugmentConfig,
        window: int,
        *,
        noise_bank: torch.Tensor | np.ndarray | None = None,
        rir_bank: torch.Tensor | np.ndarray | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """With reverb enabled and no rir_bank, the bank is loaded from (or built into) cache_dir, else built here."""
        super().__init__()
        self.config = config
        self.window = window
        if config.enabled and config.reverb.enabled and rir_bank is None:
            rir_bank = load_or_build_rir_bank(cache_dir, config.reverb) if cache_dir else build_rir_bank(config.reverb)
        self.register_buffer("noise_bank", _float_tensor(noise_bank), persistent=False)
        self.register_buffer("rir_bank", _float_tensor(rir_bank), persistent=False)

    def forward(
        self,
        audio: torch.Tensor,
        labels: torch.Tensor | np.ndarray,
        generator: Seed,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Clips [batch, samples] (each row's first `lengths` samples, all of it when None) to windows [batch, window].

        labels: [batch], 1 for a positive clip. With the config disabled, the windows are centred crops or pads.
        """
        config = self.config
        device = audio.device
        if not config.enabled:
            return place_in_window(audio, self.window, None, lengths=lengths)
        gen = as_generator(generator, device)
        positives = torch.as_tensor(labels, device=device) == 1
        if lengths is None:
            lengths = torch.full((audio.shape[0],), audio.shape[1], device=device, dtype=torch.long)
        if config.speed.enabled:
            # Room for a slowed clip to grow into, so slowing never cuts the end off.
            room = math.ceil(audio.shape[1] / min(config.speed.factor[0], 1.0)) - audio.shape[1]
            audio, lengths = random_speed(nn.functional.pad(audio, (0, room)), gen, config.speed, lengths)
        if config.pitch.enabled:
            audio = random_pitch(audio, gen, config.pitch)
        generator_or_none = gen if config.placement.enabled else None
        audio = place_in_window(
            audio,
            self.window,
            generator_or_none,
            lengths=lengths,
            positives=positives if config.placement.keep_phrase else None,
        )
        if config.reverb.enabled and self.rir_bank is not None:
            audio = random_reverb(audio, gen, self.rir_bank, config.reverb)
        if config.noise.enabled:
            audio = random_noise(audio, gen, config.noise, self.noise_bank)
        if config.gain.enabled:
            audio = random_gain(audio, gen, config.gain)
        return audio

    def mask_features(self, features: torch.Tensor, generator: Seed) -> torch.Tensor:
        """SpecAugment on log-mel [batch, mels, frames] when enabled; the features unchanged otherwise."""
        if not (self.config.enabled and self.config.spec_augment.enabled):
            return features
        return spec_augment(features, generator, self.config.spec_augment)


def _float_tensor(value: torch.Tensor | np.ndarray | None) -> torch.Tensor | None:
    if value is None:
        return None
    tensor = torch.as_tensor(value, dtype=torch.float32)
    if tensor.ndim != 2:
        raise ValueError(f"a bank must be [clips, samples]; got shape {tuple(tensor.shape)}")
    return tensor


def config_dict(config: AugmentConfig) -> dict[str, Any]:
    """The config as plain values, for a job's config.json."""
    return asdict(config)
