"""device_profiles: the measurement vocabulary shared by the edge agent and the cloud, and the pure codecs
that turn device payloads into `Observation`s; `device_profiles.wire` is the contract of a reading between
them. No I/O, no asyncio, no radio stack."""

from device_profiles.errors import CatalogueError, DecodeError, UnitError
from device_profiles.medfloat import MedFloat, decode_float, decode_sfloat
from device_profiles.metrics import Catalogue, Metric, load_catalogue, parse_catalogue
from device_profiles.observation import Observation
from device_profiles.sig import CHARACTERISTICS, DEFAULT_ZONE, Characteristic, Decoded, decode_characteristic

__all__ = [
    "CHARACTERISTICS",
    "DEFAULT_ZONE",
    "Catalogue",
    "CatalogueError",
    "Characteristic",
    "DecodeError",
    "Decoded",
    "MedFloat",
    "Metric",
    "Observation",
    "UnitError",
    "decode_characteristic",
    "decode_float",
    "decode_sfloat",
    "load_catalogue",
    "parse_catalogue",
]
