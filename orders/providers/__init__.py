"""Providers: who fulfils orders, the requests each run makes of them, their answers and digests."""
