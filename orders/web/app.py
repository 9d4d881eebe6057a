"""The app factory: settings in, a Flask app with every blueprint and its services out."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_jwt_extended import JWTManager
from werkzeug.middleware.proxy_fix import ProxyFix

from orders.operations.metrics import make_registry
from orders.settings import Settings
from orders.web.errors import register_error_handlers, register_jwt_errors


def create_app(settings: Settings | None = None) -> Flask:
    """Build the API. Nothing connects here: the pool opens its connections in the background."""
    settings = settings or Settings()
    app = Flask("orders")  # the name operators see in logs; resources live in blueprints
    app.config.update(
        JWT_SECRET_KEY=settings.require_jwt_secret(),
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.access_token_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.refresh_token_days),
        JWT_TOKEN_LOCATION=["headers"],
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    if settings.trusted_proxies:  # client addresses (login throttling) from X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    _attach_services(app, settings)
    db, read_db = app.extensions["orders.db"], app.extensions["orders.read_db"]
    app.extensions["orders.metrics"] = make_registry(db, read_db)  # folds on db, reads read_db
    _register(app)
    return app


def _attach_services(app: Flask, settings: Settings) -> None:
    """Routes hand these to the services: `orders.web.http.get_db()` and `get_settings()`."""
    app.extensions["orders.settings"] = settings
    db = settings.database()
    db.open()
    app.extensions["orders.db"] = db
    read_db = settings.read_database()  # a replica, if configured: `orders.web.http.get_read_db()`
    if read_db is not None:
        read_db.open()
    app.extensions["orders.read_db"] = read_db or db


def _register(app: Flask) -> None:
    from orders.web.routes import auth as auth
    from orders.web.routes import dashboard as dashboard
    from orders.web.routes import meta  # imported here so that importing `orders` stays cheap
    from orders.web.routes import orders as order_routes
    from orders.web.routes import pauses as pause_routes
    from orders.web.routes import providers as provider_routes
    from orders.web.routes import webhooks as webhook_routes

    jwt = JWTManager(app)
    register_jwt_errors(jwt)
    auth.register_jwt_callbacks(jwt)
    register_error_handlers(app)
    blueprints = (auth.bp, order_routes.bp, provider_routes.bp, webhook_routes.bp, dashboard.bp)
    for blueprint in (*blueprints, pause_routes.bp, meta.bp):
        app.register_blueprint(blueprint)
