"""Desired params are checked against the config the node reported, as esp-rainmaker firmware
sends it (esp_rmaker_node_config.c): the device and param, writable, data_type, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from domain.devices.params_rules import RULE_REASONS, check_desired, declared_params
from domain.errors import ValidationFailed

# the led_light example's config, as Espressif's spec shows it (node/<id>/config)
LED_LIGHT: dict[str, Any] = {
    "node_id": "CU9rjkCjMwwGje5BdhWnr5", "config_version": "2020-03-20",
    "info": {"name": "ESP RainMaker Device", "fw_version": "1.0", "type": "Lightbulb",
             "model": "led_light", "project_name": "led_light", "platform": "esp32c3"},
    "devices": [{"name": "Light", "type": "esp.device.lightbulb", "primary": "Power", "params": [
        {"name": "Name", "type": "esp.param.name", "data_type": "string",
         "properties": ["read", "write"]},
        {"name": "Power", "type": "esp.param.power", "data_type": "bool",
         "properties": ["read", "write"], "ui_type": "esp.ui.toggle"},
        {"name": "Brightness", "type": "esp.param.brightness", "data_type": "int",
         "properties": ["read", "write"], "bounds": {"min": 0, "max": 100, "step": 1},
         "ui_type": "esp.ui.slider"},
        {"name": "Hue", "type": "esp.param.hue", "data_type": "int",
         "properties": ["read", "write"], "bounds": {"min": 0, "max": 360, "step": 1},
         "ui_type": "esp.ui.hue-slider"}]}],
    "services": [
        {"name": "Time", "type": "esp.service.time", "params": [
            {"name": "TZ", "type": "esp.param.tz", "data_type": "string",
             "properties": ["read", "write"]}]},
        {"name": "Scenes", "type": "esp.service.scenes", "params": [
            {"name": "Scenes", "type": "esp.param.scenes", "data_type": "array",
             "properties": ["read", "write"], "bounds": {"max": 10}}]},
        {"name": "System", "type": "esp.service.system", "params": [
            {"name": "Reboot", "type": "esp.param.reboot", "data_type": "bool",
             "properties": ["read", "write"]}]},
        {"name": "Local Control", "type": "esp.service.local_control", "params": [
            {"name": "POP", "type": "esp.param.local_control_pop", "data_type": "string",
             "properties": ["read"]}]}]}

# a thermostat-like device: a float with a step, a read-only sensor, a mode drop-down,
# an object param, and a Name the firmware declared read-only
THERMOSTAT: dict[str, Any] = {
    "node_id": "T1", "config_version": "2020-03-20",
    "info": {"name": "Thermo", "fw_version": "2.0", "type": "Thermostat", "model": "t"},
    "devices": [{"name": "Thermostat", "type": "esp.device.thermostat", "params": [
        {"name": "Name", "type": "esp.param.name", "data_type": "string",
         "properties": ["read"]},
        {"name": "Setpoint", "type": "esp.param.setpoint-temperature", "data_type": "float",
         "properties": ["read", "write"], "bounds": {"min": 10.0, "max": 30.0, "step": 0.5}},
        {"name": "Temperature", "type": "esp.param.temperature", "data_type": "float",
         "properties": ["read", "time_series"]},
        {"name": "Mode", "type": "esp.param.mode", "data_type": "string",
         "properties": ["read", "write"], "valid_strs": ["Auto", "Heat", "Cool"],
         "ui_type": "esp.ui.dropdown"},
        {"name": "Schedule", "type": "custom.schedule", "data_type": "object",
         "properties": ["read", "write"]}]}]}


def refusal(config: object, params: dict[str, dict[str, Any]]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        check_desired(config, params)
    assert caught.value.reason in RULE_REASONS
    return caught.value


def test_what_the_config_declares_passes_as_given() -> None:
    params = {"Light": {"Power": True, "Brightness": 100, "Hue": 0, "Name": "Kitchen"},
              "Time": {"TZ": "Europe/Paris"}, "Scenes": {"Scenes": [{"id": "s1"}] * 10},
              "System": {"Reboot": True}}
    assert check_desired(LED_LIGHT, params) == params
    assert check_desired(THERMOSTAT, {"Thermostat": {
        "Setpoint": 21, "Mode": "Heat", "Schedule": {"on": "07:00"}}}) == \
        {"Thermostat": {"Setpoint": 21, "Mode": "Heat", "Schedule": {"on": "07:00"}}}


def test_an_undeclared_device_or_param_is_refused_by_name() -> None:
    error = refusal(LED_LIGHT, {"Lamp": {"Power": True}})
    assert error.reason == "param_unknown_device" and error.message.startswith("Lamp: ")
    error = refusal(LED_LIGHT, {"Light": {"Power": True, "Colour": "red"}})
    assert error.reason == "param_unknown" and error.message.startswith("Light.Colour: ")
    # names are matched as the firmware spells them
    assert refusal(LED_LIGHT, {"Light": {"power": True}}).reason == "param_unknown"


def test_a_read_only_param_is_refused_but_name_is_always_writable() -> None:
    error = refusal(THERMOSTAT, {"Thermostat": {"Temperature": 20.0}})
    assert error.reason == "param_not_writable"
    assert error.message.startswith("Thermostat.Temperature: read-only")
    assert refusal(LED_LIGHT, {"Local Control": {"POP": "x"}}).reason == "param_not_writable"
    # the firmware applies esp.param.name writes itself, whatever the properties say
    assert check_desired(THERMOSTAT, {"Thermostat": {"Name": "Hall"}}) == \
        {"Thermostat": {"Name": "Hall"}}


@pytest.mark.parametrize(("params", "named"), [
    ({"Light": {"Power": 1}}, "Light.Power: must be bool (data_type bool), got int"),
    ({"Light": {"Power": "true"}}, "Light.Power: must be bool (data_type bool), got string"),
    ({"Light": {"Brightness": 50.5}}, "Light.Brightness: must be int (data_type int), got float"),
    ({"Light": {"Brightness": True}}, "Light.Brightness: must be int (data_type int), got bool"),
    ({"Light": {"Brightness": None}}, "Light.Brightness: must be int (data_type int), got null"),
    ({"Light": {"Name": 5}}, "Light.Name: must be string (data_type string), got int"),
    ({"Scenes": {"Scenes": {"id": 1}}},
     "Scenes.Scenes: must be array (data_type array), got object"),
    ({"Thermostat": {"Setpoint": "21"}},
     "Thermostat.Setpoint: must be float (data_type float), got string"),
    ({"Thermostat": {"Setpoint": float("nan")}},
     "Thermostat.Setpoint: must be float (data_type float), got float"),
    ({"Thermostat": {"Schedule": []}},
     "Thermostat.Schedule: must be object (data_type object), got array"),
])
def test_a_value_of_another_data_type_is_refused(params: dict[str, dict[str, Any]],
                                                 named: str) -> None:
    config = THERMOSTAT if "Thermostat" in params else LED_LIGHT
    error = refusal(config, params)
    assert (error.reason, error.message) == ("param_wrong_type", named)


def test_an_integral_number_is_an_int_and_is_sent_as_one() -> None:
    sent = check_desired(LED_LIGHT, {"Light": {"Brightness": 40.0}})
    assert sent == {"Light": {"Brightness": 40}}
    assert type(sent["Light"]["Brightness"]) is int


@pytest.mark.parametrize(("params", "named"), [
    ({"Light": {"Brightness": 101}}, "Light.Brightness: 101 is above bounds max 100"),
    ({"Light": {"Brightness": -1}}, "Light.Brightness: -1 is below bounds min 0"),
    ({"Light": {"Hue": 361}}, "Light.Hue: 361 is above bounds max 360"),
    ({"Thermostat": {"Setpoint": 9.5}}, "Thermostat.Setpoint: 9.5 is below bounds min 10.0"),
    ({"Thermostat": {"Setpoint": 21.2}},
     "Thermostat.Setpoint: 21.2 is not on bounds step 0.5 from 10.0"),
    ({"Scenes": {"Scenes": [{}] * 11}}, "Scenes.Scenes: 11 items, more than bounds max 10"),
])
def test_a_value_out_of_bounds_is_refused(params: dict[str, dict[str, Any]], named: str) -> None:
    config = THERMOSTAT if "Thermostat" in params else LED_LIGHT
    error = refusal(config, params)
    assert (error.reason, error.message) == ("param_out_of_bounds", named)


def test_steps_count_from_min() -> None:
    config = {"devices": [{"name": "Fan", "params": [
        {"name": "Speed", "data_type": "int", "properties": ["read", "write"],
         "bounds": {"min": 1, "max": 9, "step": 2}}]}]}
    assert check_desired(config, {"Fan": {"Speed": 7}}) == {"Fan": {"Speed": 7}}
    assert refusal(config, {"Fan": {"Speed": 4}}).message == \
        "Fan.Speed: 4 is not on bounds step 2 from 1"
    assert check_desired(THERMOSTAT, {"Thermostat": {"Setpoint": 29.5}})


def test_a_string_outside_valid_strs_is_refused() -> None:
    error = refusal(THERMOSTAT, {"Thermostat": {"Mode": "Turbo"}})
    assert error.reason == "param_not_a_valid_string"
    assert error.message == \
        "Thermostat.Mode: 'Turbo' is not one of valid_strs ['Auto', 'Heat', 'Cool']"


def test_without_a_config_to_check_against_params_pass_unchecked() -> None:
    params = {"Anything": {"at": "all"}}
    for config in (None, {}, {"node_id": "n", "info": {"name": "Lamp"}}):
        assert declared_params(config) is None
        assert check_desired(config, params) == params


def test_an_empty_device_list_declares_nothing_writable() -> None:
    assert declared_params({"devices": []}) == {}
    assert refusal({"devices": []}, {"Light": {"power": True}}).reason == \
        "param_unknown_device"


def test_what_a_config_does_not_state_is_not_checked() -> None:
    # no data_type, properties or bounds: only the names are checked
    config = {"devices": [{"name": "Light", "params": [{"name": "power"}]},
                          "not a device", {"params": []}],
              "services": [{"name": "Odd", "params": [
                  {"name": "level", "data_type": "decimal", "properties": ["read", "write"],
                   "bounds": {"min": "low", "max": True}}, {"data_type": "int"}]}]}
    assert check_desired(config, {"Light": {"power": "on"}, "Odd": {"level": 1e9}}) == \
        {"Light": {"power": "on"}, "Odd": {"level": 1e9}}
    assert refusal(config, {"Light": {"level": 1}}).reason == "param_unknown"


def test_the_demo_simulators_lamp_accepts_what_the_demo_writes() -> None:
    from fleetgate.simulator.device import VirtualDevice
    from fleetgate.simulator.provisioning import DEVICE, DeviceCredentials

    lamp = VirtualDevice(credentials=DeviceCredentials(
        node_id="N1", name="Lamp 1", mqtt_password="x", secret_key="y"))
    config = lamp.config()
    assert check_desired(config, {DEVICE: {"power": True, "brightness": 75}}) == \
        {DEVICE: {"power": True, "brightness": 75}}
    assert refusal(config, {DEVICE: {"brightness": 150}}).reason == "param_out_of_bounds"
    assert refusal(config, {DEVICE: {"temperature": 30.0}}).reason == "param_not_writable"
