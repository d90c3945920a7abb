"""Canonical JSON: the one byte encoding that ids and signatures are computed over.

A room id is ``sha256(canonical_json(definition))``, a dataset id is the SHA-256 of the canonical
manifest, audit entries hash their canonical event. Two parties that hold equal objects must
therefore produce equal bytes, so the encoding is fixed here once:

* UTF-8, keys sorted (by code point, as :func:`json.dumps` does), separators ``","`` and ``":"``,
  no whitespace, non-ASCII characters written as themselves (``ensure_ascii=False``).
* Only JSON types: ``dict`` with ``str`` keys, ``list``/``tuple``, ``str``, ``int``, ``float``,
  ``bool``, ``None``. Non-``str`` keys are rejected rather than silently converted (``{1: x}`` and
  ``{"1": x}`` must not collide). ``NaN`` and ``Infinity`` are rejected (they are not JSON).
  Strings that cannot be encoded as UTF-8 (lone surrogates) are rejected.
* Floats are written with Python's shortest round-trip ``repr``; this is stable across CPython
  versions but is *not* RFC 8785 (JCS) for every value (``1e16`` is ``1e+16``). Formats that are
  hashed should prefer integers and strings.

Errors: :class:`TypeError` for a value or key of the wrong type, :class:`ValueError` for
``NaN``/``Infinity`` and unencodable strings. These are programming errors of the caller, not
attacks: canonical encoding is applied to objects we built, never parsed from the wire.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["canonical_json", "sha256_hex"]

# Deep nesting would make the key check (and json.dumps) recurse until RecursionError; nothing we
# hash is nested more than a handful of levels.
_MAX_DEPTH = 64


def canonical_json(obj: object) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``obj`` (see the module docstring)."""
    _check_keys(obj, depth=0)
    text = json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    # Strict UTF-8: a lone surrogate raises UnicodeEncodeError (a ValueError).
    return text.encode("utf-8", errors="strict")


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _check_keys(obj: object, *, depth: int) -> None:
    # json.dumps would turn int/float/bool/None keys into strings, so that two different objects
    # could share one encoding (and one id). Reject them before encoding.
    if depth > _MAX_DEPTH:
        raise ValueError(f"canonical JSON: nesting deeper than {_MAX_DEPTH} levels")
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"canonical JSON: object keys must be str, not {type(key).__name__}"
                )
            _check_keys(value, depth=depth + 1)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _check_keys(item, depth=depth + 1)
