"""What-if settings for `--variants sqlite-persistent`: shipped settings, persistent connections.

Not the app as it ships: it measures one proposed fix (CONN_MAX_AGE for SQLite, which the
shipped settings set only for PostgreSQL) without editing production code.
"""

from chatsite.settings import *  # noqa: F403
from chatsite.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = None
