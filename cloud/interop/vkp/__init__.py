"""Journaling to VKP (Velferdsteknologisk knutepunkt): when an alert or episode is resolved, its DHO document
Bundle goes to the municipality's EPJ through VKP, from an outbox that retries until it succeeds."""
