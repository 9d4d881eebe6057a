"""The periodic tasks whose schedule is a setting, registered by the worker from its settings.

Tasks with a fixed schedule keep their `@app.periodic` decorator. These are registered once per
process, in run_worker, so importing tasks/ reads no environment (the API imports none of it).
"""

from __future__ import annotations

from procrastinate import App

from orders.settings import Settings
from tasks.jobs import mail, maintenance, upcoming, webhooks


def schedules(settings: Settings) -> dict:
    """{task: cron} for the tasks whose cron an operator sets."""
    return {
        maintenance.recover_stuck_orders: settings.stuck_orders_cron,
        mail.send_provider_digests: settings.digest_cron,
        mail.send_customer_notices: settings.customer_digest_cron,
        upcoming.expand_upcoming_runs: settings.upcoming_cron,
        webhooks.deliver_webhooks: settings.webhook_sweep_cron,
    }


def register_periodic(app: App, settings: Settings) -> None:
    """Register each configurable schedule unless this process already did (Procrastinate
    raises on a second registration of the same task): the first worker's settings win."""
    registered = app.periodic_registry.periodic_tasks
    for task, cron in schedules(settings).items():
        if (task.name, "") not in registered:
            app.periodic(cron=cron)(task)
