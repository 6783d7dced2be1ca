"""``python -m smolit.monitor [--url URL] [--once --json]``."""

from smolit.cli.monitor_cmd import main

if __name__ == "__main__":
    main()
