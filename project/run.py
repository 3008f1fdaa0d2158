"""`make run`: Redis (found or embedded), then the Procfile's web and worker under honcho.

Ctrl-C stops everything started here. Each Procfile line also runs alone, which
is how operators add web nodes and workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from project.devredis import LOCAL_URL, EmbeddedRedis, reachable

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ)
    embedded = None
    if env.get("REDIS_URL"):
        print(f"Using Redis at REDIS_URL={env['REDIS_URL']}")
    elif reachable(LOCAL_URL):
        env["REDIS_URL"] = LOCAL_URL
        print(f"Using the Redis running at {LOCAL_URL}")
    else:
        embedded = EmbeddedRedis(ROOT / "var" / "redis", appendonly=True).start()
        env["REDIS_URL"] = embedded.url
        print(f"No Redis found: started an embedded one at {embedded.url} (data in var/redis)")
    host = env.setdefault("ATELIER_HOST", "127.0.0.1")
    port = env.setdefault("ATELIER_PORT", "8000")
    print(f"\n  GraphiQL: http://{host}:{port}/graphql\n", flush=True)
    try:
        return subprocess.call(
            [str(Path(sys.executable).with_name("honcho")), "start", "-f", str(ROOT / "Procfile")],
            cwd=ROOT,
            env=env,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
