"""Accounts: sign-up, passwords, sessions and tokens, login throttling, limits and tiers."""
