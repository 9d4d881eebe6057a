"""Small assertions shared by the API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the one JSON error shape with this status (and code)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert error["status"] == status and error["message"]
    if code:
        assert error["code"] == code
    return error


def in_(seconds: float) -> str:
    """An ISO timestamp `seconds` from now, with its UTC offset."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def jobs_of(db, order_id: int) -> list[dict]:
    """The Procrastinate jobs that were deferred for an order, oldest first."""
    return db.execute(
        "SELECT id, status, scheduled_at FROM procrastinate_jobs "
        "WHERE args->>'order_id' = %s ORDER BY id",
        (str(order_id),),
    ).fetchall()
