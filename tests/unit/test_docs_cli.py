"""The commands the README and ``docs/`` show exist: every ``sealroom COMMAND [SUBCOMMAND]``
in a code block or an inline code span is a command of the CLI, every ``--option`` after it is
one of that command's options, and every ``SEALROOM_…`` variable the operating pages name is a
server setting or a variable the code reads.

Alternatives written ``list|show|stop`` must each exist; an option written after them must belong
to one of them. Upper-case words (``ROOM_ID``, ``COMMAND``) are placeholders and end the command.
A section headed "Not yet" names what does not exist yet, and is left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from sealroom.cli.main import app
from sealroom.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The pages that took the README's reference sections; their variables are checked too.
SETTINGS_PAGES = [
    ROOT / "docs" / f"{name}.md"
    for name in ("operating", "deployment", "scripts", "security", "architecture")
]
CLI = typer.main.get_command(app)
#: Options every command takes from click itself, and the root's own.
COMMON = {"--help"}


def code_of(text: str) -> list[str]:
    """The shell of a page: each line of its shell blocks (bash, shell, sh or none), and each
    inline span outside blocks. Python blocks say ``sealroom`` as a module, not a command."""
    text = re.sub(r"^## Not yet\n.*?(?=^## |\Z)", "", text, flags=re.S | re.M)
    pieces: list[str] = []
    for language, block in re.findall(r"^```([a-z]*)\n(.*?)^```", text, re.S | re.M):
        if language in ("", "bash", "shell", "sh", "console"):
            pieces.extend(block.splitlines())
    outside = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    pieces.extend(" ".join(span.split()) for span in re.findall(r"`([^`]+)`", outside))
    return pieces


def invocations(piece: str) -> list[list[str]]:
    """The words after each ``sealroom`` that starts a command in a piece of code, up to the
    end of that command (``&&``, ``;``, a comment or the next ``sealroom``)."""
    piece = piece.split(" #")[0]
    found = []
    for part in re.split(r"&&|;", piece):
        words = part.split()
        # The command is the word ``sealroom`` or an installed one (``.venv/bin/sealroom``);
        # ``/var/lib/sealroom`` or ``sudo -u sealroom`` name a directory or a system user (an
        # option's value ends the previous command's words, though).
        starts = [
            i
            for i, word in enumerate(words)
            if _is_command(word) and not (i and words[i - 1].startswith("-"))
        ]
        ends = [*starts[1:], len(words)] if starts else []
        for start, end in zip(starts, ends, strict=True):
            found.append(words[start + 1 : end])
    return found


def _is_command(word: str) -> bool:
    return word == "sealroom" or word.endswith("/bin/sealroom")


def options_of(command: Any) -> set[str]:
    return {
        option
        for parameter in command.params
        for option in (*parameter.opts, *parameter.secondary_opts)
    } | COMMON


def resolve(words: list[str]) -> tuple[str, list[Any], list[str]]:
    """The command path the words name, the commands it means, and the words after it."""
    commands: list[Any] = [CLI]  # typer's commands (typer vendors click); groups have .commands
    path = "sealroom"
    rest = list(words)
    while rest and hasattr(commands[0], "commands"):
        group_options = {
            option: parameter for parameter in commands[0].params for option in parameter.opts
        }
        if rest[0] in group_options:  # a group's own option (``sealroom --env-file F serve``)
            parameter = group_options[rest.pop(0)]
            if not parameter.is_flag and rest:
                rest.pop(0)
            continue
        if not re.fullmatch(r"[a-z][a-z|-]*", rest[0]):
            break
        names = rest.pop(0).split("|")
        group = commands[0]
        missing = [name for name in names if name not in group.commands]
        assert missing == [], f"`{path} {'|'.join(names)}`: no command {missing}"
        commands = [group.commands[name] for name in names]
        path = f"{path} {'|'.join(names)}"
    return path, commands, rest


def shown() -> list[tuple[str, list[str]]]:
    return [
        (page.relative_to(ROOT).as_posix(), words)
        for page in PAGES
        for piece in code_of(page.read_text("utf-8"))
        for words in invocations(piece)
    ]


def test_the_pages_show_commands() -> None:
    paths = {resolve(words)[0] for _, words in shown()}
    assert {
        "sealroom serve",
        "sealroom request list|show|approve|reject|integrate|preview",
    } <= paths
    assert "sealroom dataset provision" in paths


@pytest.mark.parametrize(
    ("page", "words"),
    shown(),
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_every_command_and_option_shown_exists(page: str, words: list[str]) -> None:
    path, commands, rest = resolve(words)
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", " ".join(rest)))
    known = set().union(*(options_of(command) for command in commands))
    if commands == [CLI]:
        known |= {"--version"}
    assert named - known == set(), f"{page}: `{path}` has no option {sorted(named - known)}"


def test_a_wrong_command_or_option_is_caught() -> None:
    with pytest.raises(AssertionError, match="no command"):
        resolve(["room", "list|drop"])
    _, commands, _ = resolve(["serve", "--tls-cert", "C", "--no-such-thing"])
    assert "--no-such-thing" not in options_of(commands[0])
    assert "--tls-cert" in options_of(commands[0])
    path, _, rest = resolve(["--env-file", "F", "worker", "run", "--workers", "2"])
    assert (path, rest) == ("sealroom worker run", ["--workers", "2"])


def test_every_setting_the_operating_pages_name_exists() -> None:
    fields = {f"SEALROOM_{name.upper()}" for name in Settings.model_fields}
    source = "\n".join(path.read_text("utf-8") for path in (ROOT / "src").rglob("*.py"))
    for page in SETTINGS_PAGES:
        named = set(re.findall(r"`(SEALROOM_[A-Z_]+)`", page.read_text("utf-8")))
        unknown = {name for name in named - fields if name not in source}
        assert unknown == set(), f"{page.name} names variables nothing reads: {unknown}"
    operating = (ROOT / "docs" / "operating.md").read_text("utf-8")
    assert {"SEALROOM_JOB_TIMEOUT", "SEALROOM_MAX_JSON_BYTES"} <= set(
        re.findall(r"`(SEALROOM_[A-Z_]+)`", operating)
    )
