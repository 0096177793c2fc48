"""Devices: tokens scoped to one deployment, their records, and the detections they report."""
