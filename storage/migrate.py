"""`python -m storage.migrate`: upgrade the database named on stdin, then exit.

Run by `storage.db.upgrade_apart`, so the bot's own process never imports Alembic. Its last
line of stderr is what went wrong, in words that never contain the password.
"""

from __future__ import annotations

import json
import sys

from storage.db import _first_line, build_engine, upgrade


def main() -> int:
    given = json.loads(sys.stdin.read())
    engine = build_engine(given["url"])
    try:
        upgrade(engine, provider=given["provider"])
    except Exception as error:
        print(_first_line(error, engine.url.password), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
