"""labtorch_cache_url: every download a host makes goes through the room cache (and only when
the cache answers, or the site opted into falling back to upstream)."""

from __future__ import annotations

import pytest

from labtorch.cache.urls import plan_through_cache, through_cache, upstream_of
from labtorch.errors import LabtorchError
from labtorch.roles import channels, conda
from labtorch.roles.settings import Settings
from tests.unit.test_roles_provision import PLAN, SHA, changes, run

CACHE = "http://10.0.0.5:3141"
UP = {"labtorch-cache-ok": ["labtorch-cache: yes"]}
DOWN = {"labtorch-cache-ok": ["labtorch-cache: no"]}


def test_an_upstream_url_keeps_its_whole_path_under_the_cache():
    url = through_cache("https://pypi.tuna.tsinghua.edu.cn/simple", CACHE + "/")
    assert url == f"{CACHE}/h/pypi.tuna.tsinghua.edu.cn/simple"
    assert upstream_of(url[len(CACHE):]) == ("pypi.tuna.tsinghua.edu.cn", "/simple")


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError, match="not an http"):
        through_cache("file:///srv/wheels", CACHE)


def test_the_plan_keeps_its_pins_and_fetches_every_index_through_the_cache():
    cached = plan_through_cache(PLAN, CACHE)
    assert cached.index_url == f"{CACHE}/h/download.pytorch.org/whl/cu118"
    assert cached.install[0][:3] == PLAN.install[0][:3]
    assert cached.install[0][cached.install[0].index("--index-url") + 1] == cached.index_url
    assert (cached.torch, cached.variant, cached.python) == (PLAN.torch, PLAN.variant, PLAN.python)


def test_cache_url_routes_installer_pip_index_and_conda_channels_with_the_same_checksum():
    settings = Settings.from_data({"labtorch_cache_url": CACHE, "labtorch_mirror": "tuna"})
    installer = settings.installer("x86_64")
    assert installer.url.startswith(f"{CACHE}/h/mirrors.tuna.tsinghua.edu.cn/github-release/")
    assert installer.sha256 == SHA
    assert channels.pypi_index_url(settings) == f"{CACHE}/h/pypi.tuna.tsinghua.edu.cn/simple"
    assert f"conda-forge: {CACHE}/h/mirrors.tuna.tsinghua.edu.cn/anaconda/cloud" in (
        channels.render_condarc(settings)
    )


def test_official_conda_channels_go_through_the_cache_too():
    settings = Settings.from_data({"labtorch_cache_url": CACHE})
    assert channels.conda_channel_url(settings) == f"{CACHE}/h/conda.anaconda.org"


def test_a_cache_url_that_is_not_a_url_is_refused_naming_the_setting():
    with pytest.raises(LabtorchError, match="labtorch_cache_url"):
        Settings.from_data({"labtorch_cache_url": "10.0.0.5:3141"}, host="pc01")


def test_host_that_reaches_the_cache_downloads_the_installer_from_it():
    commands, failed = run(conda.conda, UP, {"labtorch_cache_url": CACHE})
    done = changes(commands)
    assert not failed
    assert any(f"{CACHE}/h/github.com/conda-forge/miniforge/releases/download/" in c for c in done)
    assert any(SHA in c and "sha256sum" in c for c in done)


def test_host_that_cannot_reach_the_cache_is_refused_naming_the_host_and_the_fix():
    # deploy.py turns this error into a refusal of this host only (the room goes on)
    with pytest.raises(LabtorchError, match=r"pc01: the room cache http://10\.0\.0\.5:3141 "
                       r"does not answer.*labtorch cache serve.*labtorch_cache_fallback"):
        run(conda.conda, DOWN, {"labtorch_cache_url": CACHE})


def test_host_falls_back_to_upstream_only_when_the_site_opted_in():
    data = {"labtorch_cache_url": CACHE, "labtorch_cache_fallback": True}
    commands, failed = run(conda.conda, DOWN, data)
    done = changes(commands)
    assert not failed
    assert any("https://github.com/conda-forge/miniforge/releases/download/" in c for c in done)
    assert not any(CACHE in c for c in done)


def test_pip_is_told_to_trust_a_plain_http_cache_on_the_lan_and_only_the_cache():
    cached = plan_through_cache(PLAN, CACHE)
    assert cached.install[0][-2:] == ("--trusted-host", "10.0.0.5")
    settings = Settings.from_data({"labtorch_cache_url": CACHE})
    conf = channels.render_pip_conf(settings, cached.index_url)
    assert "trusted-host = 10.0.0.5\n" in conf
    assert "trusted-host" not in channels.render_pip_conf(Settings.from_data({}), PLAN.index_url)
    https = plan_through_cache(PLAN, "https://cache.lab.example")
    assert "--trusted-host" not in https.install[0]


def test_status_and_stop_of_a_cache_never_served_here_say_so(tmp_path):
    from click.testing import CliRunner

    from labtorch.cli import main

    status = CliRunner().invoke(main, ["cache", "status", "--state-dir", str(tmp_path)])
    stop = CliRunner().invoke(main, ["cache", "stop", "--state-dir", str(tmp_path)])
    assert status.exit_code == 0 and "(never served here): stopped" in status.output
    assert stop.exit_code == 0 and "no room cache running" in stop.output
