"""Pretix's settings for the tests: SQLite waits for locks (30 s) and takes
the write lock when a transaction begins, so concurrent check-ins of one
ticket are serialised by the database instead of failing."""

from pretix.settings import *  # noqa: F401,F403
from pretix.settings import DATABASES

for _db in DATABASES.values():
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"] = dict(_db["OPTIONS"], timeout=30, transaction_mode="IMMEDIATE")
