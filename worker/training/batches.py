"""Training batches: class-balanced clips, crops of the background stream, augmentation, made ahead on a thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from worker.training.augment import Augmenter, mix_at_snr
from worker.training.data import BalancedSampler, fit_window, stack_windows
from worker.training.draws import make_generator


@dataclass(frozen=True)
class NegativeMix:
    """Where a batch's negative rows come from, and how much babble goes under every row.

    The shares are of the negative rows other than the user's own clips; what they leave is whole negative clips of
    the dataset.
    """

    background_share: float = 0.25
    """Cut from the dataset's negatives played end to end (straddling windows, parts of words)."""
    speech_share: float = 0.3
    """Cut from the bank of background speech (many voices and languages; see worker.training.background)."""
    cut_phrase_share: float = 0.1
    """A positive clip cut short or cut open: "hey jarv", "arvis". Firing before the phrase ends is a false accept."""
    cut_range: tuple[float, float] = (0.3, 0.75)
    """The share of a positive clip such a cut keeps."""
    babble_probability: float = 0.3
    """Of all rows, the share with background speech mixed under them."""
    babble_snr_db: tuple[float, float] = (0.0, 20.0)


PREFETCH = 2
"""Batches made ahead of the training step: one being consumed, one ready."""


class BackgroundStream:
    """All negative and noise clips of the training side end to end, cut into windows at random offsets.

    The deployed detector slides over continuous audio, so most windows it scores straddle the end of one sound
    and the start of the next, or hold part of a word. Whole clips alone never show the model those windows.
    """

    def __init__(self, clips: list[np.ndarray], rng: np.random.Generator) -> None:
        order = rng.permutation(len(clips)) if clips else np.zeros(0, dtype=np.int64)
        self.audio = (
            np.concatenate([clips[i] for i in order]).astype(np.float32, copy=False)
            if clips
            else np.zeros(0, dtype=np.float32)
        )

    def crops(self, count: int, window: int, rng: np.random.Generator) -> np.ndarray:
        """`count` windows [count, window] at uniform random offsets (zero-padded if the stream is shorter)."""
        if self.audio.size <= window:
            out = np.zeros((count, window), dtype=np.float32)
            out[:, : self.audio.size] = self.audio
            return out
        starts = rng.integers(0, self.audio.size - window + 1, size=count)
        return np.stack([self.audio[s : s + window] for s in starts])


@dataclass
class Batch:
    """One training batch on the training device: windows [batch, samples] and labels [batch] (1.0 positive)."""

    audio: torch.Tensor
    labels: torch.Tensor
    positives: np.ndarray


class BatchMaker:
    """Draws, crops and (on the batch's device) augments training batches, in an order fixed by the seed."""

    def __init__(
        self,
        audio: list[np.ndarray],
        labels: np.ndarray,
        sampler: BalancedSampler,
        window: int,
        rng: np.random.Generator,
        *,
        seed: int,
        device: torch.device,
        augmenter: Augmenter | None,
        background: BackgroundStream | None,
        speech: BackgroundStream | None = None,
        mix: NegativeMix | None = None,
    ) -> None:
        self.audio = audio
        self.labels = labels
        self.sampler = sampler
        self.window = window
        self.rng = rng
        self.device = device
        self.augmenter = augmenter
        self.background = background if background is not None and background.audio.size > 0 else None
        self.speech = speech if speech is not None and speech.audio.size > 0 else None
        self.mix = mix or NegativeMix()
        self.positive_clips = sampler.positives
        self.user_negative = np.zeros(labels.size, dtype=bool)
        self.user_negative[sampler.user_negatives] = True
        self.generator = make_generator(seed, device)

    def make(self) -> Batch:
        """The next batch."""
        indices = self.sampler.draw()
        positives = self.labels[indices] == 1
        windows = stack_windows(self.audio, indices, self.window, self.rng)
        # The user's own negatives keep their rows: replaced like the others, their voice would fill a quarter of the
        # positive rows and a tenth of the negative ones, and become the cue it is meant not to be.
        negative_rows = np.flatnonzero(~positives & ~self.user_negative[indices])
        draw = self.rng.random(negative_rows.size)
        mix = self.mix
        edges = np.cumsum([mix.background_share, mix.speech_share, mix.cut_phrase_share])
        if self.background is not None:
            taken = negative_rows[draw < edges[0]]
            if taken.size:
                windows[taken] = self.background.crops(taken.size, self.window, self.rng)
        if self.speech is not None:
            taken = negative_rows[(draw >= edges[0]) & (draw < edges[1])]
            if taken.size:
                windows[taken] = self.speech.crops(taken.size, self.window, self.rng)
        for row in negative_rows[(draw >= edges[1]) & (draw < edges[2])]:
            windows[row] = self._cut_phrase()
        x = torch.from_numpy(windows).to(self.device)
        if self.speech is not None and mix.babble_probability > 0:
            rows = np.flatnonzero(self.rng.random(len(indices)) < mix.babble_probability)
            if rows.size:
                babble = torch.from_numpy(self.speech.crops(rows.size, self.window, self.rng)).to(self.device)
                snr = torch.from_numpy(self.rng.uniform(*mix.babble_snr_db, size=rows.size)).to(self.device)
                x[rows] = mix_at_snr(x[rows], babble, snr)
        if self.augmenter is not None:
            with torch.no_grad():
                x = self.augmenter(x, positives.astype(np.int64), self.generator)
        y = torch.from_numpy(positives.astype(np.float32)).to(self.device)
        return Batch(audio=x, labels=y, positives=positives)

    def _cut_phrase(self) -> np.ndarray:
        """A random training positive cut to its start or its end, fitted to the window at a random offset."""
        clip = self.audio[int(self.rng.choice(self.positive_clips))]
        keep = max(1, round(clip.size * self.rng.uniform(*self.mix.cut_range)))
        part = clip[:keep] if self.rng.random() < 0.6 else clip[-keep:]
        return fit_window(part, self.window, self.rng)


class Prefetcher:
    """Runs a BatchMaker on a thread, `PREFETCH` batches ahead, so augmentation overlaps the model's step.

    One producer keeps the batch order (and so the run) the same as making them inline. On a GPU the batches are
    made inline instead: the work is small there, and CUDA streams are simplest kept on one thread.
    """

    def __init__(self, maker: BatchMaker, *, threaded: bool) -> None:
        self.maker = maker
        self.threaded = threaded
        self.wait_s = 0.0
        """Time the training loop spent waiting for batches (making them, when inline)."""
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=PREFETCH)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Prefetcher:
        if self.threaded:
            self._thread = threading.Thread(target=self._produce, name="batch-prefetch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            # Unblock a producer waiting on a full queue so it sees the stop flag.
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        started = time.perf_counter()
        try:
            if not self.threaded:
                return self.maker.make()
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            return item
        finally:
            self.wait_s += time.perf_counter() - started

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.maker.make()
                while not self._stop.is_set():
                    try:
                        self._queue.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the training loop, which raises it
            self._queue.put(exc)
