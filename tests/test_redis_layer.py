"""The Redis channel layer as settings build it: its reads outlast its idle blocking pop."""

import json
import os
import subprocess
import sys
from pathlib import Path

from channels_redis.core import RedisChannelLayer

BASE_DIR = Path(__file__).resolve().parents[1]


def _channel_layers_with_redis(data_dir: Path) -> dict:
    """CHANNEL_LAYERS as a fresh process computes it with REDIS_URL set (ours has no Redis)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(REDIS_URL="redis://127.0.0.1:1/0", SECRET_KEY="layer-test", DATA_DIR=str(data_dir))
    script = "import json, chatsite.settings as s; print(json.dumps(s.CHANNEL_LAYERS))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def test_redis_layer_socket_timeout_is_above_its_blocking_pop(tmp_path):
    config = _channel_layers_with_redis(tmp_path)["default"]
    assert config["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    layer = RedisChannelLayer(**config["CONFIG"])
    # The connection redis-py would open (building it does not connect): what it reads with.
    pool = layer.create_pool(0)
    connection = pool.connection_class(**pool.connection_kwargs)

    # At or below the pop, every idle receive raises "Timeout reading" (redis-py 8's default
    # is 5 s, the pop's too); no timeout at all would hang on a dead Redis for good.
    assert connection.socket_timeout is not None
    assert connection.socket_timeout > layer.brpop_timeout
    assert connection.socket_connect_timeout is not None
