"""The gateway agent: sources -> durable outbox -> uplink to the cloud. One asyncio process per gateway."""

__version__ = "0.1.0"
