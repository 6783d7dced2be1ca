"""``python -m smolit.cache clear [--type T]`` and ``python -m smolit.cache stats``."""

from smolit.cache.cli import main

if __name__ == "__main__":
    main()
