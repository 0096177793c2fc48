"""The Celery app and the training pipeline (torch is imported only here)."""
