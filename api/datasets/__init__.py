"""Datasets: named collections of clips for one wake phrase."""
