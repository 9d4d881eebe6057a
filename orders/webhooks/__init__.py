"""Webhooks: customers' endpoints, signed deliveries of order events, their record, and circuits."""
