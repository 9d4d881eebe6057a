"""Outgoing mail: messages built from outbox rows, SMTP and .eml-folder transports, delivery."""
