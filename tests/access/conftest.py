"""An application on a migrated database with two municipalities."""

from __future__ import annotations

from tests.support.fixtures import app_fixtures

access_db, tenants, client = app_fixtures("access_db")
