"""docs/deployment.md's backup and restore blocks, run as written, on SQLite and PostgreSQL.

The blocks marked `<!-- tests/ops/test_backup_restore.py runs this block: NAME -->` are taken
from the page itself, so the page and this test cannot drift. Only the backup directory is
moved into a temporary one; `chatsite-manage` is the repository's `deploy/chatsite-manage`
(run as the current user, on a temporary env file) and `systemctl` a stub that records its
calls. An instance is filled through the app's services (tests/ops/instance.py), backed up,
restored into a fresh database and DATA_DIR, and must show every table's rows, exact values,
its sessions (the generated key came back) and a consistent ledger.
"""

import getpass
import json
import os
import re
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
from django.conf import settings

from tests.pg import postgres_cluster

ROOT = Path(settings.BASE_DIR)
DOC = ROOT / "docs" / "deployment.md"
MARKER = re.compile(
    r"<!-- tests/ops/test_backup_restore\.py runs this block: (\w+) -->\n```sh\n(.*?)```",
    re.DOTALL,
)
BACKUPS = "/var/backups/chatsite"
SYSTEMCTL_STUB = '#!/bin/sh\necho "$*" >> "$SYSTEMCTL_LOG"\n'
TIMEOUT = 180


def doc_blocks() -> dict[str, str]:
    blocks = dict(MARKER.findall(DOC.read_text()))
    assert set(blocks) == {"backup", "restore"}, f"marked blocks in {DOC}: {sorted(blocks)}"
    return blocks


class Site:
    """One machine's worth of paths: a bin directory, an env file, DATA_DIR, the backups."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bin = base / "bin"
        self.bin.mkdir()
        (self.bin / "chatsite-manage").symlink_to(ROOT / "deploy" / "chatsite-manage")
        systemctl = self.bin / "systemctl"
        systemctl.write_text(SYSTEMCTL_STUB)
        systemctl.chmod(0o755)
        self.backups = base / "backups"
        self.backups.mkdir(mode=0o700)
        self.systemctl_log = base / "systemctl.log"

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
            "SYSTEMCTL_LOG": str(self.systemctl_log),
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

    def run_doc_block(self, env_file: Path, block: str) -> str:
        script = block.replace(BACKUPS, str(self.backups))
        # Everything else runs as written: no other path of the server's may remain.
        assert not re.search(r"/(var|etc|srv)/", script), script
        return self.run(env_file, script)

    def python(self, env_file: Path, code: str) -> dict:
        """Run `code` in the instance's Django (`chatsite-manage shell`); its last JSON line."""
        out = self.run(env_file, f'chatsite-manage shell -c "{code}"')
        return json.loads(out.strip().splitlines()[-1])


def _backup_and_restore(site: Site, source: Path, restored: Path) -> None:
    blocks = doc_blocks()
    site.run(source, "chatsite-manage migrate --noinput --verbosity 0")
    session = site.python(source, "from tests.ops.instance import populate; populate()")
    fingerprint = f"from tests.ops.instance import fingerprint; fingerprint('{session['session']}')"
    before = site.python(source, fingerprint)

    site.run_doc_block(source, blocks["backup"])
    made = [p for p in site.backups.iterdir()]
    assert len(made) == 1 and made[0].name.startswith("chatsite-"), made
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o700
    for file in made[0].iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file

    site.run_doc_block(restored, blocks["restore"])
    after = site.python(restored, fingerprint)

    assert after == before
    assert before["counts"]["accounts.User"] == 3
    assert before["counts"]["conversations.Message"] == 6
    assert before["counts"]["conversations.Share"] == 1
    assert before["session_user"] is not None
    assert any(
        "Bonjour, こんにちは" in json.dumps(m, ensure_ascii=False) for m in after["messages"]
    )
    grants = [
        (Decimal(cost), tokens) for _u, kind, cost, tokens, *_ in after["ledger"] if kind == "grant"
    ]
    assert grants == [(Decimal("-2.5"), -1000)]
    site.python(
        restored, "from tests.ops.instance import write_after_restore; write_after_restore()"
    )
    calls = site.systemctl_log.read_text().splitlines()
    assert calls[0].startswith("stop ") and calls[-1].startswith("start "), calls


def test_documented_backup_restores_a_sqlite_instance_with_its_generated_key(tmp_path):
    site = Site(tmp_path)
    source = site.instance("old")
    restored = site.instance("new")
    _backup_and_restore(site, source, restored)
    key = (tmp_path / "old" / "data" / "secret_key").read_text()
    assert (tmp_path / "new" / "data" / "secret_key").read_text() == key


def test_documented_backup_restores_a_postgresql_instance_into_a_fresh_database(tmp_path):
    with postgres_cluster() as server_url:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE chatsite")
            admin.execute("CREATE DATABASE restored")
        base_url = server_url.rsplit("/", 1)[0]
        site = Site(tmp_path)
        key = "a-key-set-in-the-env-file-" + "k" * 40
        source = site.instance("old", DATABASE_URL=f"{base_url}/chatsite", SECRET_KEY=key)
        restored = site.instance("new", DATABASE_URL=f"{base_url}/restored", SECRET_KEY=key)
        _backup_and_restore(site, source, restored)
