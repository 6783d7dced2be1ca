"""``python -m smolit.monitor [--url URL] [--once --json]``."""

from smolit.monitor.cli import main

if __name__ == "__main__":
    main()
