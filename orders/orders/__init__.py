"""Orders: the customer-facing core (models, schedule, service, routes)."""
