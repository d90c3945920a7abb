"""The committed browser bundle is exactly what ``web/`` builds from its lockfile.

What the server hands a browser (``src/sealroom/server/web/static/js``) encrypts people's data,
so anyone must be able to rebuild it from ``web/src`` and ``web/package-lock.json`` and get the
same bytes. This test copies ``web/`` (without ``node_modules``), runs ``npm ci`` and
``node build.mjs --outdir`` there, and compares every file byte for byte; it also type-checks
the sources (``tsc --noEmit``, strict). Without ``npm`` it fails — never skips — saying how to
get it (``./dev test`` installs Debian's ``nodejs`` and ``npm``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).parents[2]
WEB = ROOT / "web"
STATIC_JS = ROOT / "src" / "sealroom" / "server" / "web" / "static" / "js"


def _run(args: list[str], cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the copied web/ directory with its dependencies installed, the rebuilt bundle)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.fail(
            "npm and node are not installed: ./dev test installs them "
            "(apt-get install nodejs npm); the test rebuilds the browser bundle from its lockfile"
        )
    work = tmp_path_factory.mktemp("web-bundle")
    web = work / "web"
    shutil.copytree(WEB, web, ignore=shutil.ignore_patterns("node_modules"))
    # Exactly the lockfile's packages; no audit or funding calls (the machine may be offline
    # but for the registry).
    _run(["npm", "ci", "--no-audit", "--no-fund"], web)
    out = work / "out"
    _run(["node", "build.mjs", "--outdir", str(out)], web)
    return web, out


def test_the_committed_bundle_is_what_the_sources_build(built: tuple[Path, Path]) -> None:
    _, out = built
    rebuilt = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    committed = {p.name: p.read_bytes() for p in STATIC_JS.iterdir() if p.is_file()}
    assert sorted(rebuilt) == sorted(committed), "the build makes other files than are committed"
    different = sorted(name for name in rebuilt if rebuilt[name] != committed[name])
    assert different == [], (
        f"{', '.join(different)} differ from what web/ builds: run `cd web && node build.mjs` "
        "and commit the result with its sources"
    )
    for name in ("worker.js", "selftest.js"):
        assert len(committed[name]) > 0, f"{name} is empty"


def test_the_sources_type_check(built: tuple[Path, Path]) -> None:
    web, _ = built
    _run(["npx", "--no-install", "tsc", "--noEmit", "-p", "."], web)
