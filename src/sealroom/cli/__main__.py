"""``python -m sealroom.cli`` is the ``sealroom`` command."""

from sealroom.cli.main import main

main()
