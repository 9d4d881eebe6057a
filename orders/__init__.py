"""orders: schedule one-time and recurring orders, run them with PostgreSQL as the only server.

Importing it loads nothing: the web app is `orders.web.app.create_app`, the worker `tasks`."""
