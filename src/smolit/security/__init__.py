"""Tokens and roles."""

from smolit.security.tokens import Principal, TokenService

__all__ = ["Principal", "TokenService"]
