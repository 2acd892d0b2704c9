"""A Postgres of the test's own that it may stop and start again (outage tests).

Never the machine's shared server: a fresh pgserver data directory in a temporary
directory, stopped with ``pg_ctl -m immediate`` (as a crash or a lost host would) and
started again on the same Unix socket, so the URL handed out stays valid.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import pgserver._commands

        return pgserver._commands


class StoppablePostgres:
    def __init__(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="saasllm-stoppable-pg-"))
        self._server: Any = None

    @property
    def pgdata(self) -> Path:
        return self._tmp / "pgdata"

    def start_first(self) -> str:
        """Initialise and start the server; returns the URL of its ``postgres`` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import get_server

            self._server = get_server(self.pgdata, cleanup_mode=None)
        url = str(self._server.get_uri("postgres"))
        self._socket_dir = url.split("host=", 1)[1]
        # Again with fsync off (a test server need not survive a power cut) and room for
        # two instances' pools and a load generator.
        self.stop()
        self.start()
        return url

    def _pg_ctl(self, *args: str) -> None:
        pgserver = _pgserver()
        user = self._server.system_user
        command = [str(pgserver.POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *args]
        subprocess.run(command, check=True, user=user, timeout=60, capture_output=True)

    def stop(self) -> None:
        """Stop at once, as a crash would (connections are cut, no checkpoint)."""
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def start(self) -> None:
        """Start again on the same socket (crash recovery runs first).

        fsync is off, which a crash of Postgres alone survives (the kernel keeps what was
        written). ``synchronous_commit`` stays on, as the product runs: an asynchronous
        commit lives only in Postgres' WAL buffers until the WAL writer gets to it, so an
        immediate stop lost calls whose record had been acknowledged (and answered 200).
        """
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self._socket_dir}",
            "-o",
            "-c fsync=off -c max_connections=200",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )

    def destroy(self) -> None:
        if self._server is not None:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
                self._pg_ctl("-w", "-m", "immediate", "stop")
        shutil.rmtree(self._tmp, ignore_errors=True)


def running_as_root() -> bool:
    return os.geteuid() == 0
