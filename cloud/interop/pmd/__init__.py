"""Sharing measurements with Pasientens måledata (PMD), Norsk helsenett's national service for sharing vital
measurements between providers: off unless the municipality configured a PMD client and the patient consented,
sent as `batch` Bundles whose per-entry answers are matched by `fullUrl`, failures retried one by one."""
