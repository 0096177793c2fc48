"""The wake-word training pipeline: data, features, model, training loop, export and streaming evaluation.

Modules are imported where used (`worker.training.trainer` needs torch; `worker.training.streaming`
is numpy only and runs on edge devices), so importing this package imports nothing heavy.
"""
