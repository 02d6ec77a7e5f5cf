"""Fixtures of the end-to-end rig (see local_rig/services.py). Logs of every process are
written under test-artifacts/e2e and kept when a test fails.

Tests marked ``orthanc_generations`` (test_plugin.py, test_cloud_identities.py) run once
per Orthanc generation chosen with ``--orthanc`` (local_rig/installations.py), the others
on the host's Orthanc only; the same provider, validator and protected server serve every
generation. The versions each generation's Orthanc reports and its tests' outcomes are
printed at the end of the run and written to test-artifacts/orthanc-matrix.md and .json."""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from local_rig.chroots import UnavailableError
from local_rig.client_keys import ClientKeyFiles, write_client_key
from local_rig.cloud_emulations import pinned_environment
from local_rig.image_way import IMAGE_SUITE, install_system_wide
from local_rig.installations import GENERATIONS, HOST_GENERATION, Installation, installation
from local_rig.services import (
    ADMIN,
    CLIENT_SECRET,
    ROOT,
    Orthanc,
    ProtectedServer,
    Provider,
    Validator,
    missing_prerequisites,
    orthanc_configuration,
)

from .orthanc_matrix import OrthancMatrix
from .rig import (
    ANSWERS,
    ARTIFACTS,
    CLIENTS,
    JWT_CLIENT,
    JWT_KEY_ID,
    SECRETS,
    TOKEN_TTL,
    StartOrthanc,
    oauth_server,
    secret_lines,
)

MATRIX = pytest.StashKey[OrthancMatrix]()
# Where Orthanc A's cloud libraries are pinned unless a test pins them to its emulation: a
# loopback port nothing listens on (discard).
DEAD_END = "127.0.0.1:9"


def _generations(config: pytest.Config) -> list[str]:
    chosen = [name.strip() for name in str(config.getoption("orthanc")).split(",") if name]
    unknown = sorted(set(chosen) - set(GENERATIONS))
    if unknown or not chosen:
        raise pytest.UsageError(f"--orthanc: {unknown or 'none'}: choose among {GENERATIONS}")
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    config.stash[MATRIX] = OrthancMatrix()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "orthanc_installation" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "orthanc_generations"
    ):
        generations = _generations(metafunc.config)
        metafunc.parametrize("orthanc_installation", generations, indirect=True, scope="session")


def _generation(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    generation = callspec.params.get("orthanc_installation") if callspec is not None else None
    return str(generation) if generation is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_prerequisites()
    # A clear reason, not a silent pass: `make test` installs all of these.
    skip = pytest.mark.skip(reason=f"end-to-end rig not installed: {', '.join(missing)}")
    for item in items:
        if "e2e" not in item.nodeid:
            continue
        if missing:
            item.add_marker(skip)
        generation = _generation(item)
        if generation is not None:
            config.stash[MATRIX].expect(generation)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    generation = _generation(item)
    if generation is not None:
        reason = None
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
        item.config.stash[MATRIX].record_outcome(
            generation, item.nodeid, report.when, report.outcome, reason
        )
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    matrix = config.stash[MATRIX]
    if not matrix.ran():
        return
    terminalreporter.write_sep("=", "Orthanc matrix (tests marked orthanc_generations)")
    terminalreporter.write(matrix.render())
    matrix.write(ROOT / "test-artifacts")


@pytest.fixture(scope="session")
def log_dir() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rig")


@pytest.fixture(scope="session")
def installations() -> dict[str, Installation | str]:
    """Each generation's installation once built, or why it cannot be."""
    return {}


@pytest.fixture(scope="session")
def orthanc_installation(
    request: pytest.FixtureRequest, installations: dict[str, Installation | str]
) -> Installation:
    """The Orthanc generation Orthanc A runs: the test's parameter, or the host's."""
    return _built(getattr(request, "param", HOST_GENERATION), request, installations)


def _built(
    generation: str, request: pytest.FixtureRequest, installations: dict[str, Installation | str]
) -> Installation:
    """The generation's installation, built once; the test is skipped (or fails, with
    --orthanc-strict) when it cannot be built here."""
    if generation not in installations:
        try:
            installations[generation] = installation(generation)
        except UnavailableError as error:
            installations[generation] = f"Orthanc generation {generation} unavailable: {error}"
    found = installations[generation]
    if isinstance(found, str):
        if request.config.getoption("orthanc_strict"):
            pytest.fail(found, pytrace=False)
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def image_way(
    request: pytest.FixtureRequest, installations: dict[str, Installation | str], log_dir: Path
) -> tuple[Installation, str]:
    """The sid chroot's Orthanc with the plugin installed the official image's way, and
    the entry script there (local_rig/image_way.py)."""
    if IMAGE_SUITE not in _generations(request.config):
        pytest.skip(f"--orthanc leaves out {IMAGE_SUITE}, the official image's generation")
    installed = _built(IMAGE_SUITE, request, installations)
    return installed, install_system_wide(installed, log_dir / "image-way-install.log")


@pytest.fixture(scope="session")
def client_key(work_dir: Path) -> ClientKeyFiles:
    """The private_key_jwt client's key pair and certificate; the provider knows its
    public key under JWT_KEY_ID."""
    return write_client_key(work_dir / "client-keys", JWT_CLIENT)


@pytest.fixture(scope="session")
def provider(work_dir: Path, log_dir: Path, client_key: ClientKeyFiles) -> Iterator[Provider]:
    jwt_client = {
        "client_id": JWT_CLIENT,
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [{**client_key.public_jwk, "kid": JWT_KEY_ID}]},
    }
    service = Provider(work_dir, log_dir, TOKEN_TTL, [*CLIENTS, jwt_client])
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def validator(log_dir: Path, provider: Provider) -> Iterator[Validator]:
    service = Validator(log_dir, provider)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def protected(work_dir: Path, log_dir: Path, validator: Validator) -> Iterator[ProtectedServer]:
    server = ProtectedServer(work_dir, log_dir, validator)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_orthanc_a(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    log_dir: Path,
    orthanc_installation: Installation,
    provider: Provider,
    protected: ProtectedServer,
) -> Iterator[StartOrthanc]:
    """Starts Orthanc A of the test's generation with the plugin; ``servers`` defaults to
    one server, "protected", authorized through the post client."""
    started: list[Orthanc] = []
    root = orthanc_installation.root
    work = root.work_dir(tmp_path)

    def start(
        servers: dict[str, Any] | None = None,
        verbose: bool = True,
        env_extra: dict[str, str] | None = None,
        replace_section: bool = False,
        **configuration: Any,
    ) -> Orthanc:
        """``replace_section`` uses ``DicomWebOAuth`` as given, even if it is not an object."""
        oauth = configuration.pop("DicomWebOAuth", {})
        dicomweb = configuration.pop("DicomWeb", {})
        test_name = request.node.name.replace("[", "-").replace("]", "")
        section = (
            oauth
            if replace_section
            else {
                "Servers": servers
                if servers is not None
                else {"protected": oauth_server(provider, protected)},
                "CheckInterval": 2,
                **oauth,
            }
        )
        orthanc = Orthanc(
            f"orthanc-a-{test_name}-{len(started)}",
            work,
            log_dir,
            orthanc_configuration(
                orthanc_installation.entry_script,
                section,
                dicomweb,
                AuthenticationEnabled=True,
                RegisteredUsers={ADMIN[0]: ADMIN[1]},
                **configuration,
            ),
            env={
                "RIG_CLIENT_SECRET_VALUE": CLIENT_SECRET,
                # No cloud library in Orthanc A reaches beyond loopback: a test that uses
                # one pins it to its emulation instead.
                **pinned_environment(DEAD_END, Path(root.visible_path(work)) / "gcloud"),
                **(env_extra or {}),
            },
            verbose=verbose,
            root=root,
        )
        started.append(orthanc)
        orthanc.start()
        _record_versions(request.config.stash[MATRIX], orthanc_installation, orthanc)
        return orthanc

    yield start
    for orthanc in started:
        orthanc.stop()


def _record_versions(matrix: OrthancMatrix, installed: Installation, orthanc: Orthanc) -> None:
    generation = installed.generation
    if generation not in matrix.generations or matrix.versions_known(generation):
        return
    with httpx2.Client(base_url=orthanc.url, auth=ADMIN, timeout=10) as client:
        orthanc_version, dicomweb, python_plugin = (
            str(client.get(uri).raise_for_status().json()["Version"])
            for uri in ("/system", "/plugins/dicom-web", "/plugins/python")
        )
    matrix.record_versions(
        generation, orthanc_version, dicomweb, python_plugin, installed.python_version
    )


@pytest.fixture(autouse=True)
def _no_secret_or_token_leaks(
    log_dir: Path, validator: Validator, client_key: ClientKeyFiles
) -> Iterator[None]:
    """After each end-to-end test, with Orthanc at --verbose: neither the client secret,
    nor any line of the client's private key, nor any token the DICOMweb server accepted
    appears in an Orthanc log or an answer."""
    ANSWERS.clear()
    SECRETS.clear()
    yield
    tokens = httpx2.get(f"{validator.url}/tokens", timeout=10).json()["tokens"]
    key_lines = client_key.private_key_lines()
    key_lines += [line for secret in SECRETS for line in secret_lines(secret)]
    texts = [path.read_text(errors="replace") for path in log_dir.glob("orthanc-a-*.log")]
    texts += ANSWERS
    for text in texts:
        assert CLIENT_SECRET not in text
        for line in key_lines:
            assert line not in text
        for token in tokens:
            assert token not in text
