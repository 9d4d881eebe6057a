"""Developer tooling: the embedded PostgreSQL, `orders dev` and its record."""
