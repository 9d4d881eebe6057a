"""The worker process: Procrastinate's worker with our control loop, health and shutdown."""
