"""The ``concerto`` console script: Django's manage.py for this project."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concerto.settings")
    from concerto.lib.env import ConfigurationError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigurationError as exc:
        sys.stderr.write(f"Configuration invalide : {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
