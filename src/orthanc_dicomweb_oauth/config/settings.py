"""The validated settings the rest of the package runs on, as the loader makes them from
Orthanc's configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationProblem
from ..sources.settings import TokenSettings


@dataclass(frozen=True)
class RefreshSettings:
    margin_ratio: float
    minimum_margin: float
    retry_initial_delay: float
    retry_max_delay: float
    retry_max_delay_without_token: float
    permanent_error_retry_delay: float


@dataclass(frozen=True)
class ServerSettings:
    name: str
    tokens: TokenSettings
    refresh: RefreshSettings
    # The DICOMweb plugin's definition without the Authorization header. It may hold a
    # certificate key password: never shown.
    dicomweb_definition: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class LoadedConfiguration:
    servers: Mapping[str, ServerSettings]
    problems: tuple[ConfigurationProblem, ...]
    warnings: tuple[str, ...] = ()
    check_interval: float = 30.0
    resubmit_refused_jobs: bool = True

    def problems_of(self, server: str) -> tuple[ConfigurationProblem, ...]:
        return tuple(problem for problem in self.problems if problem.server == server)

    def general_problems(self) -> tuple[ConfigurationProblem, ...]:
        """Problems of the section as a whole, not of one server."""
        return tuple(problem for problem in self.problems if problem.server is None)

    def invalid_servers(self) -> list[str]:
        """Configured servers left out because their sections are invalid."""
        names = {problem.server for problem in self.problems if problem.server is not None}
        return sorted(names - set(self.servers))
