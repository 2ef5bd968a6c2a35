"""The registry: municipalities, homes, patients, devices and their assignments, supervision consents."""
