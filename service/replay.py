"""Replay protection for CDS Hooks tokens: each (issuer, jti) is accepted once until the token expires.

The store must be shared by everyone who answers for the service: the gunicorn workers of a pod (a SQLite file
on local disk, the default) and, with several replicas, every pod (Redis). A store that cannot answer refuses
the call: accepting it would let a replayed token through.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from service.runtime import temporary_directory

LEEWAY_SECONDS = 30  # clock skew between the EHR and us: a token is remembered this long after it expires


class ReplayStoreUnavailable(RuntimeError):
    """The replay store could not say whether a token was seen: the call is refused."""


class ReplayStore(Protocol):
    def first_use(self, key: tuple[str, str], expires_at: float, now: float | None = None) -> bool:
        """Record key; False if an unexpired token already used it."""


class JtiCache:
    """Seen (issuer, jti) pairs in this process only: bounded and thread-safe. For one process (tests, a single
    worker); a pod with several workers needs a shared store."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max(1, int(max_size))
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, key: tuple[str, str], expires_at: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            # Tokens have a capped lifetime, so insertion order is close to expiry order: purge from the front.
            while self._seen and next(iter(self._seen.values())) < now - LEEWAY_SECONDS:
                self._seen.popitem(last=False)
            if key in self._seen and self._seen[key] >= now - LEEWAY_SECONDS:
                return False
            self._seen[key] = expires_at
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_size:
                self._seen.popitem(last=False)
            return True


def _text_key(key: tuple[str, str]) -> str:
    issuer, jti = key
    return f"{issuer}\x1f{jti}"  # a separator no issuer URL or jti we accept contains


class SqliteJtiStore:
    """Seen tokens in a SQLite file on local disk, shared by the processes of one machine (gunicorn's workers)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires REAL NOT NULL)")
            connection.execute("CREATE INDEX IF NOT EXISTS seen_expires ON seen (expires)")
            self._local.connection = connection
        return connection

    def first_use(self, key: tuple[str, str], expires_at: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        try:
            connection = self._connection()
            # One write transaction: two workers racing on the same token cannot both see it as new.
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("DELETE FROM seen WHERE expires < ?", (now - LEEWAY_SECONDS,))
                inserted = connection.execute(
                    "INSERT OR IGNORE INTO seen (key, expires) VALUES (?, ?)", (_text_key(key), expires_at)
                ).rowcount
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise ReplayStoreUnavailable(f"replay store {self.path}: {error}") from error
        return inserted == 1


class RedisJtiStore:
    """Seen tokens in Redis, shared by every replica: SET NX with the token's remaining lifetime as expiry."""

    def __init__(self, url: str, timeout: float = 1.0) -> None:
        import redis  # noqa: PLC0415  (only deployments that configure Redis need the client)

        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._client: Any = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def first_use(self, key: tuple[str, str], expires_at: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        ttl = max(1, int(expires_at + LEEWAY_SECONDS - now) + 1)
        try:
            return bool(self._client.set("ldn:cds-jti:" + _text_key(key), b"1", nx=True, ex=ttl))
        except self._errors as error:
            raise ReplayStoreUnavailable(f"replay store (Redis): {error}") from error


def default_sqlite_path() -> str:
    """Beside the workers' shared metrics (a directory per gunicorn master), else the temporary directory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or temporary_directory() or "/dev/shm"
    return os.path.join(directory, f"ldn-cds-jti-{os.getuid()}.sqlite3")


def replay_store(config: Any) -> ReplayStore:
    """The store LDN_CDS_JTI_STORE names: "sqlite" (default; LDN_CDS_JTI_DB or beside the metrics), "memory"
    (one process), or a redis:// or rediss:// URL."""
    kind = str(config.get("CDS_JTI_STORE") or "sqlite").strip()
    if kind == "memory":
        return JtiCache(config.get("CDS_JTI_CACHE_SIZE") or 100_000)
    if kind.startswith(("redis://", "rediss://", "unix://")):
        return RedisJtiStore(kind)
    if kind == "sqlite":
        return SqliteJtiStore(config.get("CDS_JTI_DB") or default_sqlite_path())
    raise ValueError(f"LDN_CDS_JTI_STORE must be sqlite, memory or a redis:// URL, not {kind!r}")
