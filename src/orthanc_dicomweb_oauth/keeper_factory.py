"""Assembles a server's token keeper from its settings."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from .configuration import ServerSettings
from .schedule import Schedule
from .token_keeper import LOGGER, TokenKeeper
from .token_source import TokenSource

# Callers waiting for a token give up this long after the request's own timeouts.
WAIT_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerTokens:
    keeper: TokenKeeper
    source: TokenSource

    def close(self) -> None:
        self.source.close()


def create_server_tokens(settings: ServerSettings, logger: logging.Logger = LOGGER) -> ServerTokens:
    endpoint = settings.token_endpoint
    source = TokenSource(endpoint)
    keeper = TokenKeeper(
        settings.name,
        source.fetch,
        Schedule(settings.refresh, random.Random()),  # noqa: S311 - jitter, not secrecy
        wait_timeout=endpoint.connect_timeout + endpoint.read_timeout + WAIT_GRACE_SECONDS,
        logger=logger,
    )
    return ServerTokens(keeper, source)
