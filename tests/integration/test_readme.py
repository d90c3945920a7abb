"""The README's SDK example runs as written against a real server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

README = Path(__file__).parents[2] / "README.md"
BOB_STEP = """
bob = sr.create_client("bob@insurer.example", BOB_TOKEN, api_url=API_URL)
bob.retrieve_analytics_dcr(dcr.id).get_node("insurer_customers").upload_and_publish_dataset(
    io.BytesIO(b"ben@mail.example\\ncid@mail.example\\n"), sr.Key(), "insurer.csv")
"""


def test_the_readme_sdk_example_runs(
    server_factory: Callable[..., ServerProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_factory()
    example = re.search(r"## A few lines of SDK\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert example is not None
    code = example.group(1)
    code = code.replace('token = "sr_..."', f'token = "{server.add_user("alice@bank.example")}"')
    code = code.replace('api_url="http://127.0.0.1:8765"', "api_url=API_URL")
    code = re.sub(r"# Bob does the same.*\n", lambda _: BOB_STEP, code)
    namespace = {"API_URL": server.url, "BOB_TOKEN": server.add_user("bob@insurer.example")}
    exec(compile(code, "README.md", "exec"), namespace)
    assert capsys.readouterr().out == "n\n1\n\n"
