"""The names of the configuration keys, each written here once: the schema's aliases, and
every message, check and description that names a key, use these."""

from __future__ import annotations

from typing import Final

SECTION: Final = "DicomWebOAuth"
DICOMWEB_SECTION: Final = "DicomWeb"

# DicomWebOAuth
SERVERS: Final = "Servers"
CHECK_INTERVAL: Final = "CheckInterval"
RESUBMIT_REFUSED_JOBS: Final = "ResubmitRefusedJobs"
ALLOW_SERVERS_IN_DATABASE: Final = "AllowServersInDatabase"

# DicomWebOAuth.Servers.NAME: the DICOMweb server (as in DicomWeb.Servers.NAME)
URL: Final = "Url"
TIMEOUT: Final = "Timeout"
CHUNKED_TRANSFERS: Final = "ChunkedTransfers"
HAS_DELETE: Final = "HasDelete"
HTTP_HEADERS: Final = "HttpHeaders"
CERTIFICATE_FILE: Final = "CertificateFile"
CERTIFICATE_KEY_FILE: Final = "CertificateKeyFile"
CERTIFICATE_KEY_PASSWORD: Final = "CertificateKeyPassword"
PKCS11: Final = "Pkcs11"

# The token endpoint and the client
TOKEN_ENDPOINT: Final = "TokenEndpoint"
ISSUER: Final = "Issuer"
CLIENT_ID: Final = "ClientId"
CLIENT_SECRET: Final = "ClientSecret"
CLIENT_SECRET_ENV: Final = "ClientSecretEnv"
CLIENT_SECRET_FILE: Final = "ClientSecretFile"
SCOPE: Final = "Scope"
TOKEN_REQUEST_PARAMETERS: Final = "TokenRequestParameters"
CLIENT_AUTH_METHOD: Final = "ClientAuthMethod"
CLIENT_ASSERTION_FILE: Final = "ClientAssertionFile"
CLIENT_PRIVATE_KEY_FILE: Final = "ClientPrivateKeyFile"
CLIENT_PRIVATE_KEY_ENV: Final = "ClientPrivateKeyEnv"
CLIENT_ASSERTION_ALGORITHM: Final = "ClientAssertionAlgorithm"
CLIENT_KEY_ID: Final = "ClientKeyId"
CLIENT_CERTIFICATE_FILE: Final = "ClientCertificateFile"
CLIENT_CERTIFICATE_THUMBPRINTS: Final = "ClientCertificateThumbprints"

# A cloud's own identity
GOOGLE_CREDENTIALS: Final = "GoogleCredentials"
AZURE_MANAGED_IDENTITY: Final = "AzureManagedIdentity"

# How token requests reach the endpoint
TOKEN_ENDPOINT_CA_CERTIFICATES: Final = "TokenEndpointCACertificates"
TOKEN_ENDPOINT_VERIFY_PEER: Final = "TokenEndpointVerifyPeer"
TOKEN_ENDPOINT_PROXY: Final = "TokenEndpointProxy"
TOKEN_REQUEST_TIMEOUT: Final = "TokenRequestTimeout"
TOKEN_REQUEST_CONNECT_TIMEOUT: Final = "TokenRequestConnectTimeout"
ALLOW_INSECURE_HTTP: Final = "AllowInsecureHttp"

# Refresh tuning
REFRESH_MARGIN_RATIO: Final = "RefreshMarginRatio"
MINIMUM_REFRESH_MARGIN: Final = "MinimumRefreshMargin"
DEFAULT_TOKEN_LIFETIME: Final = "DefaultTokenLifetime"
RETRY_INITIAL_DELAY: Final = "RetryInitialDelay"
RETRY_MAX_DELAY: Final = "RetryMaxDelay"
RETRY_MAX_DELAY_WITHOUT_TOKEN: Final = "RetryMaxDelayWithoutToken"
PERMANENT_ERROR_RETRY_DELAY: Final = "PermanentErrorRetryDelay"

# Orthanc's own keys the plugin reads
HTTPS_CA_CERTIFICATES: Final = "HttpsCACertificates"
HTTPS_VERIFY_PEERS: Final = "HttpsVerifyPeers"
HTTP_PROXY: Final = "HttpProxy"
HTTP_TIMEOUT: Final = "HttpTimeout"
HTTP_VERBOSE: Final = "HttpVerbose"
SERVERS_IN_DATABASE: Final = "ServersInDatabase"
