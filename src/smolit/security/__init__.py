"""Tokens and roles, secrets, egress, encryption at rest; import the submodule you need.

Masking of secrets is ``smolit.redact``, below storage and logging, which both use it.
"""
