"""Settings: flags > environment > config file, and the key only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcsched.llm.settings import SettingsError, load_settings, redact

KEY = "sk-test-4f1c9e0b7a"


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, '[llm]\nurl = "http://file:1"\nmodel = "file-m"\ndeadline = 30\n')
    env = {"HPCSCHED_CONFIG": str(path), "HPCSCHED_LLM_URL": "http://env:2"}
    s = load_settings({"model": "flag-m"}, env=env)
    assert (s.url, s.model, s.deadline) == ("http://env:2/v1", "flag-m", 30.0)
    assert s.sources["url"] == "env HPCSCHED_LLM_URL" and s.sources["model"] == "flag"
    assert s.sources["deadline"].startswith("file ")
    assert load_settings({}, env={"HPCSCHED_CONFIG": str(path)}).url == "http://file:1/v1"


def test_a_flag_of_none_counts_as_not_given(tmp_path: Path) -> None:
    s = load_settings(
        {"url": None}, env={"HPCSCHED_LLM_URL": "http://h:9/v1", "HPCSCHED_CONFIG": "/nonexistent"}
    )
    assert s.url == "http://h:9/v1"


def test_no_endpoint_anywhere_is_not_configured() -> None:
    s = load_settings({}, env={"HPCSCHED_CONFIG": "/nonexistent/config.toml"})
    assert not s.configured
    with pytest.raises(SettingsError, match="HPCSCHED_LLM_URL"):
        s.endpoint("models")


def test_urls_are_normalised_and_checked() -> None:
    env = {"HPCSCHED_CONFIG": "/nonexistent"}
    assert (
        load_settings({"url": "http://127.0.0.1:8765/"}, env=env).url == "http://127.0.0.1:8765/v1"
    )
    assert load_settings({"url": "https://api.example/v1"}, env=env).url == "https://api.example/v1"
    with pytest.raises(SettingsError, match="not an http"):
        load_settings({"url": "127.0.0.1:8765"}, env=env)


def test_the_key_comes_from_the_environment_and_never_shows(tmp_path: Path) -> None:
    env = {
        "HPCSCHED_LLM_API_KEY": KEY,
        "HPCSCHED_CONFIG": "/nonexistent",
        "HPCSCHED_LLM_URL": "http://h:1",
    }
    s = load_settings({}, env=env)
    assert s.secret() == KEY
    for text in (repr(s), str(s), str(s.public()), s.model_dump_json()):
        assert KEY not in text
    assert s.public()["api_key"] == "set"
    assert redact(f"error: bad key {KEY}!", s.secret()) == "error: bad key ***!"


def test_a_key_in_the_config_file_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path, f'[llm]\nurl = "http://h:1"\napi_key = "{KEY}"\n')
    with pytest.raises(SettingsError) as err:
        load_settings({}, env={"HPCSCHED_CONFIG": str(path)})
    assert "HPCSCHED_LLM_API_KEY" in str(err.value) and KEY not in str(err.value)


def test_file_errors_are_one_line_with_the_path(tmp_path: Path) -> None:
    bad = config(tmp_path, "[llm\nurl=")
    with pytest.raises(SettingsError, match=str(bad)):
        load_settings({}, env={"HPCSCHED_CONFIG": str(bad)})
    unknown = config(tmp_path, '[llm]\nurll = "x"\n')
    with pytest.raises(SettingsError, match="unknown key"):
        load_settings({}, env={"HPCSCHED_CONFIG": str(unknown)})
    negative = config(tmp_path, "[llm]\ndeadline = -1\n")
    with pytest.raises(SettingsError, match="deadline"):
        load_settings({}, env={"HPCSCHED_CONFIG": str(negative)})


def test_user_and_password_in_a_url_are_redacted_in_messages() -> None:
    from hpcsched.llm.settings import redact_url

    assert redact_url("http://bob:secret@h:8/v1") == "http://***@h:8/v1"
