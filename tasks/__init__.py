"""Background work: the Procrastinate app, order execution and periodic maintenance."""
