"""Framework-free building blocks every layer may use: errors, the clock, pagination."""
