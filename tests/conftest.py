"""Fixtures: one real PostgreSQL per session, a migrated template, a fresh clone per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from psycopg import sql

from orders.cli.main import main
from orders.database.migrate import migrate
from orders.settings import Settings
from orders.web.app import create_app
from tests.cluster import Cluster, start_cluster

TEMPLATE = "orders_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    pg = start_cluster()
    yield pg
    pg.stop()


@pytest.fixture(autouse=True)
def _cluster_is_up(request) -> None:
    """Every database test starts with a running cluster, whatever the previous test did."""
    if {"cluster", "server_url", "database_url"} & set(request.fixturenames):
        request.getfixturevalue("cluster").ensure_running()


@pytest.fixture(scope="session")
def server_url(cluster: Cluster) -> str:
    """postgresql://... without a database name."""
    return cluster.url().rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def template_db(server_url: str) -> str:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    migrate(f"{server_url}/{TEMPLATE}")
    return TEMPLATE


@pytest.fixture
def database_url(server_url: str, template_db: str) -> Iterator[str]:
    """A database of its own for this test, cloned from the migrated template."""
    name = f"test_{next(_counter)}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield f"{server_url}/{name}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection for arranging and asserting in SQL."""
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    return Settings(
        ORDERS_ENV="test",
        DATABASE_URL=database_url,
        ORDERS_LOG_FILE=tmp_path / "orders.log",
        DB_POOL_MIN=0,
        DB_POOL_MAX=4,
    )


@pytest.fixture
def app(settings: Settings):
    app = create_app(settings)
    yield app
    app.extensions["orders.db"].close()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


class Account:
    """A signed-up user with tokens, as a client holds them."""

    def __init__(self, client: FlaskClient, email: str, password: str = "correct horse battery"):  # noqa: S107
        self.email, self.password = email, password
        created = client.post("/auth/signup", json={"email": email, "password": password})
        assert created.status_code == 201, created.json
        self.user_id = created.json["user_id"]
        tokens = client.post("/auth/login", json={"email": email, "password": password}).json
        self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


@pytest.fixture
def alice(client: FlaskClient) -> Account:
    return Account(client, "alice@example.com")


@pytest.fixture
def admin(client, db) -> Account:
    account = Account(client, "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (account.user_id,))
    return account


@pytest.fixture
def bob(client: FlaskClient) -> Account:
    return Account(client, "bob@example.com")


@pytest.fixture(scope="session")
def bouncer(cluster: Cluster):
    """A real PgBouncer (transaction mode) in front of the session's cluster; a missing
    pgbouncer fails the tests that need it, with instructions (never a skip)."""
    from bench.pgbouncer import pgbouncer

    with pgbouncer(cluster.url()) as running:
        yield running


@pytest.fixture
def cli(database_url, settings, monkeypatch):
    """Run `orders ...` in-process against this test's database, as operator `tester`."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERS_LOG_FILE", str(settings.log_file))
    monkeypatch.setenv("ORDERS_OPERATOR", "tester")
    runner = CliRunner()

    def run(*args: str, input: str | None = None, code: int = 0) -> str:
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


@pytest.fixture
def workers(database_url, settings, tmp_path):
    """Real `orders worker` processes; all stopped at the end of the test."""
    from tests.workers import Workers

    pool = Workers(database_url, settings.log_file, tmp_path)
    yield pool
    pool.stop_all()


class ProviderAccount:
    """A provider created the way operators do (`orders providers add`), logged in."""

    def __init__(self, client: FlaskClient, database_url: str, name: str, hours: int = 48):
        from orders.providers.models import NewProvider
        from orders.providers.service import add_provider

        self.email, self.password = f"{name.lower()}@providers.example", "provider pass 123"
        new = NewProvider(
            name=name, email=self.email, expected_response_hours=hours, password=self.password
        )
        created = add_provider(database_url, new)
        self.provider_id, self.user_id, self.name = created.provider_id, created.user_id, name
        login = {"email": self.email, "password": self.password}
        self.access = client.post("/auth/login", json=login).json["access_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


@pytest.fixture
def acme(client: FlaskClient, database_url: str) -> ProviderAccount:
    return ProviderAccount(client, database_url, "Acme", hours=48)


@pytest.fixture
def globex(client: FlaskClient, database_url: str) -> ProviderAccount:
    return ProviderAccount(client, database_url, "Globex", hours=6)


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback, recording every message it accepts."""
    from tests.mail import MailServer

    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp) -> Settings:
    """The test settings, sending through `smtp`, retrying at once (no backoff)."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "smtp_timeout_seconds": 5.0,
            "mail_retry_base_seconds": 0.0,
            "mail_max_attempts": 3,
        }
    )
