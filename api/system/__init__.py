"""Service-level endpoints: health."""
