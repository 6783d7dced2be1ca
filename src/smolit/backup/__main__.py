"""``python -m smolit.backup create | list | verify ID | restore ID``."""

from smolit.backup.cli import main

if __name__ == "__main__":
    main()
