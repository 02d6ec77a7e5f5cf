"""One server's worker, round by round, with a manual clock, a scripted token source and a
stand-in for the DICOMweb plugin: what it writes, when, and what it logs. No thread runs:
each test calls ``step()`` as the worker's thread would."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest

from orthanc_dicomweb_oauth.dicomweb.worker import MINIMUM_WAIT, ServerWorker
from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.tokens.credential_watch import CredentialWatch
from orthanc_dicomweb_oauth.tokens.keeper import (
    MIN_REQUEST_INTERVAL,
    KeeperState,
    TokenKeeper,
)
from orthanc_dicomweb_oauth.tokens.schedule import Schedule
from orthanc_dicomweb_oauth.tokens.server_tokens import ServerTokens, token_source

from ..helpers import (
    Clock,
    FakeDicomWeb,
    ScriptedSource,
    SecretMount,
    server_settings,
    wait_for,
)

CHECK_INTERVAL = 30.0
LIFETIME = 300.0  # refreshed 217.5 to 225 s after it came: a 75 s margin, 10 % jitter
LOGGER = "test.worker"


def worker_for(
    source: ScriptedSource,
    clock: Clock,
    dicomweb: FakeDicomWeb,
    secret_file: Path | None = None,
    credential_check_interval: float = 1e6,
) -> ServerWorker:
    """A worker whose keeper asks ``source`` for tokens; the server's credential, a
    secret in ``secret_file`` if given, is looked at every ``credential_check_interval``
    seconds (never, by default)."""
    keys: dict[str, Any] = (
        {"ClientSecret": None, "ClientSecretFile": str(secret_file)} if secret_file else {}
    )
    settings = server_settings("https://login.example.com/token", **keys)
    logger = logging.getLogger(LOGGER)
    keeper = TokenKeeper(
        settings.name,
        source,
        Schedule(settings.refresh, random.Random(3)),
        wait_timeout=5,
        clock=clock,
        logger=logger,
    )
    credential_source = token_source(settings.tokens)
    tokens = ServerTokens(
        keeper, credential_source, CredentialWatch(settings.name, credential_source, logger)
    )
    return ServerWorker(
        settings,
        tokens,
        dicomweb,
        check_interval=CHECK_INTERVAL,
        credential_check_interval=credential_check_interval,
        logger=logger,
        clock=clock,
    )


def authorized_worker() -> tuple[Clock, ScriptedSource, FakeDicomWeb, ServerWorker]:
    """A worker after its first round: its first token written."""
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), FakeDicomWeb()
    worker = worker_for(source, clock, dicomweb)
    worker.step()
    return clock, source, dicomweb, worker


def authorization(dicomweb: FakeDicomWeb) -> str:
    header: str = dicomweb.definitions["remote"]["HttpHeaders"]["Authorization"]
    return header


def test_a_new_token_is_written_once_then_at_each_check() -> None:
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), FakeDicomWeb()
    worker = worker_for(source, clock, dicomweb)

    assert worker.step() == CHECK_INTERVAL  # the check comes before the refresh
    assert authorization(dicomweb) == "Bearer token-1"
    assert dicomweb.definitions["remote"]["Url"] == "http://127.0.0.1:9/dicom-web/"
    assert dicomweb.puts == 1

    clock.advance(10)
    assert worker.step() == CHECK_INTERVAL - 10
    assert dicomweb.puts == 1  # same token, no check due: nothing written

    clock.advance(20)
    worker.step()
    assert dicomweb.puts == 2  # the check writes again: a header value cannot be read back
    assert source.requests == 1
    _, sync = worker.status()
    assert (sync.definition_writes, sync.definition_restores) == (2, 0)


def test_a_refreshed_token_is_written_at_once() -> None:
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), FakeDicomWeb()
    worker = worker_for(source, clock, dicomweb)
    started = clock.now
    waits = [worker.step()]
    while source.requests == 1:
        clock.advance(waits[-1])
        waits.append(worker.step())
    # Checks at 30 s ... 210 s, then the refresh.
    assert waits[:7] == [CHECK_INTERVAL] * 7
    assert 217.5 <= clock.now - started <= 225
    assert len(waits) == 9
    assert authorization(dicomweb) == "Bearer token-2"
    assert dicomweb.puts == 9  # the first token, seven checks, the new token


def test_a_deleted_or_changed_definition_is_restored_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, _, dicomweb, worker = authorized_worker()
    caplog.set_level(logging.INFO, logger=LOGGER)

    del dicomweb.definitions["remote"]
    clock.advance(CHECK_INTERVAL)
    worker.step()
    assert authorization(dicomweb) == "Bearer token-1"

    dicomweb.definitions["remote"]["Url"] = "https://elsewhere.example.com/"
    clock.advance(CHECK_INTERVAL)
    worker.step()
    assert dicomweb.definitions["remote"]["Url"] == "http://127.0.0.1:9/dicom-web/"

    del dicomweb.definitions["remote"]["HttpHeaders"]["Authorization"]
    clock.advance(CHECK_INTERVAL)
    worker.step()
    assert [record.getMessage() for record in caplog.records] == [
        "remote: DICOMweb server definition was changed (missing); restored",
        "remote: DICOMweb server definition was changed (its Url was changed); restored",
        "remote: DICOMweb server definition was changed (its Authorization header was "
        "removed); restored",
    ]
    assert worker.status()[1].definition_restores == 3


def test_a_refused_write_is_logged_once_and_its_end_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, _, dicomweb, worker = authorized_worker()
    caplog.set_level(logging.INFO, logger=LOGGER)

    dicomweb.refuse = True
    for _ in range(3):
        clock.advance(CHECK_INTERVAL)
        worker.step()
    assert dicomweb.refused_puts == 3
    assert worker.status()[1].last_sync_error == "cannot write the server definition: Bad request"

    dicomweb.refuse = False
    clock.advance(CHECK_INTERVAL)
    worker.step()
    assert worker.status()[1].last_sync_error is None
    assert [record.getMessage() for record in caplog.records] == [
        "remote: cannot write the server definition: Bad request",
        "remote: DICOMweb server definition written again",
    ]


def test_without_a_token_nothing_is_written_and_the_retry_sets_the_pace() -> None:
    failure = TokenRequestError("cannot reach the token endpoint: refused", transient=True)
    clock, source, dicomweb = Clock(), ScriptedSource(failure, LIFETIME), FakeDicomWeb()
    worker = worker_for(source, clock, dicomweb)

    wait = worker.step()
    assert dicomweb.puts == 0
    assert worker.status()[0].state is KeeperState.FAILED
    assert MINIMUM_WAIT <= wait <= 1.0  # the first retry, 0.5 to 1 s later

    clock.advance(wait)
    worker.step()
    assert source.requests == 2
    assert authorization(dicomweb) == "Bearer token-2"


def test_an_administrator_s_refresh_is_written_at_once() -> None:
    clock, _, dicomweb, worker = authorized_worker()
    clock.advance(MIN_REQUEST_INTERVAL)
    assert worker.refresh().value == "token-2"
    assert authorization(dicomweb) == "Bearer token-2"
    assert worker.token().value == "token-2"


def test_a_rotated_secret_file_asks_for_a_token_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file swapped as Kubernetes updates a mounted Secret (a new folder, the symlink
    moved): the worker sees it at its next look and the keeper asks for a token then,
    though the cached one has hours left; the log names the key and the path, never the
    secret."""
    mounted = SecretMount(tmp_path / "mount", {"client-secret": "first-secret\n"})
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), FakeDicomWeb()
    worker = worker_for(
        source, clock, dicomweb, mounted.path("client-secret"), credential_check_interval=2
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    worker.step()
    clock.advance(2)
    worker.step()
    assert source.requests == 1  # nothing changed

    mounted.update({"client-secret": "second-secret\n"})
    clock.advance(worker.step())
    worker.step()
    assert source.requests == 2
    assert authorization(dicomweb) == "Bearer token-2"
    lines = [record.getMessage() for record in caplog.records]
    assert (
        f"remote: ClientSecretFile {mounted.path('client-secret')} changed: read again, asking "
        "for a token with it"
    ) in lines
    assert not any("second-secret" in line for line in lines)


def test_an_unusable_new_secret_file_is_said_once_and_the_old_one_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "client-secret"
    secret.write_text("first-secret\n")
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), FakeDicomWeb()
    worker = worker_for(source, clock, dicomweb, secret, credential_check_interval=2)
    worker.step()
    caplog.set_level(logging.INFO, logger=LOGGER)
    secret.write_text("\n")  # emptied
    for _ in range(3):
        clock.advance(2)
        worker.step()
    assert source.requests == 1
    assert [record.getMessage() for record in caplog.records] == [
        f"remote: a credential file changed but cannot be used (ClientSecretFile: file "
        f"{secret} is empty)"
    ]


class BrokenDicomWeb(FakeDicomWeb):
    """A DICOMweb plugin whose writes fail in a way nothing foresaw, until mended."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def put(self, name: str, definition: Any) -> None:
        if self.broken:
            raise KeyError("an answer nothing foresaw")
        super().put(name, definition)


def test_an_unexpected_error_is_said_once_counted_and_outlived(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker's own thread: a round that raises is logged once, counted in the
    status, retried at the pace of transient failures, and the worker goes on."""
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), BrokenDicomWeb()
    worker = worker_for(source, clock, dicomweb)
    caplog.set_level(logging.INFO, logger=LOGGER)
    worker.start()
    try:
        wait_for("two failed rounds", lambda: worker.status()[1].internal_errors >= 2)
        _, sync = worker.status()
        assert sync.last_internal_error == "KeyError: 'an answer nothing foresaw'"
        assert worker.unready() == (
            "the server's worker failed: KeyError: 'an answer nothing foresaw'"
        )
        dicomweb.broken = False
        wait_for("a round that works", lambda: worker.status()[1].last_internal_error is None)
    finally:
        worker.request_stop()
        assert worker.join(5)
    messages = [record.getMessage() for record in caplog.records]
    assert (
        messages.count(
            "remote: internal error in the server's worker (KeyError: 'an answer nothing "
            "foresaw'); trying again"
        )
        == 1
    )
    assert "remote: the server's worker works again" in messages
    assert dicomweb.puts >= 1


def test_an_unexpected_error_looking_at_the_files_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("first\n")
    clock, source, dicomweb = Clock(), ScriptedSource(LIFETIME), FakeDicomWeb()
    worker = worker_for(source, clock, dicomweb, secret, credential_check_interval=2)
    caplog.set_level(logging.INFO, logger=LOGGER)
    worker.step()

    def broken() -> list[Any]:
        raise ValueError("a file nothing foresaw")

    worker._tokens.source.reload_credentials = broken  # type: ignore[method-assign]
    for _ in range(3):
        clock.advance(2)
        worker.step()
    messages = [record.getMessage() for record in caplog.records]
    assert (
        messages.count(
            "remote: cannot look at the credential files (ValueError: a file nothing foresaw)"
        )
        == 1
    )
