"""`fleetgate serve` refuses a production profile it cannot honour."""

from __future__ import annotations

from click.testing import CliRunner

from fleetgate.cli import main


def test_production_without_an_external_broker_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"FLEETGATE_ENV": "production", "MQTT_URL": "", "FLEETGATE_SECRET": "s" * 40,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/fg.db"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 2
    assert "FLEETGATE_ENV=production needs MQTT_URL" in result.output
    assert not (tmp_path / "fg.db").exists()  # refused before anything was touched
