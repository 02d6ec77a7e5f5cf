"""Loopback emulations of the cloud identity endpoints that google-auth and azure-identity
call, for the tests: none of them is Google's or Microsoft's service.

One server answers, each as its cloud documents the protocol:
- Google's OAuth 2.0 token endpoint for a service account (`/google/token`): the JWT
  bearer grant (RFC 7523), the assertion verified against the service account's public
  key, its `aud` Google's token URI (google-auth sets it whatever the key's `token_uri`);
- Google's STS (`/google/sts`) for an external account: the subject token must be the
  file's current content; and IAM credentials (`/google/iam/...:generateAccessToken`) for
  impersonation;
- the GCE metadata server (`/computeMetadata/v1/...`), with its `Metadata-Flavor` header;
- Azure's App Service managed identity endpoint (`/azure/app-service`, protocol
  2019-08-01: the `X-IDENTITY-HEADER` header, `resource` without `/.default`) and IMDS
  (`/metadata/identity/oauth2/token`, `Metadata: true`);
- a client-credentials token endpoint (`/assertion/token`) that accepts only a
  `client_assertion` equal to a file's current content.

The tokens handed out come from ``issue_token``: the tests' own JWTs, or the local
provider's real tokens, which the protected DICOMweb server accepts. ``faults`` makes a
route answer an HTTP status instead, as an outage would.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug import Request, Response

from .loopback_http import LoopbackHttpServer

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SERVICE_ACCOUNT = "dicomweb@orthanc-project.iam.gserviceaccount.com"
IMPERSONATED = "dicom-editor@orthanc-project.iam.gserviceaccount.com"
METADATA_ACCOUNT = "1234567890-compute@developer.gserviceaccount.com"
AZURE_SYSTEM_CLIENT_ID = "5a1f0c4e-0000-4000-8000-5y5temass1gn"
AZURE_USER_CLIENT_ID = "0b7c2d1e-0000-4000-8000-u5erass1gned"
ASSERTION_CLIENT_ID = "orthanc-workload"
AZURE_TENANT = "00000000-0000-0000-0000-00000000beef"
# (token, seconds until it expires)
IssueToken = Callable[[], tuple[str, int]]
_TOKEN_KEY = RSAKey.generate_key(2048, parameters={"kid": "cloud-emulation"})


def google_like_token() -> tuple[str, int]:
    """An opaque token of the shape Google issues, for an hour."""
    return f"ya29.c.emulated-{secrets.token_urlsafe(48)}", 3599


def azure_like_token(client_id: str = AZURE_SYSTEM_CLIENT_ID) -> tuple[str, int]:
    """A JWT of the shape Entra ID issues to a managed identity for the DICOM service,
    signed with a throw-away key, for a day."""
    now = int(time.time())
    claims = {
        "iss": f"https://sts.windows.net/{AZURE_TENANT}/",
        "aud": "https://dicom.healthcareapis.azure.com",
        "appid": client_id,
        "tid": AZURE_TENANT,
        "xms_mirid": "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/"
        "pacs/providers/Microsoft.Compute/virtualMachines/orthanc",
        "iat": now,
        "nbf": now,
        "exp": now + 86399,
    }
    return jwt.encode(
        {"alg": "RS256", "typ": "JWT", "kid": "cloud-emulation"}, claims, _TOKEN_KEY
    ), 86399


def _json(body: Mapping[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description}, status)


@dataclass
class CloudEmulation:
    """The emulated endpoints and what they were asked. ``root`` holds the files they
    check requests against (the service account's key, the subject token, the
    assertion)."""

    root: Path
    issue_token: IssueToken
    identity_header: str = "emulated-identity-header-8f3a"
    # The access scopes the metadata server lists for the VM's service account.
    metadata_scopes: list[str] = field(
        default_factory=lambda: ["https://www.googleapis.com/auth/cloud-platform"]
    )
    # path prefix -> HTTP status answered instead of a token
    faults: dict[str, int] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    # route -> the last request's form or query (values a test may check)
    last: dict[str, dict[str, str]] = field(default_factory=dict)
    port: int = 0  # 0: chosen at the first start
    _key: rsa.RSAPrivateKey = field(init=False, repr=False)
    _http: LoopbackHttpServer = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root.mkdir(parents=True, exist_ok=True)
        self._http = LoopbackHttpServer(self._answer, self.port)

    # -- The server --------------------------------------------------------------------

    def start(self) -> None:
        self._http.start()
        self.port = self._http.port

    def stop(self) -> None:
        self._http.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def environment(self) -> dict[str, str]:
        """What pins google-auth's and azure-identity's endpoints to this server, IMDS
        for Azure (``app_service_environment`` for App Service)."""
        return pinned_environment(self.host, self.root / "gcloud")

    def app_service_environment(self) -> dict[str, str]:
        return {
            **self.environment(),
            "IDENTITY_ENDPOINT": f"{self.url}/azure/app-service",
            "IDENTITY_HEADER": self.identity_header,
        }

    # -- The files a site would have ---------------------------------------------------

    @property
    def private_key_pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def service_account_file(self, name: str = "service-account.json") -> Path:
        """A service account's key file, as the Google Cloud console downloads it, its
        ``token_uri`` this server."""
        path = self.root / name
        path.write_text(json.dumps(self.service_account_info(), indent=2))
        return path

    def service_account_info(self) -> dict[str, str]:
        return {
            "type": "service_account",
            "project_id": "orthanc-project",
            "private_key_id": "0123456789abcdef",
            "private_key": self.private_key_pem,
            "client_email": SERVICE_ACCOUNT,
            "client_id": "109876543210987654321",
            "token_uri": f"{self.url}/google/token",
        }

    def external_account_file(self, subject_token: str) -> Path:
        """Workload identity federation: the subject token in a file, exchanged at STS,
        then a service account impersonated. The audience names no project number:
        google-auth would otherwise ask Resource Manager for the project's id."""
        token_file = self.root / "subject-token"
        token_file.write_text(subject_token)
        path = self.root / "external-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "external_account",
                    "audience": "//iam.googleapis.com/locations/global/workloadIdentityPools/"
                    "orthanc-pool/providers/kubernetes",
                    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                    "token_url": f"{self.url}/google/sts",
                    "credential_source": {"file": str(token_file)},
                    "service_account_impersonation_url": f"{self.url}/google/iam/v1/projects/-/"
                    f"serviceAccounts/{IMPERSONATED}:generateAccessToken",
                },
                indent=2,
            )
        )
        return path

    def impersonated_file(self) -> Path:
        path = self.root / "impersonated.json"
        path.write_text(
            json.dumps(
                {
                    "type": "impersonated_service_account",
                    "service_account_impersonation_url": f"{self.url}/google/iam/v1/projects/"
                    f"-/serviceAccounts/{IMPERSONATED}:generateAccessToken",
                    "source_credentials": self.service_account_info(),
                    "delegates": [],
                },
                indent=2,
            )
        )
        return path

    def assertion_file(self, content: str) -> Path:
        """The projected service-account token, written the way kubelet rotates it."""
        path = self.root / "assertion"
        fresh = self.root / "assertion.new"
        fresh.write_text(content)
        fresh.replace(path)
        return path

    @property
    def assertion_token_endpoint(self) -> str:
        return f"{self.url}/assertion/token"

    # -- The endpoints ------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        route = self._route(request.path)
        if route is None:
            return Response("not found", status=404)
        name, handler = route
        with self._lock:
            self.requests[name] += 1
            self.last[name] = {**request.args, **request.form}
            fault = next(
                (status for prefix, status in self.faults.items() if name.startswith(prefix)),
                None,
            )
        if fault is not None:
            return Response("<html>unavailable</html>", status=fault, content_type="text/html")
        return handler(request)

    def _route(self, path: str) -> tuple[str, Callable[[Request], Response]] | None:
        # The metadata server answers for the account by its alias and by its email.
        for account in ("default", METADATA_ACCOUNT):
            path = path.replace(f"/service-accounts/{account}/", "/service-accounts/default/")
        routes: dict[str, Callable[[Request], Response]] = {
            "/google/token": self._google_token,
            "/google/sts": self._google_sts,
            "/computeMetadata/v1/instance/service-accounts/default/token": self._metadata_token,
            "/computeMetadata/v1/instance/service-accounts/default/": self._metadata_account,
            "/computeMetadata/v1/": self._metadata_root,
            "/azure/app-service": self._app_service,
            "/metadata/identity/oauth2/token": self._imds,
            "/assertion/token": self._assertion_token,
        }
        if path in routes:
            return path, routes[path]
        if path.startswith("/google/iam/") and path.endswith(":generateAccessToken"):
            return "/google/iam", self._google_iam
        if path in {"/", "/computeMetadata/v1"}:
            return "/computeMetadata/v1/", self._metadata_root
        return None

    def _google_token(self, request: Request) -> Response:
        if request.form.get("grant_type") != JWT_BEARER:
            return _error(400, "unsupported_grant_type", "Invalid grant_type.")
        public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        try:
            claims = jwt.decode(
                request.form.get("assertion", ""),
                RSAKey.import_key(public_pem),
                algorithms=["RS256"],
            ).claims
        except (JoseError, ValueError):
            return _error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_URI or claims.get("iss") != SERVICE_ACCOUNT:
            return _error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token")
        issued, expires, now = claims.get("iat", 0), claims.get("exp", 0), time.time()
        if not (issued <= now + 60 and now < expires <= issued + 3600):
            return _error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token")
        if not claims.get("scope"):
            return _error(400, "invalid_scope", "Invalid OAuth scope or ID token audience")
        token, expires_in = self.issue_token()
        return _json({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    def _google_sts(self, request: Request) -> Response:
        expected = (self.root / "subject-token").read_text()
        if request.form.get("grant_type") != TOKEN_EXCHANGE:
            return _error(400, "unsupported_grant_type", "Invalid grant_type.")
        if request.form.get("subject_token") != expected:
            return _error(400, "invalid_grant", "The subject token is invalid.")
        token, expires_in = self.issue_token()
        return _json(
            {
                "access_token": f"federated-{token}",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": expires_in,
            }
        )

    def _google_iam(self, request: Request) -> Response:
        account = unquote(request.path.rsplit("/serviceAccounts/", 1)[1].split(":")[0])
        if account != IMPERSONATED or not request.headers.get("Authorization", "").startswith(
            "Bearer "
        ):
            return _json({"error": {"code": 403, "message": "Permission denied"}}, 403)
        token, expires_in = self.issue_token()
        expire_time = datetime.fromtimestamp(time.time() + expires_in, UTC)
        return _json(
            {"accessToken": token, "expireTime": expire_time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )

    def _metadata_refused(self, request: Request) -> Response | None:
        if request.headers.get("Metadata-Flavor") != "Google":
            return Response("Missing Metadata-Flavor:Google header.", status=403)
        return None

    def _metadata_root(self, request: Request) -> Response:
        return Response("", headers={"Metadata-Flavor": "Google"})

    def _metadata_account(self, request: Request) -> Response:
        refused = self._metadata_refused(request)
        if refused is not None:
            return refused
        return _json(
            {
                "aliases": ["default"],
                "email": METADATA_ACCOUNT,
                "scopes": self.metadata_scopes,
            }
        )

    def _metadata_token(self, request: Request) -> Response:
        refused = self._metadata_refused(request)
        if refused is not None:
            return refused
        token, expires_in = self.issue_token()
        return _json({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    def _app_service(self, request: Request) -> Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return _json({"statusCode": 401, "message": "Unauthorized"}, 401)
        refused = self._azure_refusal(request, "2019-08-01")
        if refused is not None:
            return refused
        token, expires_in = self.issue_token()
        return _json(
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + expires_in),
                "resource": request.args["resource"],
                "token_type": "Bearer",
                "client_id": request.args.get("client_id", AZURE_SYSTEM_CLIENT_ID),
            }
        )

    def _imds(self, request: Request) -> Response:
        if request.headers.get("Metadata") != "true":
            return _error(400, "invalid_request", "Required metadata header not specified")
        refused = self._azure_refusal(request, "2018-02-01")
        if refused is not None:
            return refused
        token, expires_in = self.issue_token()
        return _json(
            {
                "access_token": token,
                "expires_in": str(expires_in),
                "expires_on": str(int(time.time()) + expires_in),
                "resource": request.args["resource"],
                "token_type": "Bearer",
            }
        )

    def _azure_refusal(self, request: Request, api_version: str) -> Response | None:
        """The checks both Azure protocols make: its API version, a resource (not a
        scope: azure-identity strips ``/.default``), a known identity."""
        resource = request.args.get("resource", "")
        if request.args.get("api-version") != api_version:
            return _error(400, "invalid_request", "Invalid api-version")
        if not resource or resource.endswith(("/.default", "/")):
            return _error(400, "invalid_resource", f"Invalid resource {resource!r}")
        client_id = request.args.get("client_id")
        if client_id not in (None, AZURE_USER_CLIENT_ID):
            return _error(400, "invalid_request", "Identity not found")
        return None

    def _assertion_token(self, request: Request) -> Response:
        expected = (self.root / "assertion").read_text().strip()
        if request.form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "client_credentials only")
        if (
            request.form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE
            or request.form.get("client_assertion") != expected
            or request.form.get("client_id") != ASSERTION_CLIENT_ID
        ):
            return _error(401, "invalid_client", "AADSTS700213: No matching federated identity")
        token, expires_in = self.issue_token()
        return _json({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


def pinned_environment(host: str, gcloud_config: Path) -> dict[str, str]:
    """The environment that keeps google-auth and azure-identity on ``host`` (loopback):
    Google's metadata server, by host and by IP; gcloud's configuration away from the
    real home; Azure's IMDS. google-auth reads the metadata variables once, when
    ``google.auth.compute_engine._metadata`` is first imported: set them before."""
    return {
        "GCE_METADATA_HOST": host,
        "GCE_METADATA_IP": host,
        "CLOUDSDK_CONFIG": str(gcloud_config),
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{host}",
    }


# Variables that would send the libraries elsewhere, or choose another identity.
CLOUD_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCE_METADATA_ROOT",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
)
