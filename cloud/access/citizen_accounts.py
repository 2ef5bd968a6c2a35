"""Local citizen accounts: a user name and password standing in for ID-porten where it is not at hand (the
demo, the tests, a trial without ID-porten). An account names a person by national id, exactly as ID-porten's
`pid` does, and never a record: at sign-in and on every request the national id is resolved as an ID-porten
sign-in is (`authn.citizen_of`: the person's patient record, else their invitations as a relative), so
replacing the account by ID-porten changes nothing else. Signing in with one goes through the local sign-in
form, which production refuses with every local account (`auth_mode=local` is refused in production).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from cloud.access import audit
from cloud.access.directory import DirectoryError
from cloud.access.secrets import PasswordPool, hash_password


async def add(
    conn: AsyncConnection[Any], actor: audit.Actor, *, municipality: UUID, username: str, password: str, person: str,
    passwords: PasswordPool | None = None,
) -> UUID:  # fmt: skip
    """Create a local citizen account for the person with national id `person` (checked by the caller), in the
    municipality whose audit chain records it (`citizen_account.create`, never the national id). With
    `passwords` the password is hashed off the event loop, with the pool's parameters."""
    username = username.strip().lower()
    if not username or not password:
        raise DirectoryError("a citizen account needs a user name and a password")
    password_hash = await passwords.hash(password) if passwords else hash_password(password)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT 1 FROM staff WHERE username = %s", (username,))
        if await cur.fetchone():
            raise DirectoryError(f"the user name {username!r} is taken")
        try:
            async with conn.transaction():
                await cur.execute(
                    "INSERT INTO citizen_accounts (municipality_id, username, password_hash, national_id) "
                    "VALUES (%s, %s, %s, %s) RETURNING id",
                    (municipality, username, password_hash, person),
                )
        except errors.UniqueViolation:
            raise DirectoryError("the user name is taken, or this person has a citizen account already") from None
        row = await cur.fetchone()
        assert row is not None
        account = UUID(str(row["id"]))
        record = actor.record(
            "citizen_account.create", f"citizen_account/{account} username={username}", municipality_id=municipality
        )
        await audit.append(conn, record)
    return account
