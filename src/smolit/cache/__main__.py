"""``python -m smolit.cache clear [--type T]`` and ``python -m smolit.cache stats``."""

from smolit.cli.cache_cmd import main

if __name__ == "__main__":
    main()
