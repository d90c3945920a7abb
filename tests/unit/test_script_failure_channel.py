"""A failing script's message with logs off: one outcome of a fixed set, at most a bounded line.

Each attack below tries to carry a secret bit out through the failure message (the exit status,
an exception class name, a forged wrapper marker, a line past the script's end) and shows that
the message is the same whatever the bit, or that what differs is bounded by the script's own
length. The scripts run in the real sandbox through the real wrappers (Python and R); the
message is what :func:`script_failure_message` makes of the result, as the core does. Also: odd
names and file types in ``/output`` get a clear, fixed message (issue 12, item 16).
"""

from __future__ import annotations

import os
import socket
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from sealroom.compute.sandbox import (
    SITE_PACKAGES_PATH,
    Mount,
    SandboxError,
    SandboxLimits,
    SandboxResult,
    check_output_dir,
    python_env,
    python_libraries,
    python_runtime,
    r_runtime,
    run_sandboxed,
    sandbox_available,
)
from sealroom.compute.sandbox.output import MAX_OUTPUT_PATH_CHARS, OUTPUT_REFUSALS
from sealroom.compute.scripts import RUNTIME_DIR, zip_directory
from sealroom.compute.scripts.failure import (
    reported_line,
    script_failure_message,
    script_line_count,
)

needs_sandbox = pytest.mark.skipif(not sandbox_available(), reason="needs bubblewrap")
needs_r = pytest.mark.skipif(
    r_runtime() is None or not sandbox_available(), reason="needs R and bubblewrap"
)

_RUNTIME = "/opt/sealroom/runtime"
_WITHHELD = "; its error message, exit status and output are withheld (logs are off for this node)"
LIMITS = SandboxLimits(timeout_seconds=60, max_output_files=100, max_output_bytes=10_000)


def _run(tmp_path: Path, script: str, *, language: str = "python") -> SandboxResult:
    code = tmp_path / "code"
    code.mkdir(parents=True)
    output = tmp_path / "output"
    output.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    if language == "python":
        (code / "main.py").write_text(script)
        interpreter, runtime = python_runtime()
        argv = [str(interpreter), "-B", "-s", f"{_RUNTIME}/run_python.py"]
        env = {**python_env(), "PYTHONPATH": f"{_RUNTIME}:{SITE_PACKAGES_PATH}"}
        libraries = python_libraries()
    else:
        r = r_runtime()
        assert r is not None
        (code / "main.R").write_text(script)
        argv = [*r.command, f"{_RUNTIME}/run_r.R"]
        env = {**r.env, "R_PROFILE": f"{_RUNTIME}/Rprofile"}
        runtime, libraries = list(r.runtime), []
    return run_sandboxed(
        argv,
        mounts=[Mount(code, "/input/code")],
        output_dir=output,
        work_dir=work,
        limits=LIMITS,
        runtime=runtime,
        libraries=[*libraries, (RUNTIME_DIR, _RUNTIME)],
        env=env,
    )


def _message(script: str, result: SandboxResult, *, language: str = "python") -> str:
    """What the analyst reads when the script failed and logs are off (as the core words it)."""
    assert result.exit_code not in (0, None), result.stderr.decode()
    return script_failure_message(
        kind=language,
        node_name="leak",
        file_name="main.py" if language == "python" else "main.R",
        script=script,
        exit_code=result.exit_code,
        stderr=result.stderr,
        log_tail_bytes=None,
    )


def _messages_for_each_bit(
    tmp_path: Path, template: str, *, language: str = "python"
) -> tuple[str, str]:
    """The messages of ``template`` run with ``BIT`` set to 0 and to 1 (the room's script is the
    same; only the data it reads would differ, simulated by the constant)."""
    out = []
    for bit in (0, 1):
        script = template.replace("BIT", str(bit))
        out.append(
            _message(
                script, _run(tmp_path / str(bit), script, language=language), language=language
            )
        )
    return out[0], out[1]


# -- the message itself ---------------------------------------------------------------------------


def test_with_logs_off_the_message_is_one_of_a_fixed_set() -> None:
    script = "a = 1\nb = 2\nraise ValueError(a)\n"
    fixed = {
        "python node 'leak': script failed" + _WITHHELD,
        *(
            f"python node 'leak': script failed at line {n} of main.py{_WITHHELD}"
            for n in (1, 2, 3)
        ),
    }
    hostile = [
        b"",
        b"Traceback...\nValueError: north\n\n__SEALROOM_SCRIPT_ERROR__ 3\n",
        b"__SEALROOM_SCRIPT_ERROR__ ValueError 3\n",  # the old format, with a class name
        b"__SEALROOM_SCRIPT_ERROR__ Secret_north 2\n",
        b"__SEALROOM_SCRIPT_ERROR__ 4\n",  # past the script's 3 lines
        b"__SEALROOM_SCRIPT_ERROR__ 0\n",
        b"__SEALROOM_SCRIPT_ERROR__ 03\n",
        b"__SEALROOM_SCRIPT_ERROR__ 2 north\n",
        b"__SEALROOM_SCRIPT_ERROR__ 2\nnorth\n",  # not the last line
        b"__SEALROOM_SCRIPT_ERROR__ " + b"9" * 5000 + b"\n",
        b"\xff\xfe north \x00\n__SEALROOM_SCRIPT_ERROR__ 1",
    ]
    for status in (1, 2, 137, 200, 201, 255, -9, None):
        for stderr in hostile:
            message = script_failure_message(
                kind="python",
                node_name="leak",
                file_name="main.py",
                script=script,
                exit_code=status,
                stderr=stderr,
                log_tail_bytes=None,
            )
            assert message in fixed, (status, stderr, message)
            assert "north" not in message


def test_the_line_is_accepted_only_within_the_scripts_own_length() -> None:
    script = "x = 1\n\ny = 2\n"
    assert script_line_count(script) == 3
    assert [reported_line(b"__SEALROOM_SCRIPT_ERROR__ %d\n" % n, script) for n in range(5)] == [
        None, 1, 2, 3, None,
    ]  # fmt: skip
    assert reported_line(b"  __SEALROOM_SCRIPT_ERROR__ 2  \n\n", script) == 2
    assert reported_line(b"__SEALROOM_SCRIPT_ERROR__ -1\n", script) is None
    assert reported_line(b"__SEALROOM_SCRIPT_ERROR__ 1.0\n", script) is None
    assert reported_line(b"__SEALROOM_SCRIPT_ERROR__ \xd9\xa1\n", script) is None  # Arabic 1
    assert reported_line(b"__SEALROOM_SCRIPT_ERROR__ 1", "") is None  # an empty script


def test_with_logs_on_the_status_and_the_stderr_tail_come_back() -> None:
    message = script_failure_message(
        kind="r",
        node_name="n",
        file_name="main.R",
        script="x\ny\n",
        exit_code=3,
        stderr=b"Error: detail\n\n__SEALROOM_SCRIPT_ERROR__ 2\n",
        log_tail_bytes=4096,
    )
    assert message.startswith("r node 'n': script failed at line 2 of main.R (exit status 3)\n")
    assert "Error: detail" in message


# -- attacks through the real wrappers ----------------------------------------------------------


@needs_sandbox
def test_the_exit_status_carries_nothing(tmp_path: Path) -> None:
    zero, one = _messages_for_each_bit(tmp_path, "import sys\nsys.exit(200 + BIT)\n")
    assert zero == one == "python node 'leak': script failed" + _WITHHELD


@needs_sandbox
def test_an_exception_class_name_carries_nothing(tmp_path: Path) -> None:
    template = (
        'secret = ["north", "south"][BIT]\n'
        'Leak = type("Leak_" + secret * 20, (Exception,), {})\n'
        "raise Leak()\n"
    )
    zero, one = _messages_for_each_bit(tmp_path, template)
    assert zero == one == "python node 'leak': script failed at line 3 of main.py" + _WITHHELD


@needs_sandbox
def test_a_forged_marker_carries_nothing_but_a_line_within_the_script(tmp_path: Path) -> None:
    # The old marker's form (class name) and a line past the end, on both streams.
    template = (
        "import sys\n"
        'secret = ["north", "south"][BIT]\n'
        "for stream in (sys.stdout, sys.stderr):\n"
        '    stream.write(f"\\n__SEALROOM_SCRIPT_ERROR__ {secret} 2\\n")\n'
        '    stream.write(f"\\n__SEALROOM_SCRIPT_ERROR__ {1000 + BIT}\\n")\n'
        "    stream.flush()\n"
        "sys.exit(1)\n"
    )
    zero, one = _messages_for_each_bit(tmp_path, template)
    assert zero == one == "python node 'leak': script failed" + _WITHHELD
    # A forged line within the script is taken: no more than raising at that line would say.
    script = 'import sys\nsys.stderr.write("__SEALROOM_SCRIPT_ERROR__ 2\\n")\nsys.exit(1)\n'
    message = _message(script, _run(tmp_path / "in-range", script))
    assert message == "python node 'leak': script failed at line 2 of main.py" + _WITHHELD


@needs_sandbox
def test_a_monkeypatched_wrapper_still_ends_in_the_fixed_set(tmp_path: Path) -> None:
    # The script replaces the wrapper's own helpers so that its report names the secret.
    template = (
        "import sys, traceback\n"
        "frame = sys._getframe()\n"
        'while "MARKER" not in frame.f_globals:\n'
        "    frame = frame.f_back\n"
        "wrapper = frame.f_globals\n"
        'secret = ["north", "south"][BIT]\n'
        'wrapper["MARKER"] = "__SEALROOM_SCRIPT_ERROR__ " + secret\n'
        'wrapper["script_line"] = lambda exc: 1000 + BIT\n'
        "traceback.print_exc = lambda: sys.stderr.write(secret * 100)\n"
        "raise ValueError(secret)\n"
    )
    zero, one = _messages_for_each_bit(tmp_path, template)
    assert zero == one == "python node 'leak': script failed" + _WITHHELD


@needs_sandbox
def test_a_line_past_the_scripts_end_is_dropped(tmp_path: Path) -> None:
    # Code compiled under the script's own file name, at a line chosen by the data.
    template = (
        'code = "\\n" * (1000 + BIT) + "raise ValueError()"\n'
        'exec(compile(code, "/input/code/main.py", "exec"))\n'
    )
    zero, one = _messages_for_each_bit(tmp_path, template)
    assert zero == one == "python node 'leak': script failed" + _WITHHELD


@needs_sandbox
def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    script = "x = 1\ny = (\n"
    message = _message(script, _run(tmp_path, script))
    assert message == "python node 'leak': script failed at line 2 of main.py" + _WITHHELD


@needs_r
def test_r_condition_classes_and_statuses_carry_nothing(tmp_path: Path) -> None:
    template = (
        'secret <- c("north", "south")[[BIT + 1]]\n'
        "stop(structure(class = c(paste0('Leak_', secret), 'error', 'condition'),\n"
        "               list(message = secret, call = NULL)))\n"
    )
    zero, one = _messages_for_each_bit(tmp_path / "class", template, language="r")
    assert zero == one == "r node 'leak': script failed at line 2 of main.R" + _WITHHELD
    zero, one = _messages_for_each_bit(
        tmp_path / "status", "quit(status = 200 + BIT)\n", language="r"
    )
    assert zero == one == "r node 'leak': script failed" + _WITHHELD
    forged = (
        'secret <- c("north", "south")[[BIT + 1]]\n'
        'message("\\n__SEALROOM_SCRIPT_ERROR__ ", secret, " ", 1000 + BIT)\n'
        "quit(status = 1)\n"
    )
    zero, one = _messages_for_each_bit(tmp_path / "forged", forged, language="r")
    assert zero == one == "r node 'leak': script failed" + _WITHHELD


# -- odd names and file types in /output (item 16) ----------------------------------------------


@needs_sandbox
def test_a_name_that_is_not_utf8_is_a_clear_error_in_the_sandbox(tmp_path: Path) -> None:
    with pytest.raises(SandboxError) as caught:
        _run(tmp_path, 'open(b"/output/r\\xe9sum\\xe9.txt", "w").write("x")\n')
    assert caught.value.code == "unsafe_output"
    assert str(caught.value) == "an output file name is not valid UTF-8: rename it"


def _refusal(tmp_path: Path) -> str:
    with pytest.raises(SandboxError) as caught:
        check_output_dir(tmp_path, LIMITS)
    assert caught.value.code == "unsafe_output"
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (b"\xff.txt", "not_utf8"),
        (b"\xed\xa0\x80.txt", "not_utf8"),  # an encoded surrogate: not UTF-8 either
        (b"a\nb", "control"),
        (b"a\rb", "control"),
        (b"a\x1b[31mb", "control"),  # a terminal escape
        ("a\u009bb".encode(), "control"),  # C1 control (CSI)
        ("report\u202etxt.exe".encode(), "control"),  # right-to-left override
        (b"C:evil", "separator"),
        (b"a\\b", "separator"),
    ],
)
def test_odd_names_get_a_fixed_message_without_the_name(
    tmp_path: Path, name: bytes, reason: str
) -> None:
    with open(os.path.join(os.fsencode(tmp_path), name), "w") as handle:
        handle.write("x")
    message = _refusal(tmp_path)
    assert message == OUTPUT_REFUSALS[reason]
    assert os.fsdecode(name) not in message


def test_a_path_too_long_gets_a_fixed_message(tmp_path: Path) -> None:
    deep = tmp_path
    for _ in range(MAX_OUTPUT_PATH_CHARS // 200 + 1):
        deep = deep / ("d" * 199)
        deep.mkdir()
    (deep / "f").write_text("x")
    assert _refusal(tmp_path) == OUTPUT_REFUSALS["too_long"]


def test_links_and_special_files_each_get_their_message(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    assert _refusal(tmp_path) == OUTPUT_REFUSALS["symlink"]
    (tmp_path / "link").unlink()
    os.mkfifo(tmp_path / "fifo")
    assert _refusal(tmp_path) == OUTPUT_REFUSALS["special"]
    (tmp_path / "fifo").unlink()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock"))
        assert _refusal(tmp_path) == OUTPUT_REFUSALS["special"]
    (tmp_path / "sock").unlink()
    (tmp_path / "a").write_text("x")
    os.link(tmp_path / "a", tmp_path / "b")
    assert _refusal(tmp_path) == OUTPUT_REFUSALS["hard_link"]


def test_every_accepted_name_zips(tmp_path: Path) -> None:
    for name in ("münze €.txt", "日本語", "emoji 🙂", ".hidden", "x" * 255):
        (tmp_path / name).write_text("x")
    accepted = [name for name, _ in check_output_dir(tmp_path, LIMITS)]
    with zipfile.ZipFile(BytesIO(zip_directory(tmp_path))) as archive:
        assert sorted(archive.namelist()) == accepted
