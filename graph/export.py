"""Write the schema as SDL: `python -m graph.export [schema.graphql]` (what `make schema` runs)."""

from __future__ import annotations

import sys
from pathlib import Path

from graph.schema import schema


def sdl() -> str:
    return schema.as_str() + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "schema.graphql")
    target.write_text(sdl())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
