"""Recordings: the clips of a dataset, their audio and their labels."""
