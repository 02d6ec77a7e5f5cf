"""The rig's processes: real servers on loopback, on ports chosen at run time.

- an OAuth2 provider: node-oidc-provider (local_rig/provider), short-lived JWT tokens;
- a bearer-protected DICOMweb server: Orthanc B behind nginx, whose auth_request asks
  local_rig/validator.py to check the token against the provider's JWKS (or, for a real
  Keycloak, local_rig/keycloak.py, its JWKS or its introspection endpoint);
- Orthanc A: Debian's Orthanc with the DICOMweb and Python plugins and this plugin, on
  the host or in a chroot of a newer Debian (local_rig/installations.py).

Every process dies with the process that started it (PR_SET_PDEATHSIG), and is stopped by
whoever started it.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from .chroots import OrthancRoot

ROOT = Path(__file__).resolve().parents[1]
RIG_DIR = Path(__file__).resolve().parent
PROVIDER_DIR = RIG_DIR / "provider"
ORTHANC = Path("/usr/sbin/Orthanc")
PLUGINS = Path("/usr/share/orthanc/plugins")
PYTHON_PLUGIN = PLUGINS / "libOrthancPython.so"
DICOMWEB_PLUGIN = PLUGINS / "libOrthancDicomWeb.so"
NGINX = Path("/usr/sbin/nginx")
AUDIENCE = "https://dicomweb.rig.test"
# ASCII with characters that break naive Basic encodings; distinctive, to search logs for.
CLIENT_SECRET = "rig-S3cr3t+/:%&=~LEAKCHECK-7f3a"
ADMIN = ("admin", "admin-password-for-tests")
_PR_SET_PDEATHSIG = 1


def missing_prerequisites() -> list[str]:
    needed = [ORTHANC, PYTHON_PLUGIN, DICOMWEB_PLUGIN, NGINX, PROVIDER_DIR / "node_modules"]
    missing = [str(path) for path in needed if not path.exists()]
    if shutil.which("node") is None:
        missing.append("node")
    return missing


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Service:
    """A process started by the tests, its output in a log file. ``start`` returns once
    ``ready_url`` answers with one of ``ready_statuses``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_dir: Path,
        ready_url: str,
        ready_statuses: tuple[int, ...] = (200,),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.ready_url = ready_url
        self.ready_statuses = ready_statuses
        self.env = dict(env) if env is not None else dict(os.environ)
        self.process: subprocess.Popen[bytes] | None = None
        # How often start() asks whether the service is ready; the bench, timing starts,
        # asks more often.
        self.poll_interval = 0.05
        # How long start() waits for the service to be ready.
        self.start_timeout = 30.0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=self._prepare_child,  # noqa: PLW1509 - no lock taken, before exec
            )
        self.wait_until(self.is_ready, f"an answer from {self.ready_url}", self.start_timeout)

    def is_ready(self) -> bool:
        """Whether the service serves requests: ``ready_url`` answers as expected."""
        return httpx2.get(self.ready_url, timeout=2).status_code in self.ready_statuses

    def _prepare_child(self) -> None:
        """Runs in the child process, just before it executes ``argv``."""
        _die_with_parent()

    def stop(self, timeout: float = 15.0) -> int | None:
        process = self.process
        if process is None:
            return None
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait(5)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(
                    f"{self.name} exited while waiting for {what}:\n{self.log()[-3000:]}"
                )
            try:
                if ready():
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(self.poll_interval)
        raise RuntimeError(f"{self.name}: no {what} within {timeout} s:\n{self.log()[-3000:]}")


class Provider(Service):
    def __init__(self, work: Path, log_dir: Path, token_ttl: int, clients: list[dict[str, Any]]):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.clients = clients
        self._key_file = work / "provider-keys.json"
        self._config = {
            "port": self.port,
            "issuer": self.issuer,
            "audience": AUDIENCE,
            "accessTokenTTL": token_ttl,
            "keyFile": str(self._key_file),
            "clients": clients,
        }
        self._config_path = work / "provider.json"
        self._config_path.write_text(json.dumps(self._config))
        argv = ["node", str(PROVIDER_DIR / "provider.mjs"), str(self._config_path)]
        super().__init__("provider", argv, log_dir, ready_url=f"{self.issuer}/jwks")

    def restart_with(self, clients: list[dict[str, Any]]) -> None:
        """The same provider (issuer, port, signing keys: tokens it issued stay valid) with
        other clients: a secret or a key rotated at the provider."""
        self.stop()
        self.clients = clients
        self._config_path.write_text(json.dumps({**self._config, "clients": clients}))
        self.start()

    def rotate_signing_key(self) -> None:
        """The same provider with a new signing key: the tokens it issued before no longer
        verify, though they have not expired."""
        self.stop()
        self._key_file.unlink()
        self.start()

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    def issue_token(self, client_id: str) -> str:
        """A token asked for directly, as a person would paste it into a static header."""
        answer = httpx2.post(
            self.token_endpoint,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": CLIENT_SECRET,
            },
            timeout=10,
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx2.get(f"{self.issuer}/test/stats", timeout=5).json()
        return stats


@dataclass(frozen=True)
class TokenCheck:
    """How the validator checks a bearer token: by its signature against ``jwks_url`` (its
    header's ``typ`` being ``token_type``), or by asking ``introspection_url`` (RFC 7662)
    as ``introspection_client`` (id, secret); then its issuer and audience."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    token_type: str = "at+jwt"
    introspection_url: str | None = None
    introspection_client: tuple[str, str] | None = None

    def arguments(self) -> list[str]:
        if self.introspection_url is not None and self.introspection_client is not None:
            method = [
                "--introspect",
                self.introspection_url,
                "--client",
                self.introspection_client[0],
            ]
        elif self.jwks_url is not None:
            method = ["--jwks", self.jwks_url, "--token-type", self.token_type]
        else:
            raise ValueError("a token check needs a JWKS or an introspection endpoint and client")
        return [self.issuer, self.audience, *method]


class Validator(Service):
    """The token validator (local_rig/validator.py): node-oidc-provider's JWTs checked
    against its JWKS, unless ``check`` says otherwise."""

    def __init__(
        self,
        log_dir: Path,
        provider: Provider | None = None,
        check: TokenCheck | None = None,
        name: str = "validator",
    ):
        if check is None:
            if provider is None:
                raise ValueError("a validator needs a provider or a token check")
            check = TokenCheck(provider.issuer, AUDIENCE, jwks_url=f"{provider.issuer}/jwks")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(RIG_DIR / "validator.py"), str(self.port), *check.arguments()]
        env = dict(os.environ)
        if check.introspection_client is not None:
            env["VALIDATOR_CLIENT_SECRET"] = check.introspection_client[1]
        super().__init__(name, argv, log_dir, ready_url=f"{self.url}/stats", env=env)

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = httpx2.get(f"{self.url}/stats", timeout=5).json()
        return stats

    def set_delay(self, seconds: float) -> None:
        httpx2.post(f"{self.url}/delay?seconds={seconds}", timeout=5).raise_for_status()


def orthanc_configuration(
    entry_script: str | None = None,
    oauth: Mapping[str, Any] | None = None,
    dicomweb: Mapping[str, Any] | None = None,
    **others: Any,
) -> dict[str, Any]:
    """Orthanc's configuration with the Python and DICOMweb plugins loaded and DICOMweb
    enabled; with this plugin when its entry script and DicomWebOAuth section are given.
    ``others`` come last and win."""
    configuration: dict[str, Any] = {
        "Plugins": [str(PYTHON_PLUGIN), str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, **(dicomweb or {})},
    }
    if entry_script is not None:
        configuration["PythonScript"] = entry_script
    if oauth is not None:
        configuration["DicomWebOAuth"] = oauth
    return {**configuration, **others}


class Orthanc(Service):
    """Orthanc in ``root`` (the host's file system by default, or a chroot); ``work`` is a
    host path inside ``root``, for its configuration file and storage."""

    def __init__(
        self,
        name: str,
        work: Path,
        log_dir: Path,
        config: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        verbose: bool = False,
        port: int | None = None,
        root: OrthancRoot | None = None,
    ) -> None:
        self.root = root or OrthancRoot()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        storage = work / f"{name}-storage"
        storage.mkdir(exist_ok=True)
        self.root.give(storage)
        base = {
            "Name": name,
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "StorageDirectory": self.root.visible_path(storage),
            "IndexDirectory": self.root.visible_path(storage),
            "HttpTimeout": 30,
        }
        self.config_path = work / f"{name}.json"
        self.config_path.write_text(json.dumps({**base, **config}, indent=2))
        argv = [
            str(ORTHANC),
            *(["--verbose"] if verbose else []),
            self.root.visible_path(self.config_path),
        ]
        environ = {"PATH": "/usr/bin:/bin", "HOME": self.root.visible_path(work), **(env or {})}
        super().__init__(
            name, argv, log_dir, f"{self.url}/system", ready_statuses=(200, 401), env=environ
        )

    def _prepare_child(self) -> None:
        # Into the chroot and its user first: a change of user clears the death signal.
        self.root.enter()
        super()._prepare_child()


class ProtectedServer:
    """Orthanc B behind nginx: only requests with a valid bearer token get through.
    ``suffix`` tells a second one's files and logs from the first one's."""

    def __init__(self, work: Path, log_dir: Path, validator: Validator, suffix: str = "") -> None:
        self.validator = validator
        self.password = secrets.token_urlsafe(16)
        self.orthanc = Orthanc(
            f"orthanc-b{suffix}",
            work,
            log_dir,
            {
                "AuthenticationEnabled": True,
                "RegisteredUsers": {"nginx": self.password},
                "Plugins": [str(DICOMWEB_PLUGIN)],
                "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            },
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/dicom-web/"
        prefix = work / f"nginx{suffix}"
        prefix.mkdir(exist_ok=True)
        self.access_log = prefix / "access.log"
        credentials = base64.b64encode(f"nginx:{self.password}".encode()).decode()
        (prefix / "nginx.conf").write_text(
            NGINX_CONF.replace("PREFIX", str(prefix))
            .replace("LISTEN_PORT", str(self.port))
            .replace("VALIDATOR_PORT", str(validator.port))
            .replace("ORTHANC_PORT", str(self.orthanc.port))
            .replace("CREDENTIALS", credentials)
        )
        self.nginx = Service(
            f"nginx{suffix}",
            [
                str(NGINX),
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-e",
                str(log_dir / f"nginx{suffix}-error.log"),
            ],
            log_dir,
            ready_url=f"{self.url}studies",
            ready_statuses=(401,),  # refused without a token: nginx and its validator are up
        )

    @property
    def direct_auth(self) -> tuple[str, str]:
        return ("nginx", self.password)

    def start(self) -> None:
        self.orthanc.start()
        self.nginx.start()

    def stop(self) -> None:
        self.nginx.stop()
        self.orthanc.stop()


# What every nginx of the rig has: in the foreground, its files under PREFIX, and the
# start of its http block.
NGINX_HEAD = """
daemon off;
worker_processes 1;
pid PREFIX/nginx.pid;
error_log PREFIX/error.log warn;
events { worker_connections 512; }
http {
    client_body_temp_path PREFIX/client_body;
    proxy_temp_path PREFIX/proxy;
    fastcgi_temp_path PREFIX/fastcgi;
    uwsgi_temp_path PREFIX/uwsgi;
    scgi_temp_path PREFIX/scgi;
"""

NGINX_CONF = (
    NGINX_HEAD
    + """
    # When each request ended (epoch, ms) and how long it took (s): the bench times
    # transfers here.
    log_format timed '$msec $request_time $request_method $status $uri';
    access_log PREFIX/access.log timed;
    server {
        listen 127.0.0.1:LISTEN_PORT;
        client_max_body_size 0;
        location = /_validate {
            internal;
            proxy_pass http://127.0.0.1:VALIDATOR_PORT/validate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location / {
            auth_request /_validate;
            auth_request_set $bearer_challenge $upstream_http_www_authenticate;
            add_header WWW-Authenticate $bearer_challenge always;
            proxy_pass http://127.0.0.1:ORTHANC_PORT;
            proxy_set_header Authorization "Basic CREDENTIALS";
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
        }
    }
}
"""
)
