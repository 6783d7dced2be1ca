"""The ``smolit`` command line (Typer), one module per command group."""
