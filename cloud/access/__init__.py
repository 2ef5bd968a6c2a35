"""Who may see what, and the record of who did: principals, roles, sessions, policies, audit."""
