"""`make alerts` / `make alerts-off` against the recording gcloud (a project it models).

The commands, the policies' JSON (filters, label extractors, rate limit, channels), a
second run that changes nothing, a changed EMAIL, a policy edited by hand, alerts-off
removing exactly what alerts made, DRY_RUN running nothing, bad EMAIL. The real gcloud
parses the same commands in test_alerts_real_gcloud.py; the filters are evaluated on a
real job's log entries in tests/report/test_alert_filters.py.
"""

from __future__ import annotations

import json

import pytest

from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, write_registry

EMAIL = "me@example.com"
POLICIES = ["alpha", "monitoring", "policies"]
CHANNELS = ["beta", "monitoring", "channels"]
SYSTEM_EVENT = f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Fsystem_event"
SYSTEM_LOG = f"projects/{PROJECT}/logs/run.googleapis.com%2Fvarlog%2Fsystem"


def _alerts(gcloud: FakeGcloud, verb: str = "alerts", **env: str):
    return gcloud.ops(verb, PROJECT=PROJECT, REGION=REGION, **env)


def _changes(gcloud: FakeGcloud) -> list[list[str]]:
    verbs = ("create", "update", "delete", "enable")
    return [a for a in gcloud.argvs() if any(v in a[:5] for v in verbs)]


def _policies(gcloud: FakeGcloud) -> dict[str, dict]:
    return {p["userLabels"]["numerai-cloudrun"]: p for p in gcloud.load()["alert_policies"]}


def test_first_run_makes_a_channel_and_two_policies(gcloud: FakeGcloud) -> None:
    run = _alerts(gcloud, EMAIL=EMAIL)
    assert run.code == 0, run.output
    changes = _changes(gcloud)
    assert changes[0] == ["services", "enable", "monitoring.googleapis.com", f"--project={PROJECT}"]
    assert changes[1] == [*CHANNELS, "create", f"--project={PROJECT}",
                          f"--display-name=numerai-cloudrun: {EMAIL}",
                          "--description=Alerts of numerai-cloudrun (make alerts)", "--type=email",
                          f"--channel-labels=email_address={EMAIL}",
                          "--user-labels=numerai-cloudrun=email", "--format=value(name)"]
    assert [a[:4] for a in changes[2:]] == [[*POLICIES, "create"]] * 2
    (channel,) = gcloud.load()["channels"]
    policies = _policies(gcloud)
    model, execution = policies["model-failed"], policies["execution-failed"]
    assert model["displayName"] == "numerai-cloudrun: a model failed"
    assert model["conditions"][0]["conditionMatchedLog"] == {
        "filter": 'resource.type="cloud_run_job" AND (resource.labels.job_name="numerai-job") '
                  'AND jsonPayload.event="failed"',
        "labelExtractors": {"model": "EXTRACT(labels.model_name)",
                            "round": "EXTRACT(labels.round)",
                            "execution": "EXTRACT(labels.execution)",
                            "reason": "EXTRACT(jsonPayload.reason)"},
    }
    assert execution["conditions"][0]["conditionMatchedLog"] == {
        "filter": 'resource.type="cloud_run_job" AND (resource.labels.job_name="numerai-job") '
                  f'AND (logName="{SYSTEM_EVENT}" OR logName="{SYSTEM_LOG}") AND severity>=ERROR',
        "labelExtractors": {"job": "EXTRACT(resource.labels.job_name)",
                            "message": "EXTRACT(protoPayload.status.message)",
                            "text": "EXTRACT(textPayload)"},
    }
    for policy in (model, execution):
        assert policy["notificationChannels"] == [channel["name"]]
        assert policy["alertStrategy"]["notificationRateLimit"] == {"period": "300s"}
        assert policy["combiner"] == "OR" and len(policy["conditions"]) == 1
        assert policy["enabled"] is True
    # The model and the reason reach the mail: subject and text use the extracted labels.
    assert model["documentation"]["subject"] == (
        "numerai-cloudrun: model ${log.extracted_label.model} failed in round "
        "${log.extracted_label.round}")
    assert "Reason: ${log.extracted_label.reason}" in model["documentation"]["content"]
    assert ("Cloud Run: ${log.extracted_label.message}${log.extracted_label.text}"
            in execution["documentation"]["content"])
    assert f"e-mail channel for {EMAIL}: created" in run.stdout
    assert "alert policy 'numerai-cloudrun: a model failed': created" in run.stdout
    assert "mails me@example.com" in run.stdout
    # The policy file is shown before it is sent.
    assert '"conditionMatchedLog"' in run.stderr


def test_second_run_changes_nothing(gcloud: FakeGcloud) -> None:
    assert _alerts(gcloud, EMAIL=EMAIL).code == 0
    before = gcloud.load()
    gcloud.clear()
    run = _alerts(gcloud, EMAIL=EMAIL)
    assert run.code == 0, run.output
    assert _changes(gcloud) == []
    assert gcloud.load()["alert_policies"] == before["alert_policies"]
    assert f"e-mail channel for {EMAIL}: unchanged" in run.stdout
    assert run.stdout.count(": unchanged") == 3


def test_a_new_address_replaces_the_old_one(gcloud: FakeGcloud) -> None:
    assert _alerts(gcloud, EMAIL=EMAIL).code == 0
    (old,) = gcloud.load()["channels"]
    gcloud.clear()
    run = _alerts(gcloud, EMAIL="other@example.com, third@example.org")
    assert run.code == 0, run.output
    channels = gcloud.load()["channels"]
    assert sorted(c["labels"]["email_address"] for c in channels) == [
        "other@example.com", "third@example.org"]
    for policy in _policies(gcloud).values():
        assert policy["notificationChannels"] == sorted(c["name"] for c in channels)
    updates = [a for a in gcloud.argvs() if a[:4] == [*POLICIES, "update"]]
    assert len(updates) == 2
    # The old channel goes only after no policy names it.
    delete = [*CHANNELS, "delete", old["name"], f"--project={PROJECT}", "--quiet"]
    assert gcloud.argvs().index(delete) > gcloud.argvs().index(updates[-1])
    assert f"e-mail channel for {EMAIL}: deleted (not in EMAIL)" in run.stdout


def test_a_policy_edited_by_hand_is_put_back(gcloud: FakeGcloud) -> None:
    assert _alerts(gcloud, EMAIL=EMAIL).code == 0
    state = gcloud.load()
    state["alert_policies"][0]["conditions"][0]["conditionMatchedLog"]["filter"] = "edited"
    state["alert_policies"][0]["alertStrategy"]["notificationRateLimit"]["period"] = "3600s"
    gcloud.save(state)
    gcloud.clear()
    run = _alerts(gcloud, EMAIL=EMAIL)
    assert run.code == 0, run.output
    (update,) = [a for a in gcloud.argvs() if a[:4] == [*POLICIES, "update"]]
    assert update[4] == state["alert_policies"][0]["name"]
    assert "edited" not in json.dumps(gcloud.load()["alert_policies"])
    assert run.stdout.count(": updated") == 1


def test_every_job_of_the_registry_is_covered(gcloud: FakeGcloud, tmp_path) -> None:
    registry = write_registry(tmp_path / "models.toml", {
        "alpha": {"id": "11111111-1111-4111-8111-111111111111", "predictor": "pred1"},
        "big": {"id": "22222222-2222-4222-8222-222222222222", "predictor": "pred1",
                "job": "numerai-job-big"},
    })
    run = _alerts(gcloud, EMAIL=EMAIL, NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 0, run.output
    for policy in _policies(gcloud).values():
        assert ('(resource.labels.job_name="numerai-job" OR '
                'resource.labels.job_name="numerai-job-big")'
                in policy["conditions"][0]["conditionMatchedLog"]["filter"])


def test_alerts_off_removes_exactly_what_alerts_made(gcloud: FakeGcloud) -> None:
    theirs_channel = {"name": f"projects/{PROJECT}/notificationChannels/900", "type": "email",
                      "labels": {"email_address": EMAIL}, "userLabels": {"team": "x"}}
    theirs_policy = {"name": f"projects/{PROJECT}/alertPolicies/901", "displayName": "theirs",
                     "userLabels": {"numerai-cloudrun": "something-else"},
                     "notificationChannels": [theirs_channel["name"]]}
    gcloud.update(channels=[theirs_channel], alert_policies=[theirs_policy])
    assert _alerts(gcloud, EMAIL=EMAIL).code == 0
    assert len(gcloud.load()["alert_policies"]) == 3
    gcloud.clear()
    run = _alerts(gcloud, "alerts-off")
    assert run.code == 0, run.output
    state = gcloud.load()
    assert state["alert_policies"] == [theirs_policy]
    assert state["channels"] == [theirs_channel]
    deletes = [a for a in gcloud.argvs() if "delete" in a]
    assert [a[:3] for a in deletes] == [POLICIES, POLICIES, CHANNELS]
    assert "deleted alert policy 'numerai-cloudrun: a model failed'" in run.stdout
    assert f"deleted e-mail channel for {EMAIL}" in run.stdout
    gcloud.clear()
    again = _alerts(gcloud, "alerts-off")
    assert again.code == 0
    assert [a for a in gcloud.argvs() if "delete" in a] == []
    assert f"no alerts of numerai-cloudrun in {PROJECT}: nothing to delete" in again.stdout


@pytest.mark.parametrize("verb", ["alerts", "alerts-off"])
def test_dry_run_runs_nothing(gcloud: FakeGcloud, verb: str) -> None:
    run = _alerts(gcloud, verb, EMAIL=EMAIL, DRY_RUN="1")
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert f"[dry run] gcloud {' '.join(POLICIES)} list --project={PROJECT} --format=json" \
        in run.stderr
    assert "dry run: nothing was" in run.stdout
    if verb == "alerts":
        assert "[dry run] gcloud alpha monitoring policies create" in run.stderr
        assert "<new channel for me@example.com>" in run.stderr  # in the policy file shown


@pytest.mark.parametrize(
    ("email", "named"),
    [
        ("", "EMAIL is not set: pass EMAIL=you@example.com"),
        ("not-an-address", "EMAIL: 'not-an-address' is not an e-mail address"),
        ("me@example.com,Bob <bob@example.com>", "EMAIL: 'Bob <bob@example.com>' is not"),
    ],
)
def test_bad_email_is_exit_2_before_any_command(gcloud: FakeGcloud, email: str, named: str) -> None:
    run = _alerts(gcloud, EMAIL=email)
    assert run.code == 2, run.output
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {named}")
    assert gcloud.calls() == []


def test_a_refused_command_is_exit_1_naming_it(gcloud: FakeGcloud) -> None:
    gcloud.update(fail={"alpha monitoring policies list": {
        "stderr": "ERROR: (gcloud.alpha.monitoring.policies.list) PERMISSION_DENIED: "
                  "Permission monitoring.alertPolicies.list denied"}})
    run = _alerts(gcloud, EMAIL=EMAIL)
    assert run.code == 1, run.output
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: `gcloud alpha monitoring policies list` failed: ")
    assert "PERMISSION_DENIED" in last


def test_make_alerts_and_alerts_off(gcloud: FakeGcloud) -> None:
    run = gcloud.make("alerts", PROJECT=PROJECT, REGION=REGION, EMAIL=EMAIL)
    assert run.code == 0, run.output
    assert len(gcloud.load()["alert_policies"]) == 2
    run = gcloud.make("alerts-off", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 0, run.output
    assert gcloud.load()["alert_policies"] == [] and gcloud.load()["channels"] == []


def test_a_second_copy_of_a_policy_is_deleted(gcloud: FakeGcloud) -> None:
    assert _alerts(gcloud, EMAIL=EMAIL).code == 0
    state = gcloud.load()
    copy = json.loads(json.dumps(_policies(gcloud)["model-failed"]))
    copy["name"] = f"projects/{PROJECT}/alertPolicies/copy"
    state["alert_policies"].append(copy)
    gcloud.save(state)
    gcloud.clear()
    run = _alerts(gcloud, EMAIL=EMAIL)
    assert run.code == 0, run.output
    assert _changes(gcloud) == [[*POLICIES, "delete", copy["name"], f"--project={PROJECT}",
                                 "--quiet"]]
    assert len(gcloud.load()["alert_policies"]) == 2
