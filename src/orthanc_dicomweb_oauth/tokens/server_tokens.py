"""Assembles a server's token keeper from its settings."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.settings import ServerSettings
from ..logs import LOGGER
from .client_credentials import ClientCredentialsSource
from .keeper import TokenKeeper
from .schedule import Schedule

# Callers waiting for a token give up this long after the request's own timeouts.
WAIT_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerTokens:
    keeper: TokenKeeper
    source: ClientCredentialsSource

    def close(self) -> None:
        self.source.close()


def create_server_tokens(
    settings: ServerSettings,
    logger: logging.Logger = LOGGER,
    clock: Callable[[], float] = time.monotonic,
) -> ServerTokens:
    endpoint = settings.token_endpoint
    source = ClientCredentialsSource(endpoint)
    keeper = TokenKeeper(
        settings.name,
        source.fetch,
        Schedule(settings.refresh, random.Random()),  # noqa: S311 - jitter, not secrecy
        wait_timeout=endpoint.connect_timeout + endpoint.read_timeout + WAIT_GRACE_SECONDS,
        clock=clock,
        logger=logger,
    )
    return ServerTokens(keeper, source)
