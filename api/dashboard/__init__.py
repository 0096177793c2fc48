"""The web dashboard: static ES modules served at `/`, talking only to the public API."""
