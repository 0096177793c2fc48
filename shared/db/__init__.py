"""Database models and session factories shared by the API and the worker."""
