"""Deployments: a named pointer at one job's model, its history, and the bundle devices follow."""
