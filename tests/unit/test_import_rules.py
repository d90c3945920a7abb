"""The trust boundary as import rules, checked on the source of every module (its ast).

ARCHITECTURE §1 and §3: the core (``sealroom.enclave``) reaches the host only through its
``Host`` interface, so it imports neither the host's storage nor its server; storage implements
that interface without importing the core; the pure model imports neither; and the server, the
untrusted host's entry point, never touches the core's key store or its identity keys (it
starts the core with ``sealroom.enclave.open_core`` and nothing else).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

import sealroom

SRC = Path(sealroom.__file__).parent
MODULES = sorted(SRC.rglob("*.py"))

#: (package whose modules are checked, package they must not import, why).
FORBIDDEN_IMPORTS = [
    ("sealroom.enclave", "sealroom.storage", "the core reaches storage only through Host"),
    ("sealroom.enclave", "sealroom.server", "the core never depends on the host's server"),
    ("sealroom.storage", "sealroom.enclave", "storage implements Host without the core"),
    ("sealroom.model", "sealroom.enclave", "the model is pure"),
    ("sealroom.model", "sealroom.storage", "the model is pure"),
    ("sealroom.model", "sealroom.server", "the model is pure"),
    ("sealroom.server", "sealroom.enclave.keystore", "the host never holds the core's keys"),
]
#: Names of the core's identity and sealing keys that no server module may mention.
IDENTITY_NAMES = frozenset(
    {"EnclaveIdentity", "load_or_create_identity", "FileSealingKeyProvider", "load_sealing_key"}
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str) -> set[str]:
    """Every module a file imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@functools.cache
def _sources() -> list[tuple[str, ast.AST]]:
    return [(_module_name(path), ast.parse(path.read_text(), str(path))) for path in MODULES]


def test_every_module_is_checked() -> None:
    names = {name for name, _ in _sources()}
    assert {"sealroom.enclave.core", "sealroom.server.platform", "sealroom.storage.host"} <= names


@pytest.mark.parametrize(("checked", "forbidden", "why"), FORBIDDEN_IMPORTS)
def test_forbidden_imports(checked: str, forbidden: str, why: str) -> None:
    offending = sorted(
        f"{name} imports {imported}"
        for name, tree in _sources()
        if _within(name, checked)
        for imported in _imports(tree, name)
        if _within(imported, forbidden)
    )
    assert offending == [], f"{why}: {offending}"


def test_the_server_never_touches_the_core_identity() -> None:
    offending = []
    for name, tree in _sources():
        if not _within(name, "sealroom.server"):
            continue
        for node in ast.walk(tree):
            mentioned = None
            if isinstance(node, ast.Name):
                mentioned = node.id
            elif isinstance(node, ast.Attribute):
                mentioned = node.attr
            elif isinstance(node, ast.alias):
                mentioned = node.name.rsplit(".", 1)[-1]
            if mentioned in IDENTITY_NAMES:
                offending.append(f"{name}: {mentioned}")
    assert offending == []


def test_the_rules_catch_what_they_forbid() -> None:
    """The checker itself: a forbidden import in any of its forms is found."""
    tree = ast.parse(
        "import sealroom.storage.metadata\n"
        "from sealroom import storage\n"
        "from ..storage.blobs import BlobStore\n"
        "def f():\n    from sealroom.server.app import create_app\n"
    )
    imported = _imports(tree, "sealroom.enclave.core")
    assert {"sealroom.storage.metadata", "sealroom.storage", "sealroom.storage.blobs"} <= imported
    assert "sealroom.server.app" in imported
