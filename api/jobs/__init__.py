"""Training jobs: submit, list, follow, cancel, and download what they export."""
