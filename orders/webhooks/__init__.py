"""Webhooks: customers' endpoints, signed deliveries of order events, and their record."""
