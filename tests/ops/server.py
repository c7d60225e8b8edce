"""A server's paths in a temporary directory, to run docs/deployment.md's blocks as written.

`Site` gives each test a bin directory with `chatsite-manage` (the repository's
`deploy/chatsite-manage`, run as the current user with the venv's Python) and stubs of the
commands a test cannot run for real (`systemctl`, `chgrp`), env files for instances with their
own DATA_DIR, and a runner that moves only the paths it is told to.
"""

import getpass
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
DOC = ROOT / "docs" / "deployment.md"
MARKER = r"<!-- {test} runs this block: (\w+) -->\n```sh\n(.*?)```"
# Stubs of the commands a test cannot run for real: they record their arguments.
STUBS = ("systemctl", "chgrp")
STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> "$STUBS_LOG"\n'
TIMEOUT = 180


def doc_blocks(test: str) -> dict[str, str]:
    """The `sh` blocks of docs/deployment.md marked as run by `test` (its path), by name."""
    blocks = dict(re.findall(MARKER.format(test=re.escape(test)), DOC.read_text(), re.DOTALL))
    assert blocks, f"no block of {DOC} is marked as run by {test}"
    return blocks


class Site:
    """One machine's worth of paths: a bin directory with the commands, and instances."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bin = base / "bin"
        self.bin.mkdir()
        (self.bin / "chatsite-manage").symlink_to(ROOT / "deploy" / "chatsite-manage")
        for name in STUBS:
            (self.bin / name).write_text(STUB)
            (self.bin / name).chmod(0o755)
        self.stubs_log = base / "stubs.log"

    def instance(self, name: str, **variables: str) -> Path:
        """An env file for an instance with its own DATA_DIR (plus `variables`)."""
        data = self.base / name / "data"
        data.mkdir(parents=True)
        env_file = self.base / name / "env"
        lines = {
            "DATA_DIR": str(data),
            "ANTHROPIC_API_KEY": "sk-ant-test-KEY",
            "CHAT_MODEL": "claude-sonnet-4-5-20250929",
            **variables,
        }
        env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return env_file

    def environ(self, env_file: Path) -> dict[str, str]:
        # Nothing of this process's own environment reaches the app but PATH and the locale:
        # the instance is configured by its env file alone, as on the server.
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.base),
            "LANG": "C.UTF-8",
            "CHATSITE_ENV": str(env_file),
            "CHATSITE_USER": getpass.getuser(),
            "CHATSITE_PYTHON": sys.executable,
            "STUBS_LOG": str(self.stubs_log),
        }

    def run(self, env_file: Path, script: str) -> str:
        done = subprocess.run(
            ["sh", "-eu", "-c", script],
            cwd=self.base,
            env=self.environ(env_file),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, (
            f"exit {done.returncode}:\n{script}\n--- stdout\n{done.stdout}\n"
            f"--- stderr\n{done.stderr}"
        )
        return done.stdout

    def run_doc_block(self, env_file: Path, block: str, paths: dict[str, Path]) -> str:
        """Run a block of the page with the server's `paths` moved to temporary ones."""
        script, rest = block, block
        for server_path, here in paths.items():
            script = script.replace(server_path, str(here))
            rest = rest.replace(server_path, "")
        # Everything else runs as written: no other path of the server's may remain.
        assert not re.search(r"/(var|etc|srv)/", rest), rest
        return self.run(env_file, script)

    def stub_calls(self) -> list[str]:
        return self.stubs_log.read_text().splitlines() if self.stubs_log.exists() else []

    def python(self, env_file: Path, code: str) -> list:
        """Run `code` in the instance's Django (`chatsite-manage shell`); the JSON it printed."""
        out = self.run(env_file, f'chatsite-manage shell -c "{code}"')
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]
