"""Scheduling: orders (definition, schedule, service, batches, jobs), pauses, upcoming runs,
missed-run policy."""
