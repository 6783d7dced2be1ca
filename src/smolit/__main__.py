"""``python -m smolit`` is the ``smolit`` CLI."""

from smolit.cli.app import main

main()
