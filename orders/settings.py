"""Settings, read once from the environment (see .env.example for every variable)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orders.database import Database, Keepalives, Timeouts, make_pool
from orders.dev.record import DEFAULT_DATA_DIR

# Bounds no operator has had a reason to change (seconds): a row lock the API waits for, an
# idle open transaction, one run statement, one maintenance statement.
LOCK_TIMEOUT_SECONDS = 2.0
IDLE_IN_TRANSACTION_SECONDS = 30.0
RUN_STATEMENT_TIMEOUT_SECONDS = 30.0
MAINTENANCE_STATEMENT_TIMEOUT_SECONDS = 60.0

# Only ever accepted in dev/test mode; production refuses to start with it.
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
LIMITS = {"api_rate_limit": 1200, "max_active_orders": 10_000, "min_interval_seconds": 60.0}
TEST_LIMITS = {"api_rate_limit": 0, "max_active_orders": 0, "min_interval_seconds": 1.0}


def _running_dev_database(data: Path) -> str | None:
    """The database of the `orders dev` running in this project (see orders/dev/record.py)."""
    from orders.dev import record as devrecord

    info = devrecord.running(data)
    return info["database_url"] if info else None


def _attempts_from_retries(retries: int, both: bool) -> int:
    """ORDERS_MAX_ATTEMPTS counted retries (5 gave 6 attempts; 0 meant unlimited)."""
    if both:
        raise ValueError("set ORDERS_RUN_MAX_ATTEMPTS only (ORDERS_MAX_ATTEMPTS is its old name)")
    if retries == 0:
        raise ValueError(
            "ORDERS_MAX_ATTEMPTS=0 (unlimited retries) is no longer supported: set "
            "ORDERS_RUN_MAX_ATTEMPTS to the number of attempts a run gets, e.g. 6"
        )
    warnings.warn(
        f"ORDERS_MAX_ATTEMPTS is deprecated: it counts retries. It is read as "
        f"ORDERS_RUN_MAX_ATTEMPTS={retries + 1} (attempts, the first included); set that instead",
        FutureWarning,
        stacklevel=2,
    )
    return retries + 1


class Settings(BaseSettings):
    """Everything the API, the workers and the CLI need to know about their environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Where it runs, and the database (orders/database/).
    env: Literal["production", "dev", "test"] = Field("production", alias="ORDERS_ENV")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    database_read_url: str | None = Field(None, alias="DATABASE_READ_URL")
    db_pool_min: int = Field(1, alias="DB_POOL_MIN", ge=0)
    db_pool_max: int = Field(10, alias="DB_POOL_MAX", gt=0)
    db_timeout_seconds: float = Field(5.0, alias="DB_TIMEOUT_SECONDS", gt=0)
    db_statement_timeout_seconds: float = Field(10.0, alias="DB_STATEMENT_TIMEOUT_SECONDS", ge=0)
    db_prepare: bool = Field(True, alias="DB_PREPARED_STATEMENTS")

    # The API and accounts: tokens, bodies, proxies, login throttling, per-account limits
    # (orders/accounts/). A limit left None takes ORDERS_ENV's default (off in test).
    jwt_secret_key: str | None = Field(None, alias="JWT_SECRET_KEY")
    access_token_minutes: int = Field(15, alias="JWT_ACCESS_TOKEN_MINUTES", gt=0)
    refresh_token_days: int = Field(30, alias="JWT_REFRESH_TOKEN_DAYS", gt=0)
    refresh_grace_seconds: float = Field(10.0, alias="ORDERS_REFRESH_GRACE_SECONDS", ge=0)
    max_body_bytes: int = Field(64 * 1024, alias="ORDERS_MAX_BODY_BYTES", gt=0)
    trusted_proxies: int = Field(0, alias="ORDERS_TRUSTED_PROXIES", ge=0)
    metrics_token: str | None = Field(None, alias="ORDERS_METRICS_TOKEN")
    login_max_failures_per_account: int = Field(
        5, alias="ORDERS_LOGIN_MAX_FAILURES_PER_ACCOUNT", ge=1
    )
    login_max_failures_per_address: int = Field(
        20, alias="ORDERS_LOGIN_MAX_FAILURES_PER_ADDRESS", ge=1
    )
    login_window_seconds: float = Field(900, alias="ORDERS_LOGIN_WINDOW_SECONDS", gt=0)
    login_lockout_seconds: float = Field(30, alias="ORDERS_LOGIN_LOCKOUT_SECONDS", gt=0)
    api_rate_limit: int | None = Field(None, alias="ORDERS_API_RATE_LIMIT", ge=0)
    api_rate_window_seconds: float = Field(60.0, alias="ORDERS_API_RATE_WINDOW_SECONDS", gt=0)
    max_active_orders: int | None = Field(None, alias="ORDERS_MAX_ACTIVE_ORDERS", ge=0)
    min_interval_seconds: float | None = Field(None, alias="ORDERS_MIN_INTERVAL_SECONDS", ge=1)
    batch_max_orders: int = Field(1000, alias="ORDERS_BATCH_MAX_ORDERS", ge=1, le=10_000)
    batch_max_body_bytes: int = Field(4 * 1024 * 1024, alias="ORDERS_BATCH_MAX_BODY_BYTES", gt=0)

    # Scheduling and the worker: attempts, polling, liveness, the executor, missed runs,
    # upcoming runs (orders/scheduling/, tasks/).
    run_max_attempts: int = Field(6, alias="ORDERS_RUN_MAX_ATTEMPTS", ge=1)
    legacy_max_attempts: int | None = Field(None, alias="ORDERS_MAX_ATTEMPTS", ge=0)
    retry_base: int = Field(2, alias="ORDERS_RETRY_BASE_SECONDS", ge=0)
    poll_seconds: float = Field(5.0, alias="ORDERS_WORKER_POLL_SECONDS", gt=0)
    heartbeat_seconds: float = Field(5.0, alias="ORDERS_WORKER_HEARTBEAT_SECONDS", gt=0)
    stalled_after_seconds: float = Field(20.0, alias="ORDERS_STALLED_AFTER_SECONDS", gt=0)
    shutdown_timeout_seconds: float = Field(30.0, alias="ORDERS_SHUTDOWN_TIMEOUT_SECONDS", gt=0)
    stuck_orders_cron: str = Field("* * * * *", alias="ORDERS_STUCK_ORDERS_CRON")
    stuck_grace_seconds: float = Field(30.0, alias="ORDERS_STUCK_GRACE_SECONDS", ge=0)
    executor_batch: int = Field(500, alias="ORDERS_EXECUTOR_BATCH", ge=1, le=10_000)
    executor_slots: int = Field(2, alias="ORDERS_EXECUTOR_SLOTS", ge=1, le=64)
    run_lock_timeout_seconds: float = Field(5.0, alias="ORDERS_RUN_LOCK_TIMEOUT_SECONDS", ge=0)
    run_idle_timeout_seconds: float = Field(10.0, alias="ORDERS_RUN_IDLE_TIMEOUT_SECONDS", ge=0)
    missed_run_grace_seconds: float = Field(60.0, alias="ORDERS_MISSED_RUN_GRACE_SECONDS", ge=0)
    missed_runs_max: int = Field(100, alias="ORDERS_MISSED_RUNS_MAX", ge=1, le=10_000)
    fair_share: bool = Field(True, alias="ORDERS_FAIR_SHARE")
    upcoming_hours: int = Field(24, alias="ORDERS_UPCOMING_HOURS", ge=1, le=168)
    upcoming_cron: str = Field("* * * * *", alias="ORDERS_UPCOMING_CRON")
    worker_health_port: int | None = Field(None, alias="ORDERS_WORKER_HEALTH_PORT", gt=0, lt=65536)
    worker_health_host: str = Field("127.0.0.1", alias="ORDERS_WORKER_HEALTH_HOST")

    # Mail and provider digests (orders/mail/, orders/providers/).
    digest_cron: str = Field("0 */4 * * *", alias="ORDERS_DIGEST_CRON")
    customer_notify: Literal["immediate", "digest"] = Field(
        "immediate", alias="ORDERS_CUSTOMER_NOTIFY"
    )
    customer_digest_cron: str = Field("0 * * * *", alias="ORDERS_CUSTOMER_DIGEST_CRON")
    smtp_host: str | None = Field(None, alias="SMTP_HOST")
    smtp_port: int = Field(587, alias="SMTP_PORT", gt=0, lt=65536)
    smtp_starttls: bool = Field(True, alias="SMTP_STARTTLS")
    smtp_user: str | None = Field(None, alias="SMTP_USER")
    smtp_password: str | None = Field(None, alias="SMTP_PASSWORD")
    smtp_from: str = Field("orders@localhost", alias="SMTP_FROM")
    smtp_timeout_seconds: float = Field(10.0, alias="SMTP_TIMEOUT_SECONDS", gt=0)
    mail_dir: Path = Field(Path(".data/mail"), alias="ORDERS_MAIL_DIR")
    mail_max_attempts: int = Field(10, alias="ORDERS_MAIL_MAX_ATTEMPTS", ge=1)
    mail_retry_base_seconds: float = Field(60.0, alias="ORDERS_MAIL_RETRY_BASE_SECONDS", ge=0)

    # Webhooks and circuit breakers (orders/webhooks/, docs/webhooks.md).
    webhook_allow_private_targets: bool = Field(False, alias="ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS")
    webhook_connect_timeout_seconds: float = Field(
        5.0, alias="ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS", gt=0
    )
    webhook_read_timeout_seconds: float = Field(
        10.0, alias="ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS", gt=0
    )
    webhook_max_attempts: int = Field(10, alias="ORDERS_WEBHOOK_MAX_ATTEMPTS", ge=1)
    webhook_retry_base_seconds: float = Field(10.0, alias="ORDERS_WEBHOOK_RETRY_BASE_SECONDS", ge=0)
    webhook_retry_max_seconds: float = Field(3600.0, alias="ORDERS_WEBHOOK_RETRY_MAX_SECONDS", ge=0)
    webhook_concurrency: int = Field(50, alias="ORDERS_WEBHOOK_CONCURRENCY", ge=1, le=1000)
    webhook_max_per_destination: int = Field(8, alias="ORDERS_WEBHOOK_MAX_PER_DESTINATION", ge=0)
    webhook_sweep_cron: str = Field("* * * * * */10", alias="ORDERS_WEBHOOK_SWEEP_CRON")
    webhook_max_endpoints: int = Field(10, alias="ORDERS_WEBHOOK_MAX_ENDPOINTS", ge=1)
    circuit_failure_threshold: int = Field(5, alias="ORDERS_CIRCUIT_FAILURE_THRESHOLD", ge=1)
    circuit_cooldown_seconds: float = Field(60.0, alias="ORDERS_CIRCUIT_COOLDOWN_SECONDS", gt=0)

    # Operations: the status log and history retention, 0 = keep forever (orders/operations/).
    log_file: Path = Field(Path("logs/orders.log"), alias="ORDERS_LOG_FILE")
    status_log_seconds: float = Field(1.0, alias="ORDERS_STATUS_LOG_SECONDS", gt=0)
    status_log_writer: bool = Field(True, alias="ORDERS_STATUS_LOG_WRITER")
    audit_retention_days: int = Field(400, alias="ORDERS_AUDIT_RETENTION_DAYS", ge=0)
    execution_retention_days: int = Field(90, alias="ORDERS_EXECUTION_RETENTION_DAYS", ge=0)

    # The CLI: who the audit trail names, passwords read instead of prompted for (never argv).
    operator: str | None = Field(None, alias="ORDERS_OPERATOR")
    user_password: SecretStr | None = Field(None, alias="ORDERS_USER_PASSWORD")
    provider_password: SecretStr | None = Field(None, alias="ORDERS_PROVIDER_PASSWORD")

    # `orders dev` and the private clusters it (and `make schema`) run (orders/dev/).
    dev_data_dir: Path = Field(DEFAULT_DATA_DIR, alias="ORDERS_DEV_DATA")
    dev_pg_port: int = Field(54329, alias="ORDERS_DEV_PG_PORT", gt=0, lt=65536)
    pg_bindir: str | None = Field(None, alias="ORDERS_PG_BINDIR")
    pg_user: str = Field("postgres", alias="ORDERS_PG_USER")

    @model_validator(mode="after")
    def _defaults_and_deprecations(self) -> Settings:
        defaults = TEST_LIMITS if self.env == "test" else LIMITS
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.legacy_max_attempts is not None:
            self.run_max_attempts = _attempts_from_retries(
                self.legacy_max_attempts, "run_max_attempts" in self.model_fields_set
            )
        if self.database_url is None and (self.env == "dev" or "env" not in self.model_fields_set):
            self.database_url = _running_dev_database(self.dev_data_dir)
        return self

    def api_timeouts(self) -> Timeouts:
        """Bounds for API requests and CLI commands."""
        return Timeouts(
            statement=self.db_statement_timeout_seconds,
            lock=LOCK_TIMEOUT_SECONDS,
            idle_in_transaction=IDLE_IN_TRANSACTION_SECONDS,
        )

    def run_timeouts(self) -> Timeouts:
        """Bounds for order runs: a frozen worker's batch is ended by the server after
        ORDERS_RUN_IDLE_TIMEOUT_SECONDS, releasing its orders for other workers."""
        return Timeouts(
            statement=RUN_STATEMENT_TIMEOUT_SECONDS,
            lock=self.run_lock_timeout_seconds,
            idle_in_transaction=self.run_idle_timeout_seconds,
        )

    def maintenance_timeouts(self) -> Timeouts:
        """Bounds for Procrastinate's own work and the mail and maintenance tasks; a frozen
        worker's open transaction is ended as quickly as a frozen run's."""
        return Timeouts(
            statement=MAINTENANCE_STATEMENT_TIMEOUT_SECONDS,
            lock=LOCK_TIMEOUT_SECONDS,
            idle_in_transaction=self.run_idle_timeout_seconds,
        )

    def database(self) -> Database:
        """The API's (or a CLI command's) database: a lazily connecting pool, bounded waits."""
        return self._database(self.require_database_url())

    def read_database(self) -> Database | None:
        """A replica for the read-only dashboard, list and metrics queries (DATABASE_READ_URL),
        bounded like the primary; None: those read the primary too."""
        return self._database(self.database_read_url) if self.database_read_url else None

    def _database(self, url: str) -> Database:
        pool = make_pool(
            url,
            self.db_pool_min,
            self.db_pool_max,
            self.db_timeout_seconds,
            self.keepalives(),
            prepare=self.db_prepare,
        )
        return Database(pool, self.api_timeouts())

    def keepalives(self) -> Keepalives:
        """TCP keepalives: a vanished peer is noticed in 25 s (orders/database/pool.py)."""
        return Keepalives()

    def require_jwt_secret(self) -> str:
        """The signing key; outside dev/test a missing, default or short key stops the API."""
        if self.env in ("dev", "test"):
            return self.jwt_secret_key or DEV_JWT_SECRET
        key = self.jwt_secret_key or ""
        if key == DEV_JWT_SECRET or len(key) < 32:
            raise RuntimeError(
                "JWT_SECRET_KEY must be set to a random value of at least 32 characters outside "
                "dev/test mode (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return key

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "DATABASE_URL is not set, and no `orders dev` is running in this project "
                "(`make dev` starts one with an embedded database)"
            )
        return self.database_url
