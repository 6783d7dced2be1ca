"""The HTTP API (FastAPI)."""

from smolit.api.app import create_app

__all__ = ["create_app"]
