"""The distributed mode: Celery on a Redis broker, state in the database, ``smolit worker``."""
