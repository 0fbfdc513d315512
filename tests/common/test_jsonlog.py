"""The shared log formatter: Cloud Logging's keys, labels as strings, format choice."""

from __future__ import annotations

import io
import json
import logging

import pytest

from common.jsonlog import LABELS_KEY, SOURCE_KEY, choose_format, configure


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_line_has_cloud_logging_keys(restore_root_logging) -> None:
    stream = io.StringIO()
    configure("json", stream=stream)
    logging.getLogger("t").warning(
        "hello %s",
        "world",
        extra={"labels": {"model_id": "m", "round": 842, "none": None}, "fields": {"rows": 3}},
    )
    line = json.loads(stream.getvalue())
    assert line["severity"] == "WARNING"
    assert line["message"] == "hello world"
    assert line[LABELS_KEY] == {"model_id": "m", "round": "842"}  # strings; None dropped
    assert line["rows"] == 3
    assert line[SOURCE_KEY]["function"] == "test_json_line_has_cloud_logging_keys"


def test_exception_is_in_the_json_line(restore_root_logging) -> None:
    stream = io.StringIO()
    configure("json", stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("t").exception("failed")
    line = json.loads(stream.getvalue())
    assert line["severity"] == "ERROR"
    assert "RuntimeError: boom" in line["exception"]


def test_text_format_is_one_readable_line(restore_root_logging) -> None:
    stream = io.StringIO()
    configure("text", stream=stream)
    logging.getLogger("t").info("done", extra={"fields": {"seconds": 1.23456, "d": {"a": 1}}})
    out = stream.getvalue()
    assert "INFO" in out and "done" in out and "seconds=1.23" in out and 'd={"a":1}' in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_choose_format() -> None:
    assert choose_format(None, io.StringIO()) == "json"
    assert choose_format(None, _Tty()) == "text"
    assert choose_format("TEXT", io.StringIO()) == "text"
    assert choose_format("json", _Tty()) == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of json, text"):
        choose_format("xml", io.StringIO())
