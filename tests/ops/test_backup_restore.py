"""docs/deployment.md's backup and restore blocks, run as written, on SQLite and PostgreSQL.

The blocks marked `<!-- tests/ops/test_backup_restore.py runs this block: NAME -->` are taken
from the page itself, so the page and this test cannot drift. Only the backup directory is
moved into a temporary one; `chatsite-manage` is the repository's `deploy/chatsite-manage`
(run as the current user, on a temporary env file) and `systemctl` a stub that records its
calls (tests/ops/server.py). An instance is filled through the app's services
(tests/ops/instance.py), backed up, changed, and restored into a fresh database and DATA_DIR
and then over itself; each copy must show the backup's rows and exact values, its sessions (the
generated key came back) and a consistent ledger.
"""

import json
import stat
from decimal import Decimal
from pathlib import Path

import psycopg

from tests.pg import postgres_cluster

from .server import Site, doc_blocks

BACKUPS = "/var/backups/chatsite"


def _backup_and_restore(site: Site, source: Path, restored: Path) -> None:
    blocks = doc_blocks("tests/ops/test_backup_restore.py")
    assert set(blocks) == {"backup", "restore"}
    backups = site.base / "backups"
    backups.mkdir(mode=0o700)
    site.run(source, "chatsite-manage migrate --noinput --verbosity 0")
    session, before = site.python(source, "from tests.ops.instance import populate; populate()")

    site.run_doc_block(source, blocks["backup"], {BACKUPS: backups})
    made = [p for p in backups.iterdir()]
    assert len(made) == 1 and made[0].name.startswith("chatsite-"), made
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o700
    for file in made[0].iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file

    site.python(source, "from tests.ops.instance import write_more; write_more()")

    check = f"from tests.ops.instance import check_restored; check_restored('{session['session']}')"
    # Into a fresh database and DATA_DIR (a new machine), then over the instance itself.
    for target in (restored, source):
        restoring = site.run_doc_block(target, blocks["restore"], {BACKUPS: backups})
        assert "The ledger is consistent." in restoring  # check_ledger, on the restored copy
        (after,) = site.python(target, check)
        assert after == before, target
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
    calls = [call.split()[:2] for call in site.stub_calls()]
    assert calls == [["systemctl", "stop"], ["systemctl", "start"]] * 2


def test_documented_backup_restores_a_sqlite_instance_with_its_generated_key(tmp_path):
    site = Site(tmp_path)
    source = site.instance("old")
    restored = site.instance("new")
    _backup_and_restore(site, source, restored)
    key = (tmp_path / "old" / "data" / "secret_key").read_text()
    assert (tmp_path / "new" / "data" / "secret_key").read_text() == key


def test_documented_backup_restores_a_postgresql_instance_into_a_fresh_database(tmp_path):
    with postgres_cluster() as server_url:
        # As the page sets it up: a role of its own, not a superuser, owning both databases.
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute("CREATE ROLE chatsite LOGIN PASSWORD 'pw-of-chatsite'")
            admin.execute("CREATE DATABASE chatsite OWNER chatsite")
            admin.execute("CREATE DATABASE restored OWNER chatsite")
        host = server_url.rsplit("@", 1)[1].split("/")[0]
        base_url = f"postgres://chatsite:pw-of-chatsite@{host}"
        site = Site(tmp_path)
        key = "a-key-set-in-the-env-file-" + "k" * 40
        source = site.instance("old", DATABASE_URL=f"{base_url}/chatsite", SECRET_KEY=key)
        restored = site.instance("new", DATABASE_URL=f"{base_url}/restored", SECRET_KEY=key)
        _backup_and_restore(site, source, restored)
