"""The browser's CSV reading (web/src/csvprep.ts) against Python's csv module, in Chromium.

The provisioning wizard rewrites a file into the upload's format while the worker encrypts it,
read by read: the records must be Python's, wherever the reads cut the file (inside a quoted
field, between CR and LF, in a doubled quote), on the fast path (no quotes) and the slow one.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import ServerProcess, start_server, stop_server

pytestmark = [pytest.mark.integration]

CASES = [
    ("a,b\n1,2\n", ","),
    ("a,b\r\n1,2\r\n3,4", ","),
    ('name,note\n"Smith, J.","said ""hi"""\n"multi\nline",x\n', ","),
    ('x;y\n"1;2";3\n\n4;5\n', ";"),
    ("a\tb\nc\td\n", "\t"),
    ('a,b\n"",""\n,\n', ","),
    ("a,b\r1,2\r", ","),  # bare CR line ends
    ("€uro,naïve\nŝ,日本\n", ","),
]


@pytest.fixture(scope="module")
def page(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:  # noqa: F811
    server: ServerProcess = start_server(tmp_path_factory.mktemp("csv"))
    page = chromium.new_page()
    try:
        page.goto(f"{server.url}/health")
        yield page
    finally:
        page.close()
        stop_server(server)


def browser_records(page: Page, text: str, delimiter: str, cuts: list[int]) -> list[list[str]]:
    records: list[list[str]] = page.evaluate(
        "async ([t, d, c]) => (await import('/static/js/selftest.js')).csvRecords(t, d, c)",
        [text, delimiter, cuts],
    )
    return records


def python_records(text: str, delimiter: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


@pytest.mark.parametrize(("text", "delimiter"), CASES)
def test_records_are_pythons_wherever_the_reads_cut(page: Page, text: str, delimiter: str) -> None:
    expected = python_records(text, delimiter)
    for cut in range(len(text) + 1):
        got = browser_records(page, text, delimiter, [cut])
        # Python's reader skips blank lines' records as []; the parser gives [""] for them.
        assert [r for r in got if r != [""]] == [r for r in expected if r], (text, cut)


def test_records_of_a_large_random_file_in_random_reads(page: Page) -> None:
    rng = random.Random(7)
    cells = ["plain", "", "with,comma", 'with "quote"', "line\nbreak", "crlf\r\nbreak", "ünï"]
    rows = [[rng.choice(cells) for _ in range(4)] for _ in range(2000)]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    text = buffer.getvalue()
    cuts = sorted(rng.sample(range(1, len(text)), 300))
    assert browser_records(page, text, ",", cuts) == rows
    # The fast path: the same rows without quotes, in many reads.
    plain = "".join(",".join(f"v{i}-{j}" for j in range(4)) + "\n" for i in range(5000))
    cuts = sorted(rng.sample(range(1, len(plain)), 200))
    assert browser_records(page, plain, ",", cuts) == python_records(plain, ",")


def test_a_file_is_reshaped_into_the_upload_format(page: Page) -> None:
    text = '\ufeffProduct;E-mail;Age\nloan;a@x.org;31\ncard;"b;c"@x.org;40\n'
    result = page.evaluate(
        "async ([t, c]) => (await import('/static/js/selftest.js')).csvReshape(t, c, [5, 30])",
        [text, ["email", "age", "product"]],
    )
    # A quote closed before the field ends: Python's reader (strict=False) reads on, as here.
    assert python_records(text[1:], ";")[2] == ["card", "b;c@x.org", "40"]
    assert result == {"out": "a@x.org,31,loan\nb;c@x.org,40,card\n"}


def test_a_record_of_the_wrong_width_is_refused_not_padded(page: Page) -> None:
    text = "email,product\na@x.org,loan\nb@x.org\n"
    result = page.evaluate(
        "async ([t, c]) => (await import('/static/js/selftest.js')).csvReshape(t, c, [])",
        [text, ["email", "product"]],
    )
    assert "record 3 of the file has 1 fields, not 2" in result["error"]
