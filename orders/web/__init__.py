"""The HTTP layer: the Flask app factory, one blueprint per resource, OpenAPI, static files."""
