"""docs/deployment.md's env file, written by its block as written, loads and passes check --deploy.

The block runs with /etc/chatsite and DATA_DIR moved into a temporary directory and `chgrp`
stubbed (there is no `chatsite` group here); `chatsite-manage` then reads the file the way the
page says every manage.py command does.
"""

import stat

from .server import Site, doc_blocks

TEST = "tests/ops/test_env_file.py"


def test_documented_env_file_is_private_and_passes_check_deploy(tmp_path):
    site = Site(tmp_path)
    etc, data = tmp_path / "etc", tmp_path / "data"
    etc.mkdir()
    data.mkdir()
    env_file = etc / "env"

    site.run_doc_block(
        env_file, doc_blocks(TEST)["env"], {"/etc/chatsite": etc, "/var/lib/chatsite": data}
    )
    checked = site.run(env_file, "chatsite-manage check --deploy 2>&1")

    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
    assert site.stub_calls() == [f"chgrp chatsite {env_file}"]
    assert "System check identified" in checked and "ERROR" not in checked
    # The key is the generated one from the file, long enough for Django's check...
    assert "security.W009" not in checked
    # ...so nothing fell back to a key generated into DATA_DIR.
    assert not (data / "secret_key").exists()
