"""RFC 9162 Merkle trees: hashing, an append-only tree, inclusion and consistency proofs.

Hashing (RFC 9162 §2.1.1, domain-separated as in Certificate Transparency)::

    MTH({})       = SHA-256()
    leaf hash     = SHA-256(0x00 || leaf data)
    node hash     = SHA-256(0x01 || left || right)
    MTH(D[n])     = node(MTH(D[0:k]), MTH(D[k:n])),  k the largest power of two < n

Proofs are the audit path ``PATH(m, D[n])`` (§2.1.3.1) and the consistency proof
``PROOF(m, D[n])`` (§2.1.4.1); the verifiers follow §2.1.3.2 and §2.1.4.2 step by step.
Reference vectors of transparency-dev/merkle (tests/vectors/merkle) are the known-answer tests.

Invariants:

* :class:`MerkleTree` keeps the hash of every complete, aligned subtree, so that ``MTH`` of any
  prefix costs O(log n) lookups and a proof O(log² n) — the tree is never rehashed.
* The verifiers take only sizes, hashes and proofs (untrusted input): every length and index is
  checked before use, and they raise :class:`~sealroom.errors.VerificationError`, never return
  False.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final

from sealroom.errors import VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
#: Longest proof accepted: a tree of 2**64 leaves needs at most 64 hashes (consistency: 65).
_MAX_PROOF_HASHES: Final = 65


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only tree of leaf hashes (see the module docstring for the invariant)."""

    def __init__(self) -> None:
        # _levels[h][i] = hash of the complete subtree of 2**h leaves starting at leaf i * 2**h.
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """Append a leaf *hash*; returns its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        index = len(self._levels[0])
        self._levels[0].append(leaf)
        level, position = 0, index
        while position % 2 == 1:  # this node completed a pair: its parent is now complete
            parent = node_hash(self._levels[level][position - 1], self._levels[level][position])
            if len(self._levels) == level + 1:
                self._levels.append([])
            self._levels[level + 1].append(parent)
            level, position = level + 1, position // 2
        return index

    def truncate(self, size: int) -> None:
        """Drop the leaves from ``size`` on (an append the store refused is undone): level
        ``h`` keeps the complete subtrees of the first ``size`` leaves, ``size >> h`` of them."""
        self._check_size(size)
        for height, level in enumerate(self._levels):
            del level[size >> height :]

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """``MTH`` of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self._hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """``PATH(index, D[size])``: the audit path of leaf ``index`` in the tree of ``size``."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError("leaf index outside the tree")
        proof: list[bytes] = []
        start, n, m = 0, size, index
        while n > 1:
            k = _split(n)
            if m < k:
                proof.append(self._hash(start + k, n - k))
                n = k
            else:
                proof.append(self._hash(start, k))
                start, n, m = start + k, n - k, m - k
        proof.reverse()  # collected from the root down; the path lists it from the leaf up
        return proof

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """``PROOF(first, D[second])``: that the tree of ``first`` is a prefix of ``second``."""
        self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError("sizes must satisfy 0 <= first <= second")
        if first in (0, second):
            return []
        proof: list[bytes] = []
        start, n, m, whole = 0, second, first, True
        while m != n:
            k = _split(n)
            if m <= k:
                proof.append(self._hash(start + k, n - k))
                n = k
            else:
                proof.append(self._hash(start, k))
                start, n, m, whole = start + k, n - k, m - k, False
        if not whole:
            proof.append(self._hash(start, m))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError("tree size outside the log")

    def _hash(self, start: int, n: int) -> bytes:
        """``MTH(D[start:start+n])`` where ``start`` is aligned as the RFC's recursion leaves it."""
        if n & (n - 1) == 0 and start % n == 0:  # a complete, aligned subtree: stored
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._hash(start, k), self._hash(start + k, n - k))


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """``MTH`` of a list of leaf hashes (builds a :class:`MerkleTree`)."""
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is not a {HASH_SIZE}-byte hash")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > _MAX_PROOF_HASHES:
        raise VerificationError("proof is too long")
    for item in proof:
        _check_hash(item, "a proof element")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: ``leaf`` is at ``index`` in the tree of ``size`` with root ``root``."""
    _check_hash(leaf, "the leaf hash")
    _check_hash(root, "the root hash")
    _check_proof(proof)
    if not 0 <= index < size:
        raise VerificationError("inclusion proof: leaf index outside the tree")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof: longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof: shorter than the tree is deep")
    if not hmac.compare_digest(r, root):
        raise VerificationError("inclusion proof: does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    _check_hash(first_root, "the first root")
    _check_hash(second_root, "the second root")
    _check_proof(proof)
    if not 0 <= first <= second:
        raise VerificationError("consistency proof: the first size is larger than the second")
    # The empty tree has one root (§2.1.1), whatever the second size: checked before the
    # equal-size case, or (0, 0, X, X) would accept any X as the root of no leaves.
    if first == 0 and not hmac.compare_digest(first_root, EMPTY_ROOT):
        raise VerificationError("consistency proof: the empty tree has another root")
    if first == second:
        if proof:
            raise VerificationError("consistency proof: must be empty for equal sizes")
        if not hmac.compare_digest(first_root, second_root):
            raise VerificationError("consistency proof: same size, different roots (a fork)")
        return
    if first == 0:
        # Every tree extends the empty tree; a proof says nothing here and must be empty.
        if proof:
            raise VerificationError("consistency proof: must be empty from an empty tree")
        return
    if not proof:
        raise VerificationError("consistency proof: empty")
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof: longer than needed")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("consistency proof: shorter than needed")
    if not hmac.compare_digest(fr, first_root):
        raise VerificationError("consistency proof: does not lead to the first root")
    if not hmac.compare_digest(sr, second_root):
        raise VerificationError("consistency proof: does not lead to the second root")
