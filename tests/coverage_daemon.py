"""Spark's Python daemon for the test suite: each forked worker saves its coverage data after every task.

Reused workers are killed at the end of a session, and a worker forked by the daemon resets the signal handlers
coverage could save on; without this, code that runs inside reused Spark workers goes unmeasured.
`spark.python.daemon.module=coverage_daemon` in tests/conftest.py; the daemon itself is pyspark's."""

import coverage
import pyspark.daemon as daemon

_worker = daemon.worker


def worker(sock, authenticated):
    try:
        return _worker(sock, authenticated)
    finally:
        cov = coverage.Coverage.current()
        if cov is not None:
            cov.save()


if __name__ == "__main__":
    daemon.worker = worker
    daemon.manager()
