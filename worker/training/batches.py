"""Training batches: class-balanced clips, crops of the background stream, augmentation, made ahead on a thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from worker.training.augment import Augmenter, make_generator
from worker.training.data import BalancedSampler, stack_windows

BACKGROUND_SHARE = 0.5
"""Of a batch's negative rows, the share cut from the background stream rather than taken as whole clips."""
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
    ) -> None:
        self.audio = audio
        self.labels = labels
        self.sampler = sampler
        self.window = window
        self.rng = rng
        self.device = device
        self.augmenter = augmenter
        self.background = background if background is not None and background.audio.size > 0 else None
        self.generator = make_generator(seed, device)

    def make(self) -> Batch:
        """The next batch."""
        indices = self.sampler.draw()
        positives = self.labels[indices] == 1
        windows = stack_windows(self.audio, indices, self.window, self.rng)
        if self.background is not None:
            negative_rows = np.flatnonzero(~positives)
            taken = negative_rows[self.rng.random(negative_rows.size) < BACKGROUND_SHARE]
            if taken.size:
                windows[taken] = self.background.crops(taken.size, self.window, self.rng)
        x = torch.from_numpy(windows).to(self.device)
        if self.augmenter is not None:
            with torch.no_grad():
                x = self.augmenter(x, positives.astype(np.int64), self.generator)
        y = torch.from_numpy(positives.astype(np.float32)).to(self.device)
        return Batch(audio=x, labels=y, positives=positives)


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
