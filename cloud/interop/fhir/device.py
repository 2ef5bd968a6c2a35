"""Device: a registered device with its catalogue profile (maker, model, the IEEE 11073 device specialisation as
`type`) and the gateway it reports through as `parent`; the gateway itself is a Device typed as a personal health
gateway (MDC_MOC_VMS_MDS_AHD), as the Personal Health Device IG models it. Ids are the platform's uuids."""

from __future__ import annotations

from typing import Any

from cloud.interop.fhir import codes
from cloud.interop.fhir.facts import DeviceFacts, PatientFacts
from cloud.interop.fhir.patient import patient_reference, test_label
from device_profiles.device_catalogue import load_devices


def device_reference(device: DeviceFacts) -> dict[str, Any]:
    """A reference to the Device."""
    return {"reference": f"Device/{device.id}"}


def _mdc_type(code: int, ref: str, text: str) -> dict[str, Any]:
    return {"coding": [codes.coding(codes.MDC, str(code), ref)], "text": text}


def _profile(device: DeviceFacts) -> dict[str, Any]:
    catalogue = load_devices()
    if device.profile_id is None or device.profile_id not in catalogue:
        return {"type": {"text": device.profile_id or "unknown device"}}
    entry = catalogue[device.profile_id]
    found: dict[str, Any] = {
        "manufacturer": entry.identity.vendor,
        "modelNumber": entry.identity.model,
        "deviceName": [{"name": entry.identity.name, "type": "user-friendly-name"}],
    }
    typed = codes.DEVICE_TYPES.get(entry.family)
    found["type"] = _mdc_type(*typed, entry.identity.name) if typed else {"text": entry.identity.name}
    return found


def device_resource(device: DeviceFacts, patient: PatientFacts | None = None) -> dict[str, Any]:
    """The Device resource of a device (with its gateway as `parent`) or of a gateway; `patient` when the device
    is assigned to one."""
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": str(device.id),
        "identifier": [{"system": codes.DEVICE_ID, "value": str(device.id)}],
        "status": "active",
    }
    if device.is_gateway:
        label = device.label or "Tryggheim gateway"
        resource.update(deviceName=[{"name": label, "type": "user-friendly-name"}],
                        type=_mdc_type(*codes.GATEWAY_TYPE, "Personal health gateway"))  # fmt: skip
    else:
        resource.update(_profile(device))
        if device.serial:
            resource["serialNumber"] = device.serial
        if device.gateway_id is not None:
            resource["parent"] = {"reference": f"Device/{device.gateway_id}"}
    if patient is not None:
        resource["patient"] = patient_reference(patient)
        meta = test_label(patient)
        if meta is not None:
            resource["meta"] = meta
    return resource
