"""FHIR R4 for the patient's record: pure mappings from stored facts to resources (codes, facts, patient,
observation, device, questionnaire, detected_issue, outcome), the reads that gather those facts (load), and the
search parameters of the `/fhir/` read API (search). Resource ids are stable: see docs/interop.md."""
