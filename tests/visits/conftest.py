"""An application without its evaluation worker (tests drain the queue when they want the rules to run) on a
migrated database with two municipalities."""

from __future__ import annotations

from tests.support.fixtures import app_fixtures

visits_db, tenants, client = app_fixtures("visits_db", evaluation=False)
