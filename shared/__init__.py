"""Code common to the API and the worker: settings, database, storage layout, audio."""
