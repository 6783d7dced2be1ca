"""Tokens and roles, secrets, masking; import the submodule you need (``smolit.logs`` and
``smolit.storage`` use ``smolit.security.redact``, so this package imports nothing)."""
