"""PostgreSQL for the replicas' tests: Debian's server, a cluster of its own in a fresh
directory, on a loopback port chosen at run time. It runs as the ``postgres`` user
(PostgreSQL refuses root), so its directory is outside the tests' root-only temporary
folders, and removed when it stops."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .services import Service, free_port

INSTALLATIONS = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
# The database user Orthanc connects as: the cluster's owner.
DATABASE_USER = "orthanc"


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin/ folder, if any."""
    found = sorted(INSTALLATIONS.glob("*/bin/postgres"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


class PostgreSQL(Service):
    def __init__(self, log_dir: Path) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError(f"no PostgreSQL server under {INSTALLATIONS}")
        self.bin = binaries
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.home = Path(tempfile.mkdtemp(prefix="rig-postgresql-"))
        self.data = self.home / "data"
        user = pwd.getpwnam(SYSTEM_USER)
        self._ids = (user.pw_uid, user.pw_gid)
        os.chown(self.home, *self._ids)
        argv = [str(binaries / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.home}"]
        # A test database: durability is not needed, speed is.
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        super().__init__("postgresql", argv, log_dir, ready_url="", env=env)
        self._client_env = {**env, "PGPASSWORD": self.password}

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        super().start()

    def _initdb(self) -> None:
        password_file = self.home / "password"
        password_file.write_text(self.password + "\n")
        os.chown(password_file, *self._ids)
        argv = [str(self.bin / "initdb"), "-D", str(self.data), "-U", DATABASE_USER]
        argv += ["--pwfile", str(password_file), "--auth=scram-sha-256", "--no-sync"]
        with self.log_path.open("ab") as log:
            subprocess.run(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=self._as_postgres,
                check=True,
            )
        password_file.unlink()

    def _as_postgres(self) -> None:
        uid, gid = self._ids
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    def _prepare_child(self) -> None:
        # The user first: a change of user clears the death signal.
        self._as_postgres()
        super()._prepare_child()

    def is_ready(self) -> bool:
        return self._client("pg_isready", "--quiet", check=False).returncode == 0

    def create_database(self, name: str) -> None:
        self._client("createdb", name)

    def dump(self, database: str) -> str:
        """The whole database as SQL, data included."""
        return self._client("pg_dump", "--no-owner", database).stdout

    def _client(
        self, program: str, *arguments: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.bin / program),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                DATABASE_USER,
                *arguments,
            ],
            env=self._client_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is not None and self.process.poll() is None:
            # Fast shutdown: SIGTERM would wait for every client to disconnect.
            self.process.send_signal(signal.SIGINT)
        code = super().stop(timeout)
        shutil.rmtree(self.home, ignore_errors=True)
        return code

    def orthanc_section(self, database: str) -> dict[str, object]:
        """The PostgreSQL plugin's section for an Orthanc that shares ``database`` with
        others: its index there, no lock (Orthanc's condition for several servers)."""
        return {
            "EnableIndex": True,
            "EnableStorage": False,
            "Host": "127.0.0.1",
            "Port": self.port,
            "Database": database,
            "Username": DATABASE_USER,
            "Password": self.password,
            "Lock": False,
            "EnableSsl": False,
            "IndexConnectionsCount": 2,
        }
