"""Entry point for servers: ``gunicorn wsgi:app``."""

from complaints import create_app

app = create_app()
