"""The batch executor: claims due order runs and executes them set-based."""
