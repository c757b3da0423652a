"""What a node accepts as desired params: the rules its reported config declares.

The config is RainMaker's, as esp-rainmaker firmware publishes it on node/<id>/config:
`devices` and `services`, each `{"name", "type", "params": [{"name", "type", "data_type",
"properties", "bounds", "valid_strs", "ui_type"}]}`. Each rule applies where the config
states it, so a config written by other firmware is checked as far as it goes:

- a device (or service) and its param must be declared, once the config lists devices or
  services at all;
- the param's properties must hold "write", when the config lists properties; a
  `esp.param.name` param is always writable (the firmware applies Name writes itself);
- the value must have the param's data_type: bool, int (an integral number; 5.0 is sent as
  5), float (any finite number), string, object or array; another data_type is not checked;
- int and float values lie within bounds min..max and on its step (counted from min, or 0);
  an array holds at most bounds max items (firmware's array max count); a string with
  valid_strs is one of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from domain.errors import ValidationFailed

NAME_PARAM_TYPE = "esp.param.name"
STEP_TOLERANCE = 1e-6
"""How far from a step a float may fall: firmware prints floats with six decimals."""

UNKNOWN_DEVICE, UNKNOWN_PARAM = "param_unknown_device", "param_unknown"
NOT_WRITABLE, WRONG_TYPE = "param_not_writable", "param_wrong_type"
OUT_OF_BOUNDS, NOT_A_VALID_STRING = "param_out_of_bounds", "param_not_a_valid_string"
RULE_REASONS = (UNKNOWN_DEVICE, UNKNOWN_PARAM, NOT_WRITABLE, WRONG_TYPE, OUT_OF_BOUNDS,
                NOT_A_VALID_STRING)
"""The reason of each refusal: which rule the value broke."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamSpec:
    """One declared param, as far as its config entry says (None: not stated)."""

    name: str
    type: str = ""
    data_type: str | None = None
    writable: bool | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    step: int | float | None = None
    valid_strs: tuple[str, ...] | None = None


Declared = dict[str, dict[str, ParamSpec]]
"""device or service name -> param name -> its spec."""


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _spec(entry: dict[str, Any]) -> ParamSpec:
    properties, strs = entry.get("properties"), entry.get("valid_strs")
    raw_bounds = entry.get("bounds")
    bounds: dict[str, Any] = raw_bounds if isinstance(raw_bounds, dict) else {}
    step = _number(bounds.get("step"))
    return ParamSpec(
        name=entry["name"], type=_text(entry.get("type")) or "",
        data_type=_text(entry.get("data_type")),
        writable=("write" in properties) if isinstance(properties, list) else None,
        minimum=_number(bounds.get("min")), maximum=_number(bounds.get("max")),
        step=step if step is not None and step > 0 else None,
        valid_strs=tuple(s for s in strs if isinstance(s, str))
        if isinstance(strs, list) else None)


def declared_params(config: object) -> Declared | None:
    """The params a config declares, by device; None when it declares none to check against
    (no config yet, or one listing neither devices nor services)."""
    if not isinstance(config, dict):
        return None
    lists = [config.get(key) for key in ("devices", "services")]
    if not any(isinstance(entries, list) for entries in lists):
        return None
    declared: Declared = {}
    for entries in lists:
        for device in entries if isinstance(entries, list) else ():
            if not isinstance(device, dict) or not isinstance(device.get("name"), str):
                continue
            params = declared.setdefault(device["name"], {})
            for entry in device.get("params") or ():
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    params.setdefault(entry["name"], _spec(entry))
    return declared


def _refuse(where: str, rule: str, reason: str) -> ValidationFailed:
    return ValidationFailed(f"{where}: {rule}", reason=reason)


def _typed(where: str, spec: ParamSpec, value: object) -> object:
    """The value as the param's data_type holds it, or the refusal."""
    kind = spec.data_type
    number = _number(value)
    if kind == "bool" and isinstance(value, bool) \
            or kind == "string" and isinstance(value, str) \
            or kind == "object" and isinstance(value, dict) \
            or kind == "array" and isinstance(value, list) \
            or kind == "float" and number is not None \
            or kind not in ("bool", "int", "float", "string", "object", "array"):
        return value
    if kind == "int" and number is not None and float(number).is_integer():
        return int(number)
    got = "null" if value is None else {bool: "bool", int: "int", float: "float", str: "string",
                                        dict: "object", list: "array"}.get(type(value), "?")
    raise _refuse(where, f"must be {kind} (data_type {kind}), got {got}", WRONG_TYPE)


def _check_bounds(where: str, spec: ParamSpec, value: object) -> None:
    if spec.data_type == "array" and isinstance(value, list):
        if spec.maximum is not None and len(value) > spec.maximum:
            raise _refuse(where, f"{len(value)} items, more than bounds max {spec.maximum}",
                          OUT_OF_BOUNDS)
        return
    if spec.data_type == "string" and isinstance(value, str):
        if spec.valid_strs is not None and value not in spec.valid_strs:
            raise _refuse(where, f"{value!r} is not one of valid_strs {list(spec.valid_strs)}",
                          NOT_A_VALID_STRING)
        return
    number = _number(value)
    if spec.data_type not in ("int", "float") or number is None:
        return
    if spec.minimum is not None and number < spec.minimum:
        raise _refuse(where, f"{number} is below bounds min {spec.minimum}", OUT_OF_BOUNDS)
    if spec.maximum is not None and number > spec.maximum:
        raise _refuse(where, f"{number} is above bounds max {spec.maximum}", OUT_OF_BOUNDS)
    if spec.step is not None:
        base = spec.minimum if spec.minimum is not None else 0
        if isinstance(number, int) and isinstance(base, int) and isinstance(spec.step, int):
            off_step = (number - base) % spec.step != 0
        else:
            steps = (number - base) / spec.step
            off_step = abs(steps - round(steps)) > STEP_TOLERANCE
        if off_step:
            raise _refuse(where, f"{number} is not on bounds step {spec.step} from {base}",
                          OUT_OF_BOUNDS)


def check_desired(config: object, params: dict[str, dict[str, Any]]
                  ) -> dict[str, dict[str, Any]]:
    """The desired params a node with this config accepts (ints normalised), or
    ValidationFailed naming the first `<device>.<param>` that breaks a rule and the rule
    (reason: one of RULE_REASONS). Without a config to check against, params pass as given.
    """
    declared = declared_params(config)
    if declared is None:
        return params
    accepted: dict[str, dict[str, Any]] = {}
    for device, values in params.items():
        specs = declared.get(device)
        if specs is None:
            raise _refuse(device, "the node declares no device or service of that name",
                          UNKNOWN_DEVICE)
        accepted[device] = {}
        for name, value in values.items():
            where, spec = f"{device}.{name}", specs.get(name)
            if spec is None:
                raise _refuse(where, f"{device} declares no param of that name", UNKNOWN_PARAM)
            if spec.writable is False and spec.type != NAME_PARAM_TYPE:
                raise _refuse(where, 'read-only (its properties hold no "write")', NOT_WRITABLE)
            typed = _typed(where, spec, value)
            _check_bounds(where, spec, typed)
            accepted[device][name] = typed
    return accepted
