"""Framework-free building blocks every layer may use: errors, clock, pagination."""
