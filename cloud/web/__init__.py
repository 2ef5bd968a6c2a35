"""The web pages: server-rendered Jinja2 templates in bokmål and English, htmx for partial updates, the
worklist's server-sent events for live updates, uPlot for charts, and a strict Content-Security-Policy (no
inline script or style). A sibling of `cloud.api`: pages call the same domain services under the same access
policies, so a page never shows or does what the API would refuse, and writes the same audit records."""
