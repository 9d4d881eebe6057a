"""`orders users`: admin and operator accounts."""

from __future__ import annotations

import click

from orders.cli.common import services


@click.group()
def users() -> None:
    """Accounts: create admins, change roles."""


@users.command("add")
@click.option("--email", required=True)
@click.option(
    "--role", type=click.Choice(["customer", "admin"]), default="admin", show_default=True
)
def users_add(email: str, role: str) -> None:
    """Create an account; the password is prompted for or read from ORDERS_USER_PASSWORD."""
    from orders.accounts.models import Credentials
    from orders.accounts.service import create_user

    with services() as (db, settings):
        chosen = settings.user_password
        password = chosen.get_secret_value() if chosen else None
        password = password or click.prompt("Password", hide_input=True, confirmation_prompt=True)
        user = create_user(db, Credentials(email=email, password=password), role)
    click.echo(f"user {user.user_id}: {user.email} ({user.role})")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["customer", "provider", "admin"]))
def users_set_role(email: str, role: str) -> None:
    """Change an account's role (takes effect on its next request)."""
    from orders.accounts.service import set_role

    with services() as (db, _):
        user = set_role(db, email, role)
    click.echo(f"user {user.user_id}: {user.email} ({user.role})")


COMMANDS = [users]
