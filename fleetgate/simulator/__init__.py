"""A fleet of virtual RainMaker-style lightbulbs for exercising a running gateway.

Each virtual device is provisioned once over HTTP (an admin's registration token exchanged
for the node's id and secrets; credentials are kept in a JSON state file so the next run
reuses them), then speaks the device MQTT contract (RainMaker's topics and payloads):

- connects with username = client id = node id, a last will `{"connected": false}` on
  `node/<id>/connection` (QoS 1, retained, so it replaces the retained `{"connected": true}`);
- on every (re)connect: subscribes to `node/<id>/params/remote`, publishes
  `{"connected": true}` (retained), its config, and its full state on `params/local/init`;
- every `interval` seconds reports a drifting temperature on `params/local`;
- applies desired params from `params/remote` and echoes what it applied on `params/local`;
- performs OTA updates offered on `otaurl`: reports `in-progress` on `otastatus`, downloads
  the image (size capped at the offered filesize), checks size and md5, then reports its new
  firmware version in a fresh config and `success` — or `failed` with additional_info when
  the check fails or the download does (and at `ota_failure_rate`, to exercise failures);
- reconnects after a lost or refused connection with capped exponential backoff and full
  jitter; on stop it publishes `{"connected": false}` before disconnecting cleanly.

The core is `Simulator.run(stop_event)`; one device's life is `run_device(...)`.

The package: provisioning.py (credentials, the state file, HTTP provisioning), device.py
(one device's state and MQTT session), ota.py (OTA offers, download, checks), fleet.py
(Simulator: N devices against one gateway).
"""
