"""Running the service: status log, retention, rollups, metrics, health, operator use cases."""
