"""The registry: municipalities, homes, patients, devices and their assignments, supervision consents."""

from uuid import UUID

# `recorded_by`/`set_by` of changes made from the command line or by the demo, which have no staff member;
# the audit record of the same change names the operating-system user.
OPERATOR = UUID(int=0)
