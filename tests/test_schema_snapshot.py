"""sql/schema.sql is the schema `orders db migrate` makes from scratch (`make schema` writes it)."""

from __future__ import annotations

import psycopg
import pytest

from orders.dev.snapshot import SCHEMA_FILE, migrated_schema, normalise, stale


@pytest.fixture
def fresh_url(server_url):
    """An empty database on the suite's cluster (the same server binaries as `make schema`)."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS schema_snapshot WITH (FORCE)")
        conn.execute("CREATE DATABASE schema_snapshot")
    yield f"{server_url}/schema_snapshot"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE schema_snapshot WITH (FORCE)")


def test_schema_file_is_what_the_migrations_make(fresh_url):
    problem = stale(SCHEMA_FILE, migrated_schema(fresh_url))

    if problem:
        pytest.fail(problem, pytrace=False)


def test_the_dump_loses_what_varies_between_versions_and_runs():
    dump = (
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict aB3\n\n"
        "-- Dumped from database version 15.20\n-- Dumped by pg_dump version 15.20\n\n"
        "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n"
        "\n\n\nSET default_tablespace = '';\n\nCREATE FUNCTION f() RETURNS void AS $$\n"
        "UPDATE t\nSET x = 1;\n$$;\n\n\n\\unrestrict aB3\n"
    )

    assert normalise(dump) == (
        "--\n-- PostgreSQL database dump\n--\n\nCREATE FUNCTION f() RETURNS void AS $$\n"
        "UPDATE t\nSET x = 1;\n$$;\n"
    )


def test_a_stale_file_fails_with_a_diff_and_the_command_to_regenerate_it(tmp_path):
    path = tmp_path / "schema.sql"
    path.write_text("CREATE TABLE t (x int);\n")

    problem = stale(path, "CREATE TABLE t (x bigint);\n")

    assert "-CREATE TABLE t (x int);\n+CREATE TABLE t (x bigint);" in problem
    assert "make schema" in problem
    assert stale(path, "CREATE TABLE t (x int);\n") == ""
