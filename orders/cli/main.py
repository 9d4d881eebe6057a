"""The `orders` command: the one entry point; each command group lives in its own module."""

from __future__ import annotations

import logging

import click

from orders.cli import db, downstream, operations, pauses, providers, serve, tiers, users, worker
from orders.cli import orders as order_commands

SERVICES = {"api", "worker", "dev", "db"}  # long-running or one-shot server commands: log INFO


@click.group()
@click.option(
    "--log-level", help="Python logging level (default: INFO for servers, WARNING for the rest)."
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Schedule and run orders with PostgreSQL as the only server."""
    default = "INFO" if ctx.invoked_subcommand in SERVICES else "WARNING"  # tables stay clean
    logging.basicConfig(
        level=(log_level or default).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


_GROUPS = (db, serve, worker, providers, operations, order_commands, users, downstream, pauses)
for _module in (*_GROUPS, tiers):
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":
    main()
