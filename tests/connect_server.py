"""Spark 3.5's own Spark Connect server (`org.apache.spark.sql.connect.service.SparkConnectServer`), with Delta Lake,
for `make test-connect`: the Connect API of Databricks Runtime 14.3's standard access mode, served by this PySpark's
Spark from the jars `make setup` caches (`.jars/spark-3.5`; pip's pyspark has no `start-connect-server.sh`).

    python tests/connect_server.py [--log FILE] -- COMMAND ...

starts a server on a free loopback port, runs COMMAND with `SPARK_REMOTE=sc://127.0.0.1:PORT`, stops the server and
exits with COMMAND's code. `start()` is the same for a test that needs a server of its own (to kill it, JVM included).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark

from capstone.runtime import DELTA_SETTINGS, delta_jars, jar_cache

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
CONNECT_JAR_PREFIX = "spark-connect_"


def free_port() -> int:
    "A loopback port nobody listens on now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int, cache: str) -> list[str]:
    "spark-submit of the Connect server with the cached Connect and Delta jars, settings as a local pipeline session's."
    connect = [os.path.join(cache, n) for n in sorted(os.listdir(cache)) if n.startswith(CONNECT_JAR_PREFIX)]
    delta = delta_jars(cache)
    if not connect or not delta:
        sys.exit(f"no Spark Connect or Delta jar in {cache}: `make setup` fetches them")
    settings = {
        **DELTA_SETTINGS,
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.default.parallelism": "4",
        "spark.log.level": "ERROR",
    }
    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    confs = [a for k, v in settings.items() for a in ("--conf", f"{k}={v}")]
    return [submit, "--master", "local[2]", "--driver-memory", "4g", "--class", SERVER_CLASS,
            "--jars", ",".join(connect + delta), *confs, "spark-internal"]  # fmt: skip


def start(log: Path, port: int | None = None, timeout_s: float = 180.0) -> tuple[subprocess.Popen, str]:
    """A Connect server in a process group of its own (kill the group to kill its JVM), and its `sc://` address once
    it accepts connections. Its Python workers run this interpreter."""
    port = port or free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    env.pop("SPARK_REMOTE", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen(server_command(port, jar_cache()), stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the Spark Connect server stopped (exit {proc.returncode}) before serving: see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"sc://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.5)
    stop(proc)
    sys.exit(f"the Spark Connect server did not serve within {timeout_s:.0f} s: see {log}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    "Stop the server's process group (SIGKILL if it has not gone 30 s after `sig`)."
    try:
        os.killpg(proc.pid, sig)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, default=Path("data/out-connect/connect-server.log"))
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    proc, url = start(args.log)
    print(f"Spark {pyspark.__version__} Connect server with Delta Lake at {url} (log: {args.log})", flush=True)
    try:
        return subprocess.call(command, env=dict(os.environ, SPARK_REMOTE=url))
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
