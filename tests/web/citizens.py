"""What the citizens' page tests share: valid national identity numbers, a patient with a local citizen account
(bound by national id, as ID-porten binds), and a relative's account."""

from __future__ import annotations

import asyncio
import random
import secrets
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from stdnum.no import fodselsnummer

from cloud.access import citizen_accounts
from cloud.access.audit import Actor
from cloud.db.pool import connect
from tests.support.db import named_rows
from tests.support.tenants import PASSWORD, TEST_PASSWORDS, Tenant, insert_patient

SEEDER = Actor.system("tests")


def national_id() -> str:
    """A fresh fødselsnummer with valid check digits (a person born 1930-1990)."""
    while True:
        born = date(1930, 1, 1) + timedelta(days=random.randrange(60 * 365))
        individual = random.randrange(0, 500)
        base = f"{born:%d%m}{born.year % 100:02d}{individual:03d}"
        first = fodselsnummer.calc_check_digit1(base)
        if len(first) == 1:
            second = fodselsnummer.calc_check_digit2(base + first)
            if len(second) == 1:
                return base + first + second


def add_account(url: str, municipality: UUID, person: str, prefix: str) -> str:
    """A local citizen account for `person` (password `PASSWORD`): its user name."""
    username = f"{prefix}.{secrets.token_hex(3)}"

    async def work() -> Any:
        async with await connect(url) as conn:
            return await citizen_accounts.add(conn, SEEDER, municipality=municipality, username=username,
                                              password=PASSWORD, person=person, passwords=TEST_PASSWORDS)  # fmt: skip

    asyncio.run(work())
    return username


def with_account(url: str, tenant: Tenant, patient: UUID) -> str:
    """A national id and a local citizen account for the tenant's `patient`: the account's user name."""
    person = national_id()
    named_rows(url, "UPDATE patients SET national_id = %s, national_id_kind = 'fnr' WHERE id = %s RETURNING id",
               person, patient)  # fmt: skip
    return add_account(url, tenant.municipality_id, person, "citizen")


def citizen_patient(url: str, tenant: Tenant, name: str) -> tuple[UUID, str]:
    """A new patient of the tenant's Nord team with a national id and a local citizen account: the patient and
    the account's user name."""
    patient = insert_patient(url, tenant.municipality_id, tenant.teams["Nord"], name)
    return patient, with_account(url, tenant, patient)
