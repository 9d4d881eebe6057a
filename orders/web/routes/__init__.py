"""One blueprint per resource; each route parses, calls one service function, answers."""
