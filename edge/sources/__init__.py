"""Where observations come from. Each source hands what it decodes (or fails to decode) to a `Sink`."""
