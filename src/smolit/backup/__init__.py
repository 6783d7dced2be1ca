"""Backup and restore of a data directory; ``python -m smolit.backup``."""

from smolit.backup.manager import BackupManager

__all__ = ["BackupManager"]
