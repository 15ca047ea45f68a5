"""The image's lock (deploy/*.lock) against pyproject.toml, the Dockerfile and deploy/install.sh.

Fast and offline, so `make test` fails as soon as pyproject.toml asks for something the lock no
longer satisfies (run `make lock`), a pin loses its hashes (the image installs with
--require-hashes), the lock was made for another Python than the image's, or the Dockerfile
stops running the shared install script (tests/deploy/test_image.py proves what that script
builds).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "build-requirements.lock"
INSTALL = ROOT / "deploy" / "install.sh"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")


def image_python(dockerfile: str) -> str:
    match = re.search(r"^ARG PYTHON_VERSION=(\d+\.\d+)\s*$", dockerfile, re.M)
    assert match, "Dockerfile: no ARG PYTHON_VERSION=X.Y"
    return match.group(1)


def parse_lock(text: str) -> tuple[dict[str, Version], list[str]]:
    """Pins by canonical name, and problems: a requirement that is not ``==`` or has no hash."""
    pins: dict[str, Version] = {}
    problems: list[str] = []
    entries = re.split(r"\n(?=\S)", text)
    for entry in entries:
        head = entry.strip()
        if not head or head.startswith("#"):
            continue
        match = _PIN.match(head)
        if match is None:
            problems.append(f"not an exact pin: {head.splitlines()[0]}")
            continue
        name = canonicalize_name(match.group(1))
        pins[name] = Version(match.group(2))
        if not _HASH.search(entry):
            problems.append(f"{name}: no sha256 hash (the image installs with --require-hashes)")
    return pins, problems


def _environment(python: str) -> dict[str, str]:
    """PEP 508 marker values of the image: CPython ``python`` on Linux x86_64."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "extra": "",
    }


def lock_problems(requirements: list[str], lock_text: str, python: str) -> list[str]:
    """Why ``lock_text`` does not satisfy ``requirements`` on the image's ``python`` (empty: it does)."""
    pins, problems = parse_lock(lock_text)
    header = lock_text.splitlines()[0] if lock_text else ""
    if f"Python {python} " not in header:
        problems.append(f"the lock was not made for the image's Python {python} (first line: {header!r})")
    environment = _environment(python)
    for raw in requirements:
        requirement = Requirement(raw)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        pinned = pins.get(name)
        if pinned is None:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement}: the lock pins {pinned}")
    return problems


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_lock_satisfies_the_runtime_dependencies() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    python = image_python((ROOT / "Dockerfile").read_text())
    problems = lock_problems(project["dependencies"], LOCK.read_text(), python)
    assert problems == [], "run `make lock`:\n" + "\n".join(problems)


def test_the_build_lock_satisfies_the_build_backend() -> None:
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    python = image_python((ROOT / "Dockerfile").read_text())
    problems = lock_problems(build["requires"], BUILD_LOCK.read_text(), python)
    assert problems == [], "run `make lock`:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        (["trio>=999"], "trio>=999: the lock pins"),
        (["left-pad>=1"], "left-pad>=1: not in the lock"),
        (["Quart_Trio>=0.1"], None),  # names compare canonically
        (["tomli>=1; python_version < '3.11'"], None),  # a marker false on the image's Python
    ],
)
def test_a_requirement_the_lock_does_not_meet_is_reported(requirements: list[str], expected: str | None) -> None:
    python = image_python((ROOT / "Dockerfile").read_text())
    problems = lock_problems(requirements, LOCK.read_text(), python)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problems[0].startswith(expected)


def test_a_lock_for_another_python_or_without_hashes_is_reported() -> None:
    text = LOCK.read_text()
    assert lock_problems([], text, "3.13")[0].startswith("the lock was not made for the image's Python 3.13")
    unhashed = re.sub(r" \\\n(\s+--hash=sha256:[0-9a-f]{64}( \\)?\n)+", "\n", text, count=1)
    assert unhashed != text
    problems = lock_problems([], unhashed, image_python((ROOT / "Dockerfile").read_text()))
    assert len(problems) == 1
    assert "no sha256 hash" in problems[0]


def test_the_dockerfile_runs_the_shared_install_script_on_what_it_reads() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    script = INSTALL.read_text()
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ") and "deploy/install.sh" in line]
    assert len(runs) == 1, "the build stage must build its virtualenv with deploy/install.sh, and only with it"
    assert not re.search(r"^RUN .*pip install", dockerfile, re.M), "pip runs only inside deploy/install.sh"
    copied: set[str] = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources = line[5:].split()[:-1]
            copied.update(source.rstrip("/") for source in sources)
    read = set(re.findall(r'"\$src/([^"]+)"', script))
    assert read, "deploy/install.sh reads nothing from the sources?"
    missing = sorted(path for path in read if path not in copied)
    assert missing == [], f"the Dockerfile does not COPY what deploy/install.sh reads: {missing}"
