"""Assembles a server's token keeper from its settings: the source its settings name, and
the keeper that caches and refreshes what the source gives."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.settings import ServerSettings
from ..logs import LOGGER
from ..sources.base import TokenSource
from ..sources.client_credentials.grant import ClientCredentialsSource
from ..sources.settings import (
    AzureManagedIdentitySettings,
    ClientCredentialsSettings,
    GoogleSettings,
    TokenSettings,
)
from .credential_watch import CredentialWatch
from .keeper import TokenKeeper
from .schedule import Schedule

# Callers waiting for a token give up this long after the request's own timeouts.
WAIT_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerTokens:
    keeper: TokenKeeper
    source: TokenSource
    credentials: CredentialWatch

    def close(self) -> None:
        self.source.close()


def create_server_tokens(
    settings: ServerSettings,
    logger: logging.Logger = LOGGER,
    clock: Callable[[], float] = time.monotonic,
) -> ServerTokens:
    source = token_source(settings.tokens)
    credentials = CredentialWatch(settings.name, source, logger)
    http = settings.tokens.http
    keeper = TokenKeeper(
        settings.name,
        credentials.fetch,
        Schedule(settings.refresh, random.Random()),  # noqa: S311 - jitter, not secrecy
        wait_timeout=http.connect_timeout + http.read_timeout + WAIT_GRACE_SECONDS,
        clock=clock,
        logger=logger,
        redact=source.redact,
    )
    return ServerTokens(keeper, source, credentials)


def token_source(settings: TokenSettings) -> TokenSource:
    """The source of the settings' kind. A cloud's library is imported here, for the
    servers that use it only."""
    match settings:
        case ClientCredentialsSettings():
            return ClientCredentialsSource(settings)
        case GoogleSettings():
            from ..sources.google.source import GoogleSource  # noqa: PLC0415

            return GoogleSource(settings)
        case AzureManagedIdentitySettings():
            from ..sources.azure_managed_identity import (  # noqa: PLC0415
                AzureManagedIdentitySource,
            )

            return AzureManagedIdentitySource(settings)
