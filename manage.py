#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if sys.argv[1:2] == ["makemigrations"]:
        # Reading the models needs no secret: let the migration check run on
        # a bare checkout (the settings refuse to start without one otherwise).
        os.environ.setdefault("SECRET_KEY", "makemigrations-reads-models-only")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
