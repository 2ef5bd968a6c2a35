"""Interoperability: what the platform measures and decides, in FHIR R4 for the patient's record and the
national services (the `/fhir/` read API and the patient's export, VKP journaling, PMD sharing), and the
HelseID machine client those services require."""
