"""`orders providers`: providers that fulfil orders."""

from __future__ import annotations

import click

from orders.cli.common import first_error, or_exit
from orders.settings import Settings


@click.group()
def providers() -> None:
    """Providers that fulfil orders."""


@providers.command("add")
@click.option("--name", required=True, help="Shown to customers and in the digest.")
@click.option("--email", required=True, help="Where the provider's digest goes.")
@click.option("--expected-response-hours", type=int, required=True, help="Promised answer time.")
@click.option("--login", is_flag=True, help="Also create a provider login with this email.")
def providers_add(name: str, email: str, expected_response_hours: int, login: bool):
    """Create a provider (and with --login its login account) in one transaction.

    The login's password is prompted for (hidden) or read from ORDERS_PROVIDER_PASSWORD, never
    taken as an argument: arguments end up in shell history and `ps`.
    """
    from pydantic import ValidationError

    from orders.core.errors import ApiError
    from orders.providers.models import NewProvider
    from orders.providers.service import add_provider

    settings = Settings()
    url = or_exit(settings.require_database_url)
    password = _provider_password(settings) if login else None
    try:
        fields = {"name": name, "email": email, "expected_response_hours": expected_response_hours}
        provider = add_provider(url, NewProvider(**fields, password=password))
    except ValidationError as exc:
        raise click.ClickException(first_error(exc)) from None
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    login = f", login {provider.email}" if provider.user_id else ""
    click.echo(f"provider {provider.provider_id}: {provider.name} <{provider.email}>{login}")


def _provider_password(settings: Settings) -> str:
    if settings.provider_password and (password := settings.provider_password.get_secret_value()):
        return password
    return click.prompt(
        "Password for the provider login", hide_input=True, confirmation_prompt=True
    )


COMMANDS = [providers]
