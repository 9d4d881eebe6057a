"""Providers: who fulfils orders, the requests each run makes of them, and their answers."""
