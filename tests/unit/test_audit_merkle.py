"""RFC 9162 Merkle trees: reference vectors of transparency-dev/merkle, properties over random
sizes (Hypothesis), and the bounds of the verifiers on malformed input."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealroom.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from sealroom.errors import VerificationError

VECTORS = Path(__file__).parent.parent / "vectors" / "merkle"
# testonly/constants.go of transparency-dev/merkle: leaf inputs and the root of every prefix.
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Go accepts equal sizes with equal non-hash "roots"; Sealroom refuses non-32-byte hashes.
DIVERGENT = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def _reference_tree() -> MerkleTree:
    tree = MerkleTree()
    for leaf in LEAVES:
        tree.append(leaf_hash(bytes.fromhex(leaf)))
    return tree


def _b64(items: list[str] | None) -> list[bytes]:
    return [base64.b64decode(item) for item in items or []]


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def test_hashes_and_roots_of_every_prefix() -> None:
    assert EMPTY_ROOT.hex() == hashlib.sha256(b"").hexdigest()
    assert leaf_hash(b"").hex() == ROOTS[0]
    tree = _reference_tree()
    assert tree.root(0) == EMPTY_ROOT
    assert [tree.root(n).hex() for n in range(1, 9)] == ROOTS
    assert node_hash(tree.leaf(0), tree.leaf(1)).hex() == ROOTS[1]


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    proof, root, leaf = (
        _b64(v["proof"]),
        base64.b64decode(v["root"]),
        base64.b64decode(v["leafHash"]),
    )
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(v["leafIdx"], v["treeSize"], leaf, proof, root)
        return
    verify_inclusion(v["leafIdx"], v["treeSize"], leaf, proof, root)
    if 0 < v["treeSize"] <= len(LEAVES):  # proofs over the reference tree: we generate the same
        assert _reference_tree().inclusion_proof(v["leafIdx"], v["treeSize"]) == proof


@pytest.mark.parametrize("path", _vectors("consistency"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], base64.b64decode(v["root1"]), base64.b64decode(v["root2"]))
    proof = _b64(v["proof"])
    if v["wantErr"] or str(path.relative_to(VECTORS)) in DIVERGENT:
        with pytest.raises(VerificationError):
            verify_consistency(*args, proof)
        return
    verify_consistency(*args, proof)
    if 0 < v["size2"] <= len(LEAVES):
        assert _reference_tree().consistency_proof(v["size1"], v["size2"]) == proof


def _tree(size: int) -> MerkleTree:
    tree = MerkleTree()
    for i in range(size):
        tree.append(leaf_hash(i.to_bytes(8, "big")))
    return tree


def _naive_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_root_matches_the_rfc_recursion(size: int) -> None:
    tree = _tree(size)
    assert tree.root() == _naive_root([tree.leaf(i) for i in range(size)])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies_and_no_other_leaf_does(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=300))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    tree = _tree(size)
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(index, size, tree.leaf(index), proof, tree.root())
    other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))
    with pytest.raises(VerificationError):
        verify_inclusion(index, size, tree.leaf(other), proof, tree.root())
    if proof:  # any flipped bit in the proof fails
        position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[position] = bytes([bad[position][0] ^ 1]) + bad[position][1:]
        with pytest.raises(VerificationError):
            verify_inclusion(index, size, tree.leaf(index), bad, tree.root())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_consistency_proof_verifies_and_a_fork_does_not(data: st.DataObject) -> None:
    second = data.draw(st.integers(min_value=1, max_value=300))
    first = data.draw(st.integers(min_value=1, max_value=second))
    tree = _tree(second)
    proof = tree.consistency_proof(first, second)
    verify_consistency(first, second, tree.root(first), tree.root(), proof)
    # A fork: the same first tree, a second tree with one leaf (at or after first) changed.
    if second > first:
        changed = data.draw(st.integers(min_value=0, max_value=second - 1))
        forked = MerkleTree()
        for i in range(second):
            leaf = tree.leaf(i) if i != changed else leaf_hash(b"forged")
            forked.append(leaf)
        with pytest.raises(VerificationError):
            verify_consistency(first, second, tree.root(first), forked.root(), proof)


def test_historical_roots_and_proofs_after_growth() -> None:
    tree = _tree(1000)
    small = _tree(37)
    assert tree.root(37) == small.root()
    assert tree.inclusion_proof(5, 37) == small.inclusion_proof(5, 37)


@pytest.mark.parametrize(
    "call",
    [
        lambda: verify_inclusion(0, 1, b"short", [], EMPTY_ROOT),
        lambda: verify_inclusion(1, 1, EMPTY_ROOT, [], EMPTY_ROOT),
        lambda: verify_inclusion(0, 2, EMPTY_ROOT, [EMPTY_ROOT] * 66, EMPTY_ROOT),
        lambda: verify_consistency(2, 1, EMPTY_ROOT, EMPTY_ROOT, []),
        lambda: verify_consistency(1, 2, EMPTY_ROOT, EMPTY_ROOT, []),
        lambda: verify_consistency(0, 0, EMPTY_ROOT, leaf_hash(b"x"), []),
    ],
)
def test_malformed_input_is_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VerificationError):
        call()


def test_tree_refuses_bad_arguments() -> None:
    tree = _tree(4)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"x")
    with pytest.raises(ValueError, match="outside the tree"):
        tree.inclusion_proof(4, 4)
    with pytest.raises(ValueError, match="outside the log"):
        tree.consistency_proof(3, 5)
