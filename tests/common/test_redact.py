"""common.redact: secrets out of text and log lines."""

from __future__ import annotations

import io
import json
import logging

from common import jsonlog
from common.redact import MASK, RedactSecrets, scrub

SECRET = "s3cr3t/with+chars=="


def test_scrub_replaces_plain_and_url_encoded_forms() -> None:
    text = f"key {SECRET} in ?token=s3cr3t%2Fwith%2Bchars%3D%3D and again {SECRET}"
    cleaned = scrub(text, [SECRET, ""])
    assert SECRET not in cleaned and "s3cr3t%2F" not in cleaned
    assert cleaned.count(MASK) == 3
    assert scrub("nothing here", [SECRET]) == "nothing here"


def test_filter_masks_message_and_exception() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(jsonlog.JsonFormatter())
    handler.addFilter(RedactSecrets([SECRET]))
    logger = logging.getLogger("test_redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"bad header {SECRET}")
        except ValueError:
            logger.exception(
                "failed with %s",
                SECRET,
                extra={"fields": {"reason": f"x {SECRET}", "nested": [{"k": SECRET}], "n": 3}},
            )
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert SECRET not in stream.getvalue()
    assert line["message"] == f"failed with {MASK}"
    assert f"bad header {MASK}" in line["exception"]
    assert line["reason"] == f"x {MASK}"
    assert line["nested"] == [{"k": MASK}]
    assert line["n"] == 3
