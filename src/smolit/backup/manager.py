"""``BackupManager``: create, list, verify and restore backups of one data directory.

Backups are files in ``<home>/backups``: ``<id>.tar.gz``, or ``<id>.tar.gz.enc`` when
``system.backup_key_env`` names a key. The newest ``system.backup_keep`` are kept.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import httpx
import psutil
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from smolit import __version__
from smolit.backup.archive import SQLITE_SIDE_FILES, ArchiveWriter, unpack
from smolit.backup.crypto import KEY_RULE, MAGIC, load_backup_key
from smolit.backup.encrypt import encrypt_installation
from smolit.config import CONFIG_FILE_NAME, Settings, process_environment
from smolit.errors import ConfigError, ConflictError, NotFoundError, StorageError, ValidationError
from smolit.security.atrest import load_at_rest_keys
from smolit.security.envelope import OpeningReader, SealingWriter, is_sealed
from smolit.storage import Database, sqlcipher
from smolit.storage.private import make_tree_private, private_dir, private_file, private_home

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PLAIN, SEALED = ".tar.gz", ".tar.gz.enc"
STOP_SECONDS = 30.0


@dataclass(frozen=True)
class BackupInfo:
    id: str
    path: Path
    size_bytes: int
    created_at: str
    encrypted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.path.name,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
            "encrypted": self.encrypted,
        }


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _disk_error(exc: OSError, what: str) -> StorageError:
    if exc.errno == errno.ENOSPC:
        return StorageError(f"no space left on the device while writing {what}; the partial "
                            "backup was removed")  # fmt: skip
    return StorageError(f"cannot write {what}: {exc.strerror or exc}")


class BackupManager:
    def __init__(self, settings: Settings, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.home = settings.home
        self.directory = settings.home / "backups"
        self._environ = environ

    def _key(self) -> bytes | None:
        """The key that seals backups (``backup.crypto.load_backup_key``)."""
        return load_backup_key(self.settings, self._environ)

    def _database_key(self) -> bytes | None:
        """The SQLCipher key of this installation's SQLite files (encryption at rest)."""
        keys = load_at_rest_keys(self.settings, self._environ)
        return keys.database if keys else None

    # --- list ---------------------------------------------------------------------------

    def list(self) -> builtins.list[BackupInfo]:
        """Newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            for suffix in (SEALED, PLAIN):
                if path.is_file() and path.name.endswith(suffix):
                    stat = path.stat()
                    found.append(
                        BackupInfo(
                            id=path.name[: -len(suffix)],
                            path=path,
                            size_bytes=stat.st_size,
                            created_at=datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
                            encrypted=suffix == SEALED,
                        )
                    )
                    break
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)

    def get(self, backup_id: str) -> BackupInfo:
        if not ID_PATTERN.fullmatch(backup_id):
            raise ValidationError(f"{backup_id!r} is not a backup id")
        backups = self.list()
        for info in backups:
            if info.id == backup_id:
                return info
        known = ", ".join(b.id for b in backups) or "none yet (python -m smolit.backup create)"
        raise NotFoundError(
            f"no backup {backup_id!r}; existing backups: {known}",
            details={"backup_id": backup_id, "existing": [b.id for b in backups]},
        )

    # --- create -------------------------------------------------------------------------

    def _new_id(self) -> str:
        base = "smolit-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        taken = {b.id for b in self.list()}
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def create(self) -> BackupInfo:
        """Snapshot the database, knowledge indexes, model files and configuration.

        The archive is streamed into ``.<id>.part`` (0600), through the AES-GCM envelope
        when there is a key, and renamed into place. With a key nothing in the clear is
        written on the way: plain SQLite snapshots are then taken in memory, and those of
        an encrypted installation stay encrypted."""
        key = self._key()
        private_home(self.home)
        private_dir(self.directory)
        backup_id = self._new_id()
        final = self.directory / (backup_id + (SEALED if key else PLAIN))
        partial = self.directory / f".{backup_id}.part"
        scratch = Path(tempfile.mkdtemp(prefix=f".{backup_id}.", dir=self.directory))
        try:
            descriptor = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                sealing = SealingWriter(out, key, MAGIC) if key is not None else None
                sink = cast(BinaryIO, sealing) if sealing is not None else out
                self._write_archive(ArchiveWriter(sink, scratch, sealed=key is not None), backup_id)
                if sealing is not None:
                    sealing.close()  # the last chunk
                out.flush()
                os.fsync(out.fileno())
            partial.rename(final)
        except OSError as exc:
            raise _disk_error(exc, str(final)) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            partial.unlink(missing_ok=True)
        self.prune()
        return self.get(backup_id)

    def _write_archive(self, archive: ArchiveWriter, backup_id: str) -> None:
        key = self._database_key()
        database = self._snapshot_database(archive, key)
        for name, source in (
            ("knowledge", self.settings.knowledge_dir),
            ("models", self.settings.models_dir),
        ):
            if source.is_dir():
                archive.add_tree(name, source, key)
        config = self.settings.config_file
        if config is not None and config.is_file():
            archive.add_file(f"config/{CONFIG_FILE_NAME}", config)
        archive.close(
            {
                "id": backup_id,
                "created_at": datetime.now(UTC).isoformat(),
                "smolit_version": __version__,
                "database": database,
            }
        )

    def _snapshot_database(self, archive: ArchiveWriter, key: bytes | None) -> str:
        url = make_url(self.settings.database_url)
        if url.get_backend_name() == "sqlite":
            path = Path(url.database or "")
            if not path.is_file():
                raise StorageError(f"the database {path} does not exist; nothing to back up")
            archive.add_database("database/smolit.db", path, key)
            return "sqlite"
        if url.get_backend_name() == "postgresql":
            dump = self._pg_tool("pg_dump", "--no-owner", "--clean", "--if-exists")
            archive.add_bytes("database/dump.sql", dump)
            return "postgresql"
        raise StorageError(f"backups support SQLite and PostgreSQL, not {url.get_backend_name()}")

    def pg_command(self, tool: str, *args: str) -> tuple[builtins.list[str], dict[str, str]]:
        """The argv and environment of a PostgreSQL client tool: the password goes in
        ``PGPASSWORD`` (the child's environment), never in argv, which every user of
        the machine can read in the process list."""
        url = make_url(self.settings.database_url).set(drivername="postgresql")
        password = url.password or url.query.get("password")
        query = {k: v for k, v in url.query.items() if k != "password"}
        url = URL.create("postgresql", url.username, None, url.host, url.port, url.database, query)
        environment = dict(process_environment())
        if password:
            environment["PGPASSWORD"] = str(password)
        dsn = url.render_as_string(hide_password=False)
        return [tool, f"--dbname={dsn}", *args], environment

    def _pg_tool(self, tool: str, *args: str) -> bytes:
        """Run ``tool``; its standard output."""
        binary = shutil.which(tool)
        if binary is None:
            raise StorageError(
                f"{tool} is not installed; install the PostgreSQL client tools "
                "(apt-get install postgresql-client) to back up or restore PostgreSQL"
            )
        argv, environment = self.pg_command(binary, *args)
        done = subprocess.run(argv, capture_output=True, env=environment)
        if done.returncode != 0:
            errors = done.stderr.decode(errors="replace").strip()
            detail = errors.splitlines()[-1] if errors else "failed"
            raise StorageError(f"{tool}: {detail}")
        return done.stdout

    def prune(self) -> builtins.list[str]:
        """Delete all but the newest ``system.backup_keep`` backups; their ids."""
        removed: builtins.list[str] = []
        for info in self.list()[self.settings.system.backup_keep :]:
            info.path.unlink(missing_ok=True)
            removed.append(info.id)
        return removed

    # --- verify and restore -------------------------------------------------------------

    def _open(self, info: BackupInfo, work: Path) -> dict[str, Any]:
        """Decrypt (when sealed) as a stream, unpack into ``work/content`` and check every
        checksum. With a key configured, a plain archive is refused: anyone who can write
        to the backups directory could have made it."""
        key = self._key()
        with info.path.open("rb") as raw:
            sealed = is_sealed(raw.read(len(MAGIC)), MAGIC)
            raw.seek(0)
            if not sealed:
                if key is not None:
                    raise ValidationError(
                        f"refusing {info.path.name}: it is not encrypted, and with "
                        f"{KEY_RULE} set only encrypted backups are restored or verified",
                        details={"backup_id": info.id, "rule": KEY_RULE},
                    )
                return unpack(raw, work / "content", info.path.name)
            if key is None:
                raise ConfigError(
                    f"{info.path.name} is encrypted: set {KEY_RULE} to the key it was made with",
                    details={"backup_id": info.id, "rule": KEY_RULE},
                )
            stream = io.BufferedReader(OpeningReader(raw, key, MAGIC))
            return unpack(stream, work / "content", info.path.name)

    def verify(self, backup_id: str) -> dict[str, Any]:
        info = self.get(backup_id)
        private_home(self.home)
        with tempfile.TemporaryDirectory(prefix=".verify-", dir=self.home) as work:
            manifest = self._open(info, Path(work))
        return {
            **info.to_dict(),
            "created_at": manifest.get("created_at"),
            "database": manifest.get("database"),
            "files": len(manifest["files"]),
            "ok": True,
        }

    def restore(self, backup_id: str, *, force: bool = False) -> dict[str, Any]:
        """Check the backup in full, then replace the data it holds. Refuses while a server
        or worker uses this data directory unless ``force`` (which stops local ones)."""
        info = self.get(backup_id)
        self._stop_live_servers(force)
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=self.home) as work:
            content = Path(work) / "content"
            manifest = self._open(info, Path(work))
            try:
                restored = self._apply(content, manifest, backup_id)
            except OSError as exc:
                raise _disk_error(exc, str(self.home)) from exc
        return {"id": backup_id, "restored": restored}

    def _apply(self, content: Path, manifest: dict[str, Any], backup_id: str) -> builtins.list[str]:
        restored = [self._restore_database(content / "database", manifest.get("database"))]
        for name, target in (
            ("knowledge", self.settings.knowledge_dir),
            ("models", self.settings.models_dir),
        ):
            self._check_inside(target)
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                target.rename(old)
            if (content / name).is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(content / name, target)
                make_tree_private(target)
            shutil.rmtree(old, ignore_errors=True)
            restored.append(str(target))
        staged_config = content / "config" / CONFIG_FILE_NAME
        if staged_config.is_file():
            config = self.settings.config_file
            if config is None or not _inside(config, self.home):
                config = self.home / f"smolit.restored-{backup_id}.yaml"
            shutil.copy2(staged_config, config)
            config.chmod(0o600)  # inside the data directory: private like the rest
            restored.append(str(config))
        return restored

    def _check_inside(self, target: Path) -> None:
        if not _inside(target, self.home):
            raise ValidationError(
                f"{target} lies outside the data directory {self.home}; restore only "
                "writes inside it"
            )

    def _restore_database(self, staged: Path, kind: Any) -> str:
        url = make_url(self.settings.database_url)
        if kind != url.get_backend_name():
            raise ValidationError(
                f"the backup holds a {kind} database; this installation uses "
                f"{url.get_backend_name()}"
            )
        if kind == "postgresql":
            self._pg_tool("psql", "-v", "ON_ERROR_STOP=1", "-q", "-f", str(staged / "dump.sql"))
            return url.render_as_string(hide_password=True)
        target = Path(url.database or "")
        self._check_inside(target)
        self._restore_sqlite(staged / "smolit.db", target)
        return str(target)

    def _restore_sqlite(self, staged: Path, target: Path) -> None:
        """Copy the staged database over ``target`` (the backup API, so an open file is
        replaced page by page), as a database the configured at-rest key opens: a plain
        one is encrypted on the way when there is a key."""
        key = self._database_key()
        if sqlcipher.state(staged) == "encrypted" and key is None:
            raise ConfigError(
                f"the backup holds an encrypted database: set {sqlcipher.KEY_SETTING} to "
                "the key of the installation it was made of",
                details={"rule": sqlcipher.KEY_SETTING},
            )
        if sqlcipher.state(staged) == "plain" and key is not None:
            encrypted = staged.with_name("encrypted.db")
            sqlcipher.export_encrypted(staged, encrypted, key)
            staged = encrypted
        expected = "plain" if key is None else "encrypted"
        if sqlcipher.state(target) not in ("new", expected):
            # restore replaces it whole: one of the other kind is removed first
            for suffix in ("", *SQLITE_SIDE_FILES):
                target.with_name(target.name + suffix).unlink(missing_ok=True)
        private_file(target)
        sqlcipher.snapshot(staged, target, key)

    # --- encryption at rest for existing data ------------------------------------------

    def encrypt(self, *, force: bool = False) -> builtins.list[str]:
        """Encrypt this data directory in place with the configured at-rest key (see
        ``backup.encrypt``); refuses while a server or worker uses it unless ``force``."""
        keys = load_at_rest_keys(self.settings, self._environ)
        if keys is None:
            raise ConfigError(
                "nothing to encrypt with: set security.encryption_key_env (or "
                "security.encryption_key_file) first",
                details={"rule": "security.encryption_key_env"},
            )
        self._stop_live_servers(force)
        return encrypt_installation(self.settings, keys)

    # --- a live server ------------------------------------------------------------------

    def _live(self) -> builtins.list[dict[str, Any]]:
        from smolit.tasks.worker_registry import WorkerRegistry

        url = make_url(self.settings.database_url)
        key = self._database_key()
        if url.get_backend_name() == "sqlite" and (
            sqlcipher.state(Path(url.database or "")) != "encrypted"
        ):
            key = None  # still plain: ``encrypt`` is about to encrypt it
        database = Database(self.settings.database_url, key=key)
        try:
            return [w for w in WorkerRegistry(database, stale_after=15).list() if w["alive"]]
        except SQLAlchemyError:  # no database yet, or not migrated: nothing runs on it
            return []
        finally:
            database.dispose()

    def _health_url(self) -> str:
        host = self.settings.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{self.settings.server.port}/health"

    def _answers(self) -> bool:
        try:
            return httpx.get(self._health_url(), timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _stop_live_servers(self, force: bool) -> None:
        live = self._live()
        answering = self._answers()
        if not live and not answering:
            return
        names = ", ".join(w["id"] for w in live) or self._health_url()
        if not force:
            raise ConflictError(
                f"a server or worker is running on this data ({names}); stop it first, or "
                "pass --force to stop it",
                details={"running": [w["id"] for w in live]},
            )
        here = socket.gethostname()
        remote = [w["id"] for w in live if w["hostname"] != here]
        if remote:
            raise ConflictError(f"stop these processes on their hosts first: {', '.join(remote)}")
        for worker in live:
            if worker["pid"] != os.getpid():
                self._terminate(int(worker["pid"]))
        if self._answers():
            raise ConflictError(
                f"a server still answers at {self._health_url()}; stop it before restoring"
            )

    @staticmethod
    def _terminate(pid: int) -> None:
        """SIGTERM (a graceful shutdown), then wait for the process to exit."""
        try:
            process = psutil.Process(pid)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_SECONDS)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired as exc:
            raise ConflictError(f"process {pid} did not stop within {STOP_SECONDS:g} s") from exc
