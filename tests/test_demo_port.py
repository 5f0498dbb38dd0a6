"""`recyclab demo --port N`: the certificates' verify links and QR codes point at the demo on
port N, not at the default port where nothing answers."""

from __future__ import annotations

from dataclasses import replace

from lims.demo import Demo, on_port
from lims.kernel.settings import load_settings


def test_a_demo_on_another_port_points_its_certificates_at_that_port(tmp_path, monkeypatch):
    monkeypatch.delenv("RECYCLAB_PUBLIC_URL", raising=False)
    monkeypatch.delenv("RECYCLAB_WEB_PORT", raising=False)
    settings = load_settings({"var_dir": tmp_path})
    assert settings.public_url == f"http://127.0.0.1:{settings.web_port}"
    moved = on_port(settings, 8765)
    assert moved.public_url == "http://127.0.0.1:8765"
    assert Demo(moved, 8765, 18830).child_env("mqtt://127.0.0.1:18830")["RECYCLAB_PUBLIC_URL"] == moved.public_url
    assert on_port(settings, settings.web_port) == settings
    configured = replace(settings, public_url="https://lab.example.org")
    assert on_port(configured, 8765) == configured
