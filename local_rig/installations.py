"""Orthanc A's installations, one per Orthanc generation: the host's Debian 12 packages
(``bookworm``), or Debian 13's (``trixie``) and sid's in chroots (local_rig/chroots.py).
Each gets this plugin as a site installs it: not editable, in a virtual environment of the
Python its Python plugin embeds, with the dependencies pinned by
requirements/constraints.txt.

In a chroot the virtual environment is made by the chroot's own Python and filled from a
folder of wheels inside the chroot, downloaded by the host's pip for that Python's version:
no package index is reached from inside the chroot.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .chroots import (
    CHROOTS,
    HOST,
    OrthancRoot,
    UnavailableError,
    chroot,
    embedded_python,
    output_of,
    package_version,
    remove_tree,
    run_in,
)
from .services import ROOT

GENERATIONS = ("bookworm", "trixie", "sid")
HOST_GENERATION = "bookworm"
# The documented path of the entry script below site-packages, which sites' Orthanc
# configurations name: the installations check that the package still puts it there.
ENTRY = "orthanc_dicomweb_oauth/orthanc_entry/dicomweb_oauth_plugin.py"
# The extras that the cloud identities' tests need, in every installation.
EXTRAS = "[google,azure]"
CLOUD_DEPENDENCIES = ("google-auth[requests]", "azure-identity")
# Prints the installed entry script's path.
ENTRY_SCRIPT_COMMAND = ("bin/orthanc-dicomweb-oauth", "entry-script")
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
# Inside a chroot, as its processes see them.
CHROOT_VENV = "/opt/orthanc-dicomweb-oauth"
CHROOT_WHEELS = "/var/cache/orthanc-dicomweb-oauth/wheels"


@dataclass(frozen=True)
class Installation:
    """An Orthanc with its DICOMweb and Python plugins and this plugin."""

    generation: str
    root: OrthancRoot
    entry_script: str  # the PythonScript, as Orthanc sees it
    python_version: str  # of the Python the Python plugin embeds

    @property
    def site_packages(self) -> str:
        """The plugin's site-packages folder, as Orthanc sees it."""
        return str(PurePosixPath(self.entry_script).parents[2])


def installation(generation: str) -> Installation:
    """The installation of ``generation`` (one of GENERATIONS), the plugin installed from
    the working tree; raises ``UnavailableError`` when a chroot cannot be built here."""
    if generation == HOST_GENERATION:
        return Installation(
            generation, OrthancRoot(), str(plugin_environment()), embedded_python(HOST)[1]
        )
    if generation not in GENERATIONS:
        raise ValueError(f"unknown Orthanc generation {generation!r}: one of {GENERATIONS}")
    return _chroot_installation(generation)


def _dependencies_stamp() -> str:
    return CONSTRAINTS.read_text() + (ROOT / "pyproject.toml").read_text()


def plugin_environment() -> Path:
    """A virtual environment of Debian's Python with the plugin installed as a site would
    install it (not editable), in .local-rig/; returns the entry script to name as
    PythonScript."""
    rig_dir = ROOT / ".local-rig"
    rig_dir.mkdir(exist_ok=True)
    venv = rig_dir / "orthanc-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".dependencies"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)

    def pip_install(*arguments: str) -> None:
        command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*command, *arguments], check=True, cwd=rig_dir)

    if not stamp.exists() or stamp.read_text() != _dependencies_stamp():
        pip_install(
            "-c",
            str(CONSTRAINTS),
            "authlib",
            "httpx2",
            "pydantic",
            "joserfc",
            "cryptography",
            *CLOUD_DEPENDENCIES,
        )
        stamp.write_text(_dependencies_stamp())
    _without_stale_build()
    pip_install("--no-deps", "--force-reinstall", str(ROOT))
    command, argument = ENTRY_SCRIPT_COMMAND
    printed = subprocess.run(
        [str(venv / command), argument], capture_output=True, text=True, check=True
    ).stdout.strip()
    entry = Path(printed)
    if not entry.is_file() or not printed.endswith(ENTRY):
        raise RuntimeError(f"`{command} {argument}` printed {printed!r}, not an entry script")
    return entry


def _chroot_installation(suite: str) -> Installation:
    root = chroot(suite)
    minor, full = embedded_python(root)
    venv = root / CHROOT_VENV.lstrip("/")
    wheels = root / CHROOT_WHEELS.lstrip("/")
    stamp = venv / ".dependencies"
    log_path = CHROOTS / f"{suite}-plugin.log"
    pip = [f"{CHROOT_VENV}/bin/python", "-m", "pip", "install", "-q"]
    pip += ["--disable-pip-version-check", "--root-user-action=ignore"]
    pip += ["--no-index", "--find-links", CHROOT_WHEELS]
    try:
        with log_path.open("w") as log:
            if not (venv / "bin" / "python").exists():
                run_in(root, [f"/usr/bin/python{minor}", "-m", "venv", CHROOT_VENV], log.fileno())
            wheels.mkdir(parents=True, exist_ok=True)
            for old in wheels.glob("orthanc_dicomweb_oauth-*.whl"):
                old.unlink()
            _without_stale_build()
            _host_pip(["wheel", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)], log.fileno())
            (wheel,) = wheels.glob("orthanc_dicomweb_oauth-*.whl")
            project = f"{CHROOT_WHEELS}/{wheel.name}"
            if not stamp.exists() or stamp.read_text() != _dependencies_stamp():
                _download_dependencies(root, minor, wheel, log.fileno())
                run_in(root, [*pip, project + EXTRAS], log.fileno())
                stamp.write_text(_dependencies_stamp())
            run_in(root, [*pip, "--no-deps", "--force-reinstall", project], log.fileno())
    except (subprocess.CalledProcessError, OSError) as error:
        raise UnavailableError(
            f"installing the plugin in the {suite} chroot failed: {error}; see {log_path}"
        ) from None
    command, argument = ENTRY_SCRIPT_COMMAND
    entry = output_of(root, [f"{CHROOT_VENV}/{command}", argument])
    if entry != f"{CHROOT_VENV}/lib/python{minor}/site-packages/{ENTRY}":
        raise RuntimeError(f"`{command} {argument}` printed {entry!r} in the {suite} chroot")
    # The previous runs' configurations and storage.
    remove_tree(root / "tmp" / "rig")
    return Installation(suite, OrthancRoot(root, _user(root, "orthanc")), entry, full)


def _without_stale_build() -> None:
    """setuptools builds in the checkout's build/ and ships whatever an earlier build left
    there: a module since moved or removed would be installed as if it still existed."""
    remove_tree(ROOT / "build")


def _download_dependencies(root: Path, minor: str, wheel: Path, log: int) -> None:
    """Binary wheels of the plugin's dependencies for ``root``'s Python and C library,
    next to the plugin's wheel."""
    glibc = int(package_version(root, "libc6").split(".")[1].split("-")[0])
    machine = platform.machine()
    platforms = [f"manylinux_2_{n}_{machine}" for n in range(17, glibc + 1)]
    platforms.append(f"manylinux2014_{machine}")
    tags = ["--only-binary=:all:", "--implementation", "cp"]
    tags += ["--python-version", minor, "--abi", f"cp{minor.replace('.', '')}"]
    for name in platforms:
        tags += ["--platform", name]
    arguments = ["download", "--dest", str(wheel.parent), "-c", str(CONSTRAINTS)]
    _host_pip([*arguments, *tags, f"{wheel}{EXTRAS}"], log)


def _host_pip(arguments: list[str], log: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", *arguments, "-q", "--disable-pip-version-check"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        check=True,
    )


def _user(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise UnavailableError(f"no user {name!r} in {root}")
