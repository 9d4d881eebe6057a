"""The Procrastinate app and its tasks (maintenance, mail, webhooks, upcoming, execute_order)."""
