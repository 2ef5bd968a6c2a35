"""The gateway agent: sources -> durable outbox -> uplink to the cloud. One asyncio process per gateway."""
