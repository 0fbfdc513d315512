"""The fake Numerai at the HTTP level: error shapes, routes, faults, lifecycle, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from fakes.numerai import FakeNumerai, Faults

AUTH = {"Authorization": "Token FAKEPUBLICID$FAKESECRETKEY"}
MODEL_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
ROOT = Path(__file__).resolve().parents[2]
# How long the CLI may take to write data, import and listen (measured ~1.5 s).
CLI_START_TIMEOUT = 30


def gql(fake: FakeNumerai, query: str, variables: dict | None = None, headers=None):
    return requests.post(
        fake.url, json={"query": query, "variables": variables}, headers=headers, timeout=10
    )


def test_graphql_errors_are_http_200_with_errors_and_null_data(fake_numerai: FakeNumerai) -> None:
    resp = gql(fake_numerai, "query { leaderboard { username } }")
    assert resp.status_code == 200
    assert resp.json() == {
        "errors": [{"message": 'fake Numerai does not implement query field "leaderboard"'}],
        "data": None,
    }
    syntax = gql(fake_numerai, "query { rounds(number: 0 { number } }").json()
    assert syntax["data"] is None and "Syntax error" in syntax["errors"][0]["message"]
    bad_body = requests.post(fake_numerai.url, data=b"{not json", timeout=10)
    assert bad_body.status_code == 400


def test_aliases_and_typename_are_answered(fake_numerai: FakeNumerai) -> None:
    resp = gql(fake_numerai, "{ now: rounds(number: 0) { n: number __typename } }")
    assert resp.json() == {"data": {"now": [{"n": 842, "__typename": "Round"}]}}


def test_authentication_never_echoes_what_was_sent(fake_numerai: FakeNumerai) -> None:
    query = "query { account { username } }"
    for headers in (None, {"Authorization": "Token FAKEPUBLICID$hunter2-secret"}):
        body = gql(fake_numerai, query, headers=headers).json()
        message = body["errors"][0]["message"]
        assert "authenticated" in message
        assert "hunter2" not in message and "FAKESECRETKEY" not in message
    ok = gql(fake_numerai, query, headers=AUTH).json()
    assert ok == {"data": {"account": {"username": "fake_user"}}}


def test_5xx_fault_answers_an_html_error_page(fake_numerai: FakeNumerai) -> None:
    fake_numerai.faults.graphql_5xx(1, status=504)
    resp = gql(fake_numerai, "{ rounds(number: 0) { number } }")
    assert resp.status_code == 504
    assert resp.headers["Content-Type"] == "text/html"
    assert "504 Gateway Timeout" in resp.text
    assert gql(fake_numerai, "{ rounds(number: 0) { number } }").status_code == 200


def test_file_routes(fake_numerai: FakeNumerai, synthetic_data: Path) -> None:
    size = (synthetic_data / "live.parquet").stat().st_size
    base = f"{fake_numerai.url}/files"
    head = requests.head(f"{base}/842/v5.3/live.parquet", timeout=10)
    assert (head.status_code, int(head.headers["Content-Length"])) == (200, size)
    assert head.headers["Accept-Ranges"] == "bytes"
    beyond = requests.get(
        f"{base}/842/v5.3/live.parquet", headers={"Range": f"bytes={size}-"}, timeout=10
    )
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    for path in ("843/v5.3/live.parquet", "842/v4/live.parquet", "842/v5.3/secret.txt"):
        assert requests.get(f"{base}/{path}", timeout=10).status_code == 404, path
    assert requests.get(f"{fake_numerai.url}/nope", timeout=10).status_code == 404
    assert fake_numerai.file_gets("live.parquet") == 0  # HEAD and 416 sent no body


def test_submission_flow_over_raw_http_and_the_listing_route(
    fake_numerai: FakeNumerai, synthetic_data: Path
) -> None:
    auth = gql(
        fake_numerai,
        "query($f: String!, $m: String) { submission_upload_auth(filename: $f "
        "tournament: 8 modelId: $m) { filename url } }",
        {"f": "preds.csv", "m": MODEL_ID},
        AUTH,
    ).json()["data"]["submission_upload_auth"]
    live = pd.read_parquet(synthetic_data / "live.parquet", columns=["era"])
    csv = pd.DataFrame({"id": live.index, "prediction": np.linspace(0, 1, len(live))})
    assert requests.put(auth["url"], data=csv.to_csv(index=False), timeout=10).status_code == 200
    create = gql(
        fake_numerai,
        "mutation($f: String!, $m: String, $t: String) { create_submission(filename: $f "
        'tournament: 8 modelId: $m triggerId: $t source: "numerapi") { id } }',
        {"f": auth["filename"], "m": MODEL_ID, "t": "trig-9"},
        AUTH,
    ).json()
    submission_id = create["data"]["create_submission"]["id"]
    listing = requests.get(f"{fake_numerai.url}/_fake/submissions", timeout=10).json()
    assert [(s["id"], s["model_id"], s["trigger_id"], s["round"], s["rows"]) for s in listing] == [
        (submission_id, MODEL_ID, "trig-9", 842, len(live))
    ]
    again = gql(
        fake_numerai,
        "mutation($f: String!, $m: String) { create_submission(filename: $f tournament: 8 "
        "modelId: $m) { id } }",
        {"f": auth["filename"], "m": MODEL_ID},
        AUTH,
    ).json()
    assert "already submitted" in again["errors"][0]["message"]


def test_upload_auth_refuses_bad_names_and_put_to_unknown_url_is_404(
    fake_numerai: FakeNumerai,
) -> None:
    query = (
        "query($f: String!, $m: String) { submission_upload_auth(filename: $f tournament: 8 "
        "modelId: $m) { filename url } }"
    )
    for name in ("preds.parquet", "../x.csv"):
        body = gql(fake_numerai, query, {"f": name, "m": MODEL_ID}, AUTH).json()
        assert "filename must be a .csv" in body["errors"][0]["message"], name
    bad_model = gql(fake_numerai, query, {"f": "p.csv", "m": "not-a-uuid"}, AUTH).json()
    assert "not a valid UUID" in bad_model["errors"][0]["message"]
    put = requests.put(f"{fake_numerai.url}/uploads/{'0' * 32}", data=b"x", timeout=10)
    assert put.status_code == 404


def test_fault_arguments_are_checked() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="5xx"):
        faults.graphql_5xx(1, status=404)
    with pytest.raises(ValueError, match="fraction"):
        faults.truncate_downloads(1, fraction=1.0)
    with pytest.raises(ValueError, match="count must be >= 0"):
        faults.fail_puts(-1)
    faults.fail_puts(2, status=503)
    assert [faults.take("fail_puts") for _ in range(3)] == [503, 503, None]


def test_stop_releases_a_delayed_request_and_is_idempotent(
    synthetic_data: Path,
) -> None:
    fake = FakeNumerai(synthetic_data).start()
    fake.faults.graphql_delay(1, seconds=60)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(gql(fake, "{ rounds(number: 0) { number } }").status_code)
        except requests.RequestException as err:
            outcome.append(err)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    fake.stop()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - started < 5
    assert outcome  # answered or cut off, but not left hanging for 60 s
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fake.url}/_fake/submissions", timeout=2)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fakes.numerai", *args]


def test_cli_serves_until_sigterm_and_exits_zero(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    proc = subprocess.Popen(
        _cli(
            "--data-dir",
            str(tmp_path / "data"),
            "--live-rows",
            "50",
            "--round",
            "900",
            "--model",
            f"alpha={MODEL_ID}",
            "--url-file",
            str(url_file),
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + CLI_START_TIMEOUT
        while not url_file.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the CLI never wrote --url-file"
            time.sleep(0.05)
        url = url_file.read_text().strip()
        assert url.startswith("http://127.0.0.1:")
        rounds = requests.post(
            url, json={"query": "{ rounds(number: 0) { number } }"}, timeout=10
        ).json()
        assert rounds == {"data": {"rounds": [{"number": 900}]}}
        models = requests.post(
            url, json={"query": "{ account { models { name id } } }"}, headers=AUTH, timeout=10
        ).json()
        assert models["data"]["account"]["models"] == [{"name": "alpha", "id": MODEL_ID}]
        assert pd.read_parquet(tmp_path / "data" / "live.parquet").shape[0] == 50
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip() == url


def test_cli_rejects_a_bad_model_argument(tmp_path: Path) -> None:
    result = subprocess.run(
        _cli("--data-dir", str(tmp_path), "--model", "alpha=not-a-uuid"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_START_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert "--model alpha: 'not-a-uuid' is not a UUID" in result.stderr
    assert not list(tmp_path.iterdir())  # refused before writing any data
