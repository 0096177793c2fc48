"""The wake-word training pipeline: data, features, model, training loop and export."""

from worker.training.trainer import TrainingClip, TrainingHooks, TrainingResult, TrainingStopped, train

__all__ = ["TrainingClip", "TrainingHooks", "TrainingResult", "TrainingStopped", "train"]
