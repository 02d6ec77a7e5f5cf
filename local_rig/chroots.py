"""Newer Debian releases' Orthanc on a Debian 12 machine: a chroot per suite, built with
``debootstrap --variant=minbase`` from the mirror the host's apt uses, with Debian's
``orthanc``, ``orthanc-dicomweb``, ``orthanc-python`` and the ``venv`` module of the Python
the Python plugin embeds. Built once per machine under .local-rig/chroots/ (root only),
reused afterwards.

Nothing is ever mounted in a chroot: Orthanc needs neither /proc nor /dev beyond the
device files debootstrap creates, and the chroot shares the host's loopback. Removing a
chroot (``remove_tree``) unmounts whatever an interrupted debootstrap left mounted and
stays on the chroot's file system.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROOTS = Path(__file__).resolve().parents[1] / ".local-rig" / "chroots"
ORTHANC_PACKAGES = ("orthanc", "orthanc-dicomweb", "orthanc-python")
# Written last: a chroot without it is an interrupted build, removed and built again.
READY = ".rig-ready"
HOST = Path("/")
_CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C",
    "DEBIAN_FRONTEND": "noninteractive",
}


class UnavailableError(RuntimeError):
    """Why an Orthanc generation cannot be built or run on this machine."""


@dataclass(frozen=True)
class OrthancRoot:
    """The file system an Orthanc process sees (the host's, or a chroot) and the user it
    runs as (``None``: the user of the process that starts it)."""

    path: Path = HOST
    user: tuple[int, int] | None = None

    def visible_path(self, path: Path) -> str:
        """``path``, a host path inside this root, as Orthanc sees it."""
        return "/" + str(path.relative_to(self.path)) if self.path != HOST else str(path)

    def work_dir(self, host_tmp: Path) -> Path:
        """A directory Orthanc can read, for a test whose own directory is ``host_tmp``."""
        if self.path == HOST:
            return host_tmp
        work = self.path / "tmp" / "rig" / host_tmp.name
        work.mkdir(parents=True, exist_ok=True)
        return work

    def give(self, path: Path) -> None:
        """Makes ``path`` (a directory Orthanc writes to) belong to Orthanc's user."""
        if self.user is not None:
            os.chown(path, *self.user)

    def enter(self) -> None:
        """In a child process, before it runs Orthanc: into the chroot, as its user."""
        if self.path == HOST:
            return
        os.chroot(self.path)
        os.chdir("/")
        if self.user is not None:
            uid, gid = self.user
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)


def chroot(suite: str) -> Path:
    """The chroot of Debian ``suite`` with Orthanc installed, built when missing."""
    if os.geteuid() != 0:
        raise UnavailableError("building and entering a chroot needs root")
    CHROOTS.mkdir(parents=True, exist_ok=True)
    target = CHROOTS / suite
    with _locked(CHROOTS / f"{suite}.lock"):
        if (target / READY).exists():
            return target
        debootstrap = shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin")
        if debootstrap is None:
            raise UnavailableError("debootstrap is not installed (scripts/setup installs it)")
        log_path = CHROOTS / f"{suite}.log"
        remove_tree(target)
        try:
            with log_path.open("w") as log:
                _build(debootstrap, suite, target, log.fileno())
        except (subprocess.CalledProcessError, OSError, UnavailableError) as error:
            remove_tree(target)
            message = f"building the {suite} chroot failed: {error}; see {log_path}"
            raise UnavailableError(message) from None
        return target


def run_in(root: Path, argv: list[str], log: int) -> None:
    """Runs ``argv`` inside the chroot ``root`` as root, with a minimal environment."""
    subprocess.run(
        ["/usr/sbin/chroot", str(root), *argv],
        env=_CHROOT_ENV,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        check=True,
    )


def output_of(root: Path, argv: list[str]) -> str:
    """What ``argv``, run inside the chroot ``root`` as root, prints on its standard output."""
    return subprocess.run(
        ["/usr/sbin/chroot", str(root), *argv],
        env=_CHROOT_ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _build(debootstrap: str, suite: str, target: Path, log: int) -> None:
    mirror = debian_mirror()
    subprocess.run(
        [debootstrap, "--variant=minbase", suite, str(target), mirror],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        check=True,
    )
    for name in ("hosts", "resolv.conf"):
        _replace_file(target / "etc" / name, Path("/etc", name).read_text())
    # Installing Orthanc must not start it as a service.
    _replace_file(target / "usr" / "sbin" / "policy-rc.d", "#!/bin/sh\nexit 101\n", mode=0o755)
    # A mirror may be a frozen snapshot whose Release files have "expired".
    _replace_file(
        target / "etc" / "apt" / "apt.conf.d" / "99rig", 'Acquire::Check-Valid-Until "false";\n'
    )
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    run_in(target, ["apt-get", "update", "-q"], log)
    run_in(target, [*install, *ORTHANC_PACKAGES], log)
    run_in(target, [*install, f"python{embedded_python(target)[0]}-venv"], log)
    run_in(target, ["apt-get", "clean"], log)
    (target / READY).write_text(f"{suite} from {mirror}\n")


def _replace_file(path: Path, text: str, mode: int = 0o644) -> None:
    # Unlinked first: a symbolic link left in the chroot must not lead to a host file.
    path.unlink(missing_ok=True)
    path.write_text(text)
    path.chmod(mode)


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses for the host's own release."""
    codename = platform.freedesktop_os_release().get("VERSION_CODENAME", "")
    listed = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(REPO_URI) $(CODENAME)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in listed.splitlines():
        uri, _, name = line.partition(" ")
        if name == codename:
            return uri
    raise UnavailableError(f"no Debian mirror for {codename!r} in apt's sources")


def package_version(root: Path, package: str, field: str = "Version") -> str:
    """A field of an installed Debian package, read from ``root``'s dpkg database."""
    return subprocess.run(
        ["dpkg-query", "--admindir", str(root / "var/lib/dpkg"), "-W", f"-f=${{{field}}}", package],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def embedded_python(root: Path) -> tuple[str, str]:
    """The Python that ``root``'s Orthanc Python plugin embeds: its minor version (the
    libpython the plugin depends on, "3.13") and its full version ("3.13.5")."""
    depends = package_version(root, "orthanc-python", "Depends")
    found = re.search(r"libpython(3\.\d+)", depends)
    if found is None:
        raise UnavailableError(f"orthanc-python depends on no libpython: {depends}")
    minor = found.group(1)
    full = package_version(root, f"libpython{minor}").split("-")[0]
    return minor, full


def remove_tree(path: Path) -> None:
    """``rm -rf path``, never beyond ``path``'s own file system: anything mounted below it
    is unmounted first, and removal does not cross into another file system."""
    if not path.exists() and not path.is_symlink():
        return
    for mount_point in sorted(_mounts_below(path), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount_point], check=True)
    if _mounts_below(path):
        raise RuntimeError(f"still mounted below {path}: {_mounts_below(path)}")
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True)


def _mounts_below(path: Path) -> list[str]:
    base = str(path.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if mount_point == base or mount_point.startswith(base + "/"):
            mounts.append(mount_point)
    return mounts


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
