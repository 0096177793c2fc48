"""Feature-domain voice and microphone perturbation: vocal-tract warping and random EQ on log-mel."""

from __future__ import annotations

import math

import pytest
import torch

from worker.training.spectral import SpectralConfig, perturb_spectra, random_eq_curves, warp_mel_axis

pytestmark = pytest.mark.unit


def test_a_warp_factor_of_one_leaves_the_features_as_they_are() -> None:
    features = torch.randn(3, 40, 50)
    assert torch.equal(warp_mel_axis(features, torch.ones(3)), features)


def test_a_warp_above_one_moves_a_formant_up_the_bands_by_that_factor() -> None:
    features = torch.zeros(1, 40, 5)
    features[:, 10] = 1.0  # one formant, in band 10
    warped = warp_mel_axis(features, torch.tensor([1.2]))
    assert int(warped[0, :, 0].argmax()) == 12


def test_eq_curves_are_smooth_and_no_larger_than_asked() -> None:
    config = SpectralConfig(eq_db=6.0)
    generator = torch.Generator().manual_seed(0)
    curves = random_eq_curves(generator, 64, 40, config)
    span_db = (curves.amax(dim=1) - curves.amin(dim=1)) * 10 / math.log(10)
    assert span_db.max() <= 6.0 + 1e-4 and span_db.max() > 3.0
    # Neighbouring bands differ by a small part of the span: a microphone's response, not noise.
    assert (curves.diff(dim=1).abs().amax(dim=1) * 10 / math.log(10)).max() < 1.5


def test_only_the_chosen_rows_change_and_the_same_seed_changes_them_the_same_way() -> None:
    features = torch.randn(200, 40, 20)
    config = SpectralConfig(warp_probability=0.5, eq_probability=0.0)
    once = perturb_spectra(features, 7, config)
    assert torch.equal(once, perturb_spectra(features, 7, config))
    changed = (once != features).flatten(1).any(dim=1).float().mean().item()
    assert changed == pytest.approx(0.5, abs=0.12)
    assert not torch.equal(once, perturb_spectra(features, 8, config))
