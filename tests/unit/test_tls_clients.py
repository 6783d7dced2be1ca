"""The Redis and PostgreSQL clients over TLS: rediss:// URLs and sslmode= parameters."""

from __future__ import annotations

import ssl

import redis

from smolit.cache.redis_tier import RedisTier
from smolit.config import Settings
from smolit.distributed.celery_app import create_celery
from smolit.storage import Database

REDISS = "rediss://:pw-1234@127.0.0.1:6380/0"


def test_queue_and_cache_accept_rediss_urls() -> None:
    settings = Settings(queue=REDISS, cache={"redis_url": REDISS})
    assert settings.queue == settings.cache.redis_url == REDISS


def test_the_celery_broker_verifies_a_rediss_server() -> None:
    connection = create_celery(Settings(queue=REDISS)).connection_for_write()
    assert connection.transport_cls == "rediss"
    assert connection.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_ssl_parameters_of_a_rediss_url_are_used() -> None:
    url = REDISS + "?ssl_ca_certs=/etc/smolit/ca.pem"
    connection = create_celery(Settings(queue=url)).connection_for_write()
    assert connection.ssl == {"ssl_ca_certs": "/etc/smolit/ca.pem"}


def test_the_redis_tier_connects_over_verified_tls() -> None:
    tier = RedisTier(REDISS)
    pool = tier._client.connection_pool
    assert issubclass(pool.connection_class, redis.SSLConnection)
    assert pool.connection_kwargs.get("ssl_cert_reqs", "required") == "required"
    tier.close()


def test_postgresql_tls_parameters_reach_the_driver() -> None:
    url = "postgresql://bob@db.internal/smolit?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    database = Database(url)
    _args, kwargs = database.engine.dialect.create_connect_args(database.engine.url)
    assert database.engine.url.drivername == "postgresql+psycopg"
    assert (kwargs["sslmode"], kwargs["sslrootcert"]) == ("verify-full", "/etc/ca.pem")
    database.dispose()
