"""RFC 9162 Merkle trees: reference vectors of transparency-dev/merkle, properties over random
sizes (Hypothesis), and the bounds of the verifiers on malformed input."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealroom.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_leaves,
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


# ---- exhaustive properties over every small tree ---------------------------------------------

SMALL = 16  # every size up to 16: all shapes of a partial last subtree, up to depth 4
SMALL_TREE = _tree(SMALL)
SMALL_ROOTS = [SMALL_TREE.root(n) for n in range(SMALL + 1)]


def _flip(value: bytes) -> bytes:
    """The same length, one bit different: passes every size check, fails every hash check."""
    return bytes([value[0] ^ 1]) + value[1:]


def _refused(message: str, call: object, *args: object) -> None:
    """``call(*args)`` raises VerificationError with exactly ``message`` (what the auditor sees)."""
    with pytest.raises(VerificationError, match=f"^{re.escape(message)}$"):
        call(*args)  # type: ignore[operator]


def _is_power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


def test_inclusion_every_leaf_of_every_size_and_every_alteration() -> None:
    for size in range(1, SMALL + 1):
        root = SMALL_ROOTS[size]
        for index in range(size):
            leaf = SMALL_TREE.leaf(index)
            proof = SMALL_TREE.inclusion_proof(index, size)
            verify_inclusion(index, size, leaf, proof, root)
            wrong_root = "inclusion proof: does not lead to the root"
            _refused(wrong_root, verify_inclusion, index, size, _flip(leaf), proof, root)
            _refused(wrong_root, verify_inclusion, index, size, leaf, proof, _flip(root))
            for position in range(len(proof)):
                bad = [*proof[:position], _flip(proof[position]), *proof[position + 1 :]]
                _refused(wrong_root, verify_inclusion, index, size, leaf, bad, root)
            _refused(
                "inclusion proof: longer than the tree is deep",
                verify_inclusion,
                *(index, size, leaf, [*proof, leaf], root),
            )
            if proof:
                _refused(
                    "inclusion proof: shorter than the tree is deep",
                    verify_inclusion,
                    *(index, size, leaf, proof[:-1], root),
                )


def test_an_inclusion_proof_proves_only_its_own_index_and_size() -> None:
    """Claimed with another index or tree size (and that tree's true root and leaf), a proof is
    accepted only where the tree would have produced the very same proof."""
    proofs = {
        (index, size): SMALL_TREE.inclusion_proof(index, size)
        for size in range(1, SMALL + 1)
        for index in range(size)
    }
    for proof in proofs.values():
        for (index, size), own in proofs.items():
            args = (index, size, SMALL_TREE.leaf(index), proof, SMALL_ROOTS[size])
            if proof == own:
                verify_inclusion(*args)
            else:
                with pytest.raises(VerificationError):
                    verify_inclusion(*args)


def test_consistency_every_pair_of_sizes_and_every_alteration() -> None:
    for second in range(1, SMALL + 1):
        for first in range(0, second + 1):
            first_root, second_root = SMALL_ROOTS[first], SMALL_ROOTS[second]
            proof = SMALL_TREE.consistency_proof(first, second)
            verify_consistency(first, second, first_root, second_root, proof)
            if first == 0:
                assert proof == []
                _refused(
                    "consistency proof: the empty tree has another root",
                    verify_consistency,
                    *(0, second, _flip(EMPTY_ROOT), second_root, proof),
                )
                continue
            if first == second:
                assert proof == []
                fork = "consistency proof: same size, different roots (a fork)"
                _refused(
                    fork, verify_consistency, first, second, _flip(first_root), second_root, []
                )
                _refused(
                    fork, verify_consistency, first, second, first_root, _flip(second_root), []
                )
                continue
            # A correctly sized but wrong first root. When ``first`` is a power of two its root is
            # itself the first node of the path, so the mismatch shows in the second root.
            _refused(
                "consistency proof: does not lead to the second root"
                if _is_power_of_two(first)
                else "consistency proof: does not lead to the first root",
                verify_consistency,
                *(first, second, _flip(first_root), second_root, proof),
            )
            _refused(
                "consistency proof: does not lead to the second root",
                verify_consistency,
                *(first, second, first_root, _flip(second_root), proof),
            )
            for position in range(len(proof)):
                bad = [*proof[:position], _flip(proof[position]), *proof[position + 1 :]]
                with pytest.raises(VerificationError, match=r"^consistency proof: does not lead"):
                    verify_consistency(first, second, first_root, second_root, bad)
            _refused(
                "consistency proof: longer than needed",
                verify_consistency,
                *(first, second, first_root, second_root, [*proof, first_root]),
            )
            _refused(
                "consistency proof: empty"
                if len(proof) == 1
                else "consistency proof: shorter than needed",
                verify_consistency,
                *(first, second, first_root, second_root, proof[:-1]),
            )


def test_a_consistency_proof_proves_only_its_own_pair_of_sizes() -> None:
    """Claimed for other sizes (with those trees' true roots), a proof is accepted only where the
    tree would have produced the very same proof for them."""
    proofs = {
        (first, second): SMALL_TREE.consistency_proof(first, second)
        for second in range(1, SMALL + 1)
        for first in range(1, second)
    }
    for proof in proofs.values():
        for (first, second), own in proofs.items():
            args = (first, second, SMALL_ROOTS[first], SMALL_ROOTS[second], proof)
            if proof == own:
                verify_consistency(*args)
            else:
                with pytest.raises(VerificationError):
                    verify_consistency(*args)


def test_a_history_rewritten_before_the_clients_checkpoint_is_refused() -> None:
    """The client holds an honest checkpoint (first, root); the log rewrote a leaf before it and
    serves a self-consistent proof to its own, forged, larger tree. Only the comparison with the
    client's first root can notice: the forged proof and the forged second root agree."""
    for changed in range(SMALL - 1):
        forged = MerkleTree()
        for i in range(SMALL):
            forged.append(SMALL_TREE.leaf(i) if i != changed else leaf_hash(b"rewritten"))
        for second in range(changed + 2, SMALL + 1):
            for first in range(changed + 1, second):
                proof = forged.consistency_proof(first, second)
                verify_consistency(first, second, forged.root(first), forged.root(second), proof)
                _refused(
                    "consistency proof: does not lead to the second root"
                    if _is_power_of_two(first)
                    else "consistency proof: does not lead to the first root",
                    verify_consistency,
                    *(first, second, SMALL_ROOTS[first], forged.root(second), proof),
                )


# ---- the largest trees: proof length limits --------------------------------------------------


def _hashes(count: int, tag: bytes) -> list[bytes]:
    return [leaf_hash(tag + i.to_bytes(2, "big")) for i in range(count)]


def test_the_longest_inclusion_proof_is_accepted_and_one_more_hash_is_not() -> None:
    # Leaf 0 of a tree of 2**64 leaves: the path is the right sibling at each of the 64 levels.
    leaf, path = leaf_hash(b"leaf 0"), _hashes(64, b"sibling")
    root = leaf
    for sibling in path:
        root = node_hash(root, sibling)
    verify_inclusion(0, 2**64, leaf, path, root)
    _refused(
        "inclusion proof: longer than the tree is deep",
        verify_inclusion,
        *(0, 2**64, leaf, [*path, leaf], root),
    )
    _refused("proof is too long", verify_inclusion, 0, 2**64, leaf, [*path, leaf, leaf], root)


def test_the_longest_consistency_proof_is_accepted_and_one_more_hash_is_not() -> None:
    # PROOF(3, D[2**64]) (RFC 9162 §2.1.4.1) is [D2, D3, MTH(D[0:2])] and then the right half of
    # each tree of 2**j leaves, j = 2..63, containing the first four: 3 + 62 = 65 hashes.
    d0, d1, d2, d3 = _hashes(4, b"leaf")
    halves = _hashes(62, b"right half")
    first_root = node_hash(node_hash(d0, d1), d2)
    second_root = node_hash(node_hash(d0, d1), node_hash(d2, d3))
    for half in halves:
        second_root = node_hash(second_root, half)
    proof = [d2, d3, node_hash(d0, d1), *halves]
    assert len(proof) == 65
    verify_consistency(3, 2**64, first_root, second_root, proof)
    _refused(
        "proof is too long",
        verify_consistency,
        *(3, 2**64, first_root, second_root, [*proof, d0]),
    )


# ---- every refusal names its reason ----------------------------------------------------------

HASH = leaf_hash(b"x")


@pytest.mark.parametrize(
    ("message", "call", "args"),
    [
        ("the leaf hash is not a 32-byte hash", verify_inclusion, (0, 1, HASH[:31], [], HASH)),
        ("the leaf hash is not a 32-byte hash", verify_inclusion, (0, 1, HASH.hex(), [], HASH)),
        ("the root hash is not a 32-byte hash", verify_inclusion, (0, 1, HASH, [], HASH + b"\0")),
        ("a proof element is not a 32-byte hash", verify_inclusion, (0, 2, HASH, [b""], HASH)),
        (
            "a proof element is not a 32-byte hash",
            verify_inclusion,
            (0, 2, HASH, [bytearray(HASH)], HASH),
        ),
        ("proof is too long", verify_inclusion, (0, 2, HASH, [HASH] * 66, HASH)),
        ("inclusion proof: leaf index outside the tree", verify_inclusion, (1, 1, HASH, [], HASH)),
        ("inclusion proof: leaf index outside the tree", verify_inclusion, (-1, 1, HASH, [], HASH)),
        ("inclusion proof: leaf index outside the tree", verify_inclusion, (0, 0, HASH, [], HASH)),
        ("the first root is not a 32-byte hash", verify_consistency, (1, 2, b"", HASH, [HASH])),
        ("the second root is not a 32-byte hash", verify_consistency, (1, 2, HASH, None, [HASH])),
        ("a proof element is not a 32-byte hash", verify_consistency, (1, 2, HASH, HASH, [b"x"])),
        ("proof is too long", verify_consistency, (1, 2, HASH, HASH, [HASH] * 66)),
        (
            "consistency proof: the first size is larger than the second",
            verify_consistency,
            (2, 1, HASH, HASH, [HASH]),
        ),
        (
            "consistency proof: the first size is larger than the second",
            verify_consistency,
            (-1, 1, HASH, HASH, []),
        ),
        (
            "consistency proof: must be empty for equal sizes",
            verify_consistency,
            (2, 2, HASH, HASH, [HASH]),
        ),
        (
            "consistency proof: must be empty from an empty tree",
            verify_consistency,
            (0, 2, EMPTY_ROOT, HASH, [HASH]),
        ),
        (
            "consistency proof: the empty tree has another root",
            verify_consistency,
            (0, 0, HASH, HASH, []),
        ),
        (
            "consistency proof: same size, different roots (a fork)",
            verify_consistency,
            (0, 0, EMPTY_ROOT, HASH, []),
        ),
        ("consistency proof: empty", verify_consistency, (1, 2, HASH, HASH, [])),
    ],
)
def test_refusals_name_their_reason(message: str, call: object, args: tuple[object, ...]) -> None:
    _refused(message, call, *args)


def test_every_tree_extends_the_empty_tree_and_itself() -> None:
    for size in (0, 1, 5, 16):
        verify_consistency(0, size, EMPTY_ROOT, SMALL_ROOTS[size], [])
        verify_consistency(size, size, SMALL_ROOTS[size], SMALL_ROOTS[size], [])
        assert SMALL_TREE.consistency_proof(0, size) == []
        assert SMALL_TREE.consistency_proof(size, size) == []


def test_tree_refusals_name_their_reason() -> None:
    tree = _tree(4)
    cases = [
        ("a leaf hash is 32 bytes", lambda: tree.append(HASH[:31])),
        ("leaf index outside the tree", lambda: tree.inclusion_proof(4, 4)),
        ("leaf index outside the tree", lambda: tree.inclusion_proof(-1, 4)),
        ("tree size outside the log", lambda: tree.inclusion_proof(0, 5)),
        ("tree size outside the log", lambda: tree.root(5)),
        ("tree size outside the log", lambda: tree.root(-1)),
        ("tree size outside the log", lambda: tree.consistency_proof(1, 5)),
        ("sizes must satisfy 0 <= first <= second", lambda: tree.consistency_proof(3, 2)),
        ("sizes must satisfy 0 <= first <= second", lambda: tree.consistency_proof(-1, 2)),
    ]
    for message, call in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()
    assert tree.size == 4  # the refused append left the tree as it was


def test_root_from_leaves_is_the_tree_head() -> None:
    assert root_from_leaves([]) == EMPTY_ROOT
    for size in (1, 2, 3, 7, 16):
        assert root_from_leaves([SMALL_TREE.leaf(i) for i in range(size)]) == SMALL_ROOTS[size]
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_leaves([HASH, b"short"])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 33])
def test_truncating_undoes_appends(size: int) -> None:
    for keep in range(size + 1):
        tree = _tree(size)
        tree.truncate(keep)
        assert tree.size == keep
        assert tree.root() == _tree(keep).root()
        # Appending again gives the tree that was never truncated.
        for i in range(keep, size):
            tree.append(leaf_hash(i.to_bytes(8, "big")))
        assert tree.root() == _tree(size).root()
        if 0 < keep < size:
            assert tree.consistency_proof(keep, size) == _tree(size).consistency_proof(keep, size)
