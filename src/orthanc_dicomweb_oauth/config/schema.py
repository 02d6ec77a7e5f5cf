"""The keys of the ``DicomWebOAuth`` configuration section, with their types, defaults and
documentation. docs/configuration.md is generated from this module
(``make docs``), and a test fails when the two differ.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, StringConstraints

from .. import keys
from ..credentials.private_key import ALL_THUMBPRINT_HEADERS, AssertionAlgorithm, ThumbprintHeader

ClientAuthMethod = Literal["client_secret_post", "client_secret_basic", "private_key_jwt"]
# Keys copied, as they are, into the DICOMweb plugin's server definition.
DICOMWEB_OPTION_KEYS = (
    keys.URL,
    keys.TIMEOUT,
    keys.CHUNKED_TRANSFERS,
    keys.HAS_DELETE,
    keys.HTTP_HEADERS,
    keys.CERTIFICATE_FILE,
    keys.CERTIFICATE_KEY_FILE,
    keys.CERTIFICATE_KEY_PASSWORD,
    keys.PKCS11,
)


def _integer_as_text(value: Any) -> Any:
    # The orthancteam/orthanc image turns an environment variable's value that reads as
    # JSON into that JSON: ``..._CLIENT_ID=1234`` arrives as the number 1234.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# A non-empty identifier that may be all digits.
Identifier = Annotated[str, StringConstraints(min_length=1), BeforeValidator(_integer_as_text)]


class _Keys(BaseModel):
    # Orthanc's configuration is JSON: no coercion ("30" is not 30), no unknown key.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


class ServerSection(_Keys):
    """``DicomWebOAuth.Servers.NAME``: one DICOMweb server and how to get its tokens.
    NAME is the name of the server in the DICOMweb plugin (``/dicom-web/servers/NAME``)."""

    # -- The DICOMweb server (same meaning as in DicomWeb.Servers.NAME) ------------------
    url: str | None = Field(
        default=None,
        alias=keys.URL,
        min_length=1,
        description="Base URL of the DICOMweb server (e.g. the Azure service URL ending in "
        "`/v2/`). Required here unless `DicomWeb.Servers.NAME` defines it.",
    )
    timeout: int | None = Field(
        default=None,
        alias=keys.TIMEOUT,
        ge=0,
        description="DICOMweb plugin option: HTTP timeout in seconds of requests to the "
        "server (the plugin's default applies when unset).",
    )
    chunked_transfers: bool | None = Field(
        default=None,
        alias=keys.CHUNKED_TRANSFERS,
        description="DICOMweb plugin option: use HTTP chunked transfers for STOW.",
    )
    has_delete: bool | None = Field(
        default=None,
        alias=keys.HAS_DELETE,
        description="DICOMweb plugin option: the server supports DELETE.",
    )
    http_headers: dict[str, str] = Field(
        default_factory=dict,
        alias=keys.HTTP_HEADERS,
        description="Extra HTTP headers sent to the server, merged over those of "
        "`DicomWeb.Servers.NAME`. `Authorization` is reserved for the bearer token.",
    )
    certificate_file: str | None = Field(
        default=None,
        alias=keys.CERTIFICATE_FILE,
        min_length=1,
        description="DICOMweb plugin option: client certificate (PEM) for mutual TLS.",
    )
    certificate_key_file: str | None = Field(
        default=None,
        alias=keys.CERTIFICATE_KEY_FILE,
        min_length=1,
        description="DICOMweb plugin option: private key of `CertificateFile`.",
    )
    certificate_key_password: SecretStr | None = Field(
        default=None,
        alias=keys.CERTIFICATE_KEY_PASSWORD,
        description="DICOMweb plugin option: password of `CertificateKeyFile`.",
    )
    pkcs11: bool | None = Field(
        default=None,
        alias=keys.PKCS11,
        description="DICOMweb plugin option: the client certificate is on a PKCS#11 token.",
    )

    # -- The token endpoint --------------------------------------------------------------
    token_endpoint: str | None = Field(
        default=None,
        alias=keys.TOKEN_ENDPOINT,
        min_length=1,
        description="The provider's OAuth2 token endpoint (RFC 6749 §3.2). Must be `https://`, "
        "except on loopback or with `AllowInsecureHttp`. Exactly one of `TokenEndpoint` and "
        "`Issuer` is required.",
    )
    issuer: str | None = Field(
        default=None,
        alias=keys.ISSUER,
        min_length=1,
        description="The provider's issuer URL, instead of `TokenEndpoint`: the token endpoint "
        "is read once from the provider's metadata (`/.well-known/openid-configuration`, else "
        "RFC 8414's `/.well-known/oauth-authorization-server`), which must name this issuer "
        "and support `ClientAuthMethod`.",
    )
    client_id: Identifier | None = Field(
        default=None,
        alias=keys.CLIENT_ID,
        description="The client (application) id registered at the provider. Required with "
        "`TokenEndpoint` or `Issuer`. A number is taken as its digits (the orthancteam/orthanc "
        "image turns `..._CLIENT_ID=1234` into one).",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        alias=keys.CLIENT_SECRET,
        description="The client secret, literally. Prefer `ClientSecretEnv` or "
        "`ClientSecretFile`: a configuration file is often world-readable. With "
        "`client_secret_post` and `client_secret_basic`, exactly one of the three "
        "`ClientSecret*` keys is required.",
    )
    client_secret_env: str | None = Field(
        default=None,
        alias=keys.CLIENT_SECRET_ENV,
        min_length=1,
        description="Name of the environment variable that holds the client secret, read once "
        "when Orthanc starts: a running process's environment cannot change, so a new secret "
        "given this way needs a restart (prefer `ClientSecretFile` to rotate without one).",
    )
    client_secret_file: str | None = Field(
        default=None,
        alias=keys.CLIENT_SECRET_FILE,
        min_length=1,
        description="Path of a file that holds the client secret (a Docker or Kubernetes "
        "secret); one trailing newline is ignored. Read when Orthanc starts, and again within "
        "2 s of a change (an edit, or Kubernetes moving a mounted Secret's `..data` link): a "
        "rotated secret needs no restart.",
    )
    scope: str | None = Field(
        default=None,
        alias=keys.SCOPE,
        min_length=1,
        description="The `scope` of the token request, space-separated (Entra ID: "
        "`https://dicom.healthcareapis.azure.com/.default`). Not sent when unset. With "
        "`GoogleCredentials` it defaults to `https://www.googleapis.com/auth/cloud-platform`; "
        "`AzureManagedIdentity` requires it.",
    )
    token_request_parameters: dict[str, str] = Field(
        default_factory=dict,
        alias=keys.TOKEN_REQUEST_PARAMETERS,
        description="Extra form fields of the token request, e.g. Auth0's `audience` or "
        "Entra ID v1's `resource`.",
    )
    client_auth_method: ClientAuthMethod = Field(
        default="client_secret_post",
        alias=keys.CLIENT_AUTH_METHOD,
        description="How the client authenticates (RFC 6749 §2.3.1): `client_secret_post` "
        "(id and secret in the form), `client_secret_basic` (HTTP Basic, id and secret "
        "form-urlencoded first, as the RFC requires) or `private_key_jwt` (a JWT signed with "
        "the client's private key, RFC 7523 §2.2: no shared secret).",
    )
    client_assertion_file: str | None = Field(
        default=None,
        alias=keys.CLIENT_ASSERTION_FILE,
        min_length=1,
        description="Path of a file holding a JWT issued by a third party (a Kubernetes "
        "projected service-account token: Entra ID workload identity gives its path in "
        '`AZURE_FEDERATED_TOKEN_FILE`, so `"${AZURE_FEDERATED_TOKEN_FILE}"`), sent as the '
        "client's assertion (`client_assertion`, RFC 7523 §2.2) with `TokenEndpoint` or "
        "`Issuer`, `ClientId` and `Scope`: no secret of the client's own. Read again at every "
        "token request (kubelet rotates it). `ClientAuthMethod` may be left out.",
    )
    client_private_key_file: str | None = Field(
        default=None,
        alias=keys.CLIENT_PRIVATE_KEY_FILE,
        min_length=1,
        description="`private_key_jwt`: path of the client's private key, unencrypted PEM "
        "(RSA of 2048 bits or more, or EC P-256), read again within 2 s of a change. Exactly one "
        "of `ClientPrivateKeyFile` and `ClientPrivateKeyEnv` is required with this method.",
    )
    client_private_key_env: str | None = Field(
        default=None,
        alias=keys.CLIENT_PRIVATE_KEY_ENV,
        min_length=1,
        description="`private_key_jwt`: name of the environment variable that holds the "
        "client's private key (PEM text), read once when Orthanc starts.",
    )
    client_assertion_algorithm: AssertionAlgorithm = Field(
        default="RS256",
        alias=keys.CLIENT_ASSERTION_ALGORITHM,
        description="`private_key_jwt`: the assertion's signing algorithm, `RS256`, `PS256` "
        "(both with an RSA key) or `ES256` (EC P-256 key).",
    )
    client_key_id: Identifier | None = Field(
        default=None,
        alias=keys.CLIENT_KEY_ID,
        description="`private_key_jwt`: the `kid` header of the assertion: the `kid` of the "
        "public key (JWK) registered at the provider, which picks the key with it when the "
        "client has several. Not sent when unset. A number is taken as its digits.",
    )
    client_certificate_file: str | None = Field(
        default=None,
        alias=keys.CLIENT_CERTIFICATE_FILE,
        min_length=1,
        description="`private_key_jwt`: the certificate (PEM) of the private key, as uploaded "
        "to the provider (Entra ID's certificate credentials). Its thumbprints go into the "
        "assertion's header; the plugin checks that it belongs to the key and warns when it "
        "expires within 30 days. Not to be confused with `CertificateFile`, the DICOMweb "
        "server's TLS client certificate.",
    )
    client_certificate_thumbprints: list[ThumbprintHeader] = Field(
        default_factory=lambda: list(ALL_THUMBPRINT_HEADERS),
        alias=keys.CLIENT_CERTIFICATE_THUMBPRINTS,
        min_length=1,
        description="`private_key_jwt` with `ClientCertificateFile`: the thumbprint headers "
        "sent, `x5t#S256` (SHA-256) and `x5t` (SHA-1, which Entra ID tenants have long "
        "required). Both by default.",
    )
    google_credentials: str | None = Field(
        default=None,
        alias=keys.GOOGLE_CREDENTIALS,
        min_length=1,
        description="Google tokens instead of a token endpoint: the path of a Google "
        "credentials file (`service_account`, `external_account` or "
        "`impersonated_service_account`), or `default`: the file named by "
        "`GOOGLE_APPLICATION_CREDENTIALS`, else the metadata server of Compute Engine, GKE or "
        "Cloud Run. A person's login (`authorized_user`) is refused, and so is a word that is "
        "no path (`metadata`: the metadata server is `default`). A file is read again within "
        "2 s of a change, its fields checked before google-auth reads it. Needs the `google` "
        "extra (google-auth): without it the server is refused, saying what to install.",
    )
    azure_managed_identity: bool | str | None = Field(
        default=None,
        alias=keys.AZURE_MANAGED_IDENTITY,
        description="Azure tokens instead of a token endpoint, from the managed identity of "
        "the machine Orthanc runs on: `true` for the system-assigned identity (the JSON "
        'boolean: the text `"true"` is refused), or a user-assigned identity\'s client id. '
        "With `Scope`. Needs the `azure` extra "
        "(azure-identity): without it the server is refused, saying what to install.",
    )
    token_endpoint_ca_certificates: str | None = Field(
        default=None,
        alias=keys.TOKEN_ENDPOINT_CA_CERTIFICATES,
        min_length=1,
        description="CA bundle (PEM) that verifies the token endpoint's certificate. Default: "
        "Orthanc's `HttpsCACertificates` when set, else the system's trust store.",
    )
    token_endpoint_verify_peer: bool | None = Field(
        default=None,
        alias=keys.TOKEN_ENDPOINT_VERIFY_PEER,
        description="Verify the token endpoint's TLS certificate. Default: Orthanc's "
        "`HttpsVerifyPeers` when set, else true. Turning it off exposes the client secret "
        "to anyone on the path: the plugin warns at start, and `check` too, naming the key "
        "that turned it off.",
    )
    token_endpoint_proxy: str | None = Field(
        default=None,
        alias=keys.TOKEN_ENDPOINT_PROXY,
        description="HTTP proxy for the token request (`http://host:port`); an empty string "
        "means none. Default: Orthanc's `HttpProxy`.",
    )
    token_request_timeout: float | None = Field(
        default=None,
        alias=keys.TOKEN_REQUEST_TIMEOUT,
        gt=0,
        description="Seconds to wait for each read of the token endpoint's answer. Default: "
        "Orthanc's `HttpTimeout` when set and positive, else 30.",
    )
    token_request_connect_timeout: float = Field(
        default=10.0,
        alias=keys.TOKEN_REQUEST_CONNECT_TIMEOUT,
        gt=0,
        description="Seconds to wait for the connection to the token endpoint.",
    )
    allow_insecure_http: bool = Field(
        default=False,
        alias=keys.ALLOW_INSECURE_HTTP,
        description="Allow `http://` for a `TokenEndpoint`, an `Issuer`, a `Url` or the URLs "
        "of a Google credentials file that are not on loopback. The client's proof and the "
        "tokens then cross the network in clear text.",
    )

    # -- Refresh tuning ------------------------------------------------------------------
    refresh_margin_ratio: float = Field(
        default=0.25,
        alias=keys.REFRESH_MARGIN_RATIO,
        gt=0,
        le=0.5,
        description="Refresh when this fraction of the token's lifetime remains (0.25: a "
        "300 s token is refreshed after 225 s, a 24 h token after 18 h).",
    )
    minimum_refresh_margin: float = Field(
        default=30.0,
        alias=keys.MINIMUM_REFRESH_MARGIN,
        ge=0,
        description="Refresh at least this many seconds before expiry, so that a request "
        "never starts with a nearly expired token; capped at half the token's lifetime.",
    )
    default_token_lifetime: float = Field(
        default=300.0,
        alias=keys.DEFAULT_TOKEN_LIFETIME,
        gt=0,
        description="Lifetime in seconds assumed when the provider sends no `expires_in` and "
        "the token is not a JWT with an `exp` claim.",
    )
    retry_initial_delay: float = Field(
        default=1.0,
        alias=keys.RETRY_INITIAL_DELAY,
        gt=0,
        description="Seconds before the first retry after a transient failure (network, "
        "HTTP 5xx or 429, `temporarily_unavailable`); doubled at each failure, with jitter.",
    )
    retry_max_delay: float = Field(
        default=60.0,
        alias=keys.RETRY_MAX_DELAY,
        gt=0,
        description="Longest delay between retries after transient failures while the cached "
        "token is still valid (and is served meanwhile).",
    )
    retry_max_delay_without_token: float = Field(
        default=10.0,
        alias=keys.RETRY_MAX_DELAY_WITHOUT_TOKEN,
        gt=0,
        description="Longest delay between retries after transient failures once no valid "
        "token is left: every second without one fails the server's transfers, so the plugin "
        "is back as soon as the provider is.",
    )
    permanent_error_retry_delay: float = Field(
        default=300.0,
        alias=keys.PERMANENT_ERROR_RETRY_DELAY,
        gt=0,
        description="Seconds between attempts after a failure that needs an administrator "
        "(`invalid_client`, `invalid_scope`, a wrong token type...).",
    )


class OAuthSection(_Keys):
    """``DicomWebOAuth``: the section of Orthanc's configuration read by this plugin."""

    servers: dict[str, Any] = Field(
        alias=keys.SERVERS,
        description="The OAuth2-protected DICOMweb servers, by name (see below).",
    )
    check_interval: float = Field(
        default=30.0,
        alias=keys.CHECK_INTERVAL,
        gt=0,
        description="Seconds between two checks of each server's definition in the DICOMweb "
        "plugin: a definition found missing, without its Authorization header or with another "
        "Url is restored and logged; the definition is written again at each check.",
    )
    resubmit_refused_jobs: bool = Field(
        default=True,
        alias=keys.RESUBMIT_REFUSED_JOBS,
        description="When a job of the DICOMweb plugin fails because the remote server refused "
        "a token the plugin held as valid (HTTP 401), the server's token is refreshed at once "
        "(once a minute at most) and, with this key true, the work is delivered again: a "
        "retrieve job is resubmitted; a STOW-RS job's instances go in a new STOW-RS job "
        "(DICOMweb plugin 1.18 and later; older ones do not list them). `false` keeps the "
        "refresh and leaves the jobs failed.",
    )
    allow_servers_in_database: bool = Field(
        default=False,
        alias=keys.ALLOW_SERVERS_IN_DATABASE,
        description="Manage servers even when `DicomWeb.ServersInDatabase` is true. The DICOMweb "
        "plugin then writes each definition, bearer token included, in plain text to "
        "Orthanc's database.",
    )
