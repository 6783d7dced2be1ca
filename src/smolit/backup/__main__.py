"""``python -m smolit.backup create | list | verify ID | restore ID``."""

from smolit.cli.backup_cmd import main

if __name__ == "__main__":
    main()
