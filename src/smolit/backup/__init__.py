"""Backup and restore of a data directory; ``python -m smolit.backup``."""

from smolit.backup.manager import BackupInfo, BackupManager

__all__ = ["BackupInfo", "BackupManager"]
