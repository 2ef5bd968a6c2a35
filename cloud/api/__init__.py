"""HTTP routers. Every route declares exactly one access policy (cloud/access/policy.py)."""
