"""A recording ``gcloud`` stand-in: put first on PATH, it logs every call and plays a project.

Each call appends ``{"argv": [...], "stdin": "..."}`` to $FAKE_GCLOUD_LOG. The state
file $FAKE_GCLOUD_STATE (JSON) is a tiny model of a Google Cloud project that the
calls read and change: enabled APIs, repositories, buckets, service accounts, secrets
(with versions), IAM policies, Cloud Run services, canned executions and log entries.
So a second ``setup`` sees what the first created, exactly like the real thing.

Answers follow gcloud's: a describe of something missing exits 1 with
``ERROR: (gcloud.…) NOT_FOUND: …`` on stderr; ``--format=json`` prints JSON.
``state["fail"]`` maps an argv prefix (space-joined) to ``{"code", "stderr", "times"}``
to script failures. Anything this stand-in does not know exits 3, so a test notices
a command it did not expect.

Scheduling (``make schedule``): Cloud Scheduler jobs (``state["scheduler_jobs"]``, keyed
``LOCATION/NAME``; ``--message-body-from-file`` is read when the command runs, as gcloud
does), Cloud Run job IAM policies, the project number, and the Cloud Scheduler service
agent's role, granted when cloudscheduler.googleapis.com is enabled as Google does
(``state["scheduler_agent_auto_grant"] = False`` plays a project that predates that).
With $FAKE_GCLOUD_REAL set to the installed gcloud, ``logging read`` is recorded and
then run by the real gcloud (whose CLOUDSDK_* proxy settings send it to a local fake).

Tokens and the build: secret versions are numbered from 1 (``versions describe latest``,
``versions add --format=value(name)``, ``versions disable``); ``builds submit`` plays
what cloudbuild.yaml deploys — the job, and the dispatcher with its webhook-token
versions from the substitutions — so the grants and reads that follow find them;
``run services update --update-secrets/--remove-secrets`` change those references;
``logging sinks describe/update`` keep the _Default sink's exclusions.
Monitoring (``make alerts``): notification channels (``state["channels"]``) and alert
policies (``state["alert_policies"]``) as the API lists them, with server-assigned names;
a channel a policy still names cannot be deleted without --force, as on Google Cloud.
With $FAKE_GCLOUD_REAL set to the installed gcloud, ``logging read`` and ``run jobs
executions list`` are recorded and then run by the real gcloud (whose CLOUDSDK_* proxy
settings send them to a local fake).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

NOT_FOUND = 1
UNHANDLED = 3
# What `gcloud projects describe` answers when a test sets no project number.
DEFAULT_PROJECT_NUMBER = "123456789012"
SCHEDULER_API = "cloudscheduler.googleapis.com"
SCHEDULER_AGENT_ROLE = "roles/cloudscheduler.serviceAgent"


def _opts(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    positional, options = [], {}
    for arg in argv:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            options[key] = value
        else:
            positional.append(arg)
    return positional, options


def _not_found(what: str) -> int:
    print(f"ERROR: (gcloud) NOT_FOUND: {what} not found", file=sys.stderr)
    return NOT_FOUND


def _policy(state: dict, key: str) -> dict:
    return state.setdefault("policies", {}).setdefault(key, {"bindings": [], "etag": "BwX"})


def _grant(state: dict, key: str, member: str, role: str) -> dict:
    policy = _policy(state, key)
    for binding in policy["bindings"]:
        if binding["role"] == role and not binding.get("condition"):
            if member not in binding["members"]:
                binding["members"].append(member)
            break
    else:
        policy["bindings"].append({"role": role, "members": [member]})
    return policy


def _bind(state: dict, key: str, member: str, role: str) -> None:
    print(json.dumps(_grant(state, key, member, role)))


def _member_exists(state: dict, member: str) -> bool:
    if not member.startswith("serviceAccount:"):
        return True
    email = member.split(":", 1)[1]
    # Google-managed service agents (service-N@gcp-sa-*.iam.gserviceaccount.com) always exist.
    return email.split("@", 1)[-1].startswith("gcp-sa-") or email in state.get(
        "service_accounts", []
    )


def handle(argv: list[str], stdin: str, state: dict) -> int:
    pos, opt = _opts(argv)
    project = opt.get("project") or state.get("config", {}).get("project", "")
    joined = " ".join(pos)

    if pos[:2] == ["config", "get-value"]:
        print(state.get("config", {}).get(pos[2], ""))
        return 0

    if joined == "services list":
        print("\n".join(state.setdefault("apis", [])))
        return 0
    if pos[:2] == ["services", "enable"]:
        state.setdefault("apis", []).extend(a for a in pos[2:] if a not in state["apis"])
        if SCHEDULER_API in pos[2:] and state.get("scheduler_agent_auto_grant", True):
            number = state.get("project_number", DEFAULT_PROJECT_NUMBER)
            agent = f"serviceAccount:service-{number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
            _grant(state, f"projects/{project}", agent, SCHEDULER_AGENT_ROLE)
        return 0
    if pos[:2] == ["projects", "describe"]:
        print(state.get("project_number", DEFAULT_PROJECT_NUMBER))
        return 0
    if pos[:2] == ["auth", "print-access-token"]:
        print(state.get("access_token", "fake-user-access-token"))
        return 0

    # Existence of simple resources: (describe/create command prefix, state key).
    kinds = {
        ("artifacts", "repositories"): "repositories",
        ("storage", "buckets"): "buckets",
        ("iam", "service-accounts"): "service_accounts",
    }
    for prefix, key in kinds.items():
        if tuple(pos[:2]) != prefix:
            continue
        verb, name = pos[2], pos[3] if len(pos) > 3 else ""
        items = state.setdefault(key, [])
        if key == "service_accounts" and verb == "create":
            name = f"{name}@{project}.iam.gserviceaccount.com"
        if verb == "describe":
            return 0 if name in items else _not_found(name)
        if verb == "create":
            if name in items:
                print(f"ERROR: (gcloud) ALREADY_EXISTS: {name}", file=sys.stderr)
                return 1
            items.append(name)
            return 0
        if verb == "get-iam-policy":
            if name not in items:
                return _not_found(name)
            print(json.dumps(_policy(state, f"{key}/{name}")))
            return 0
        if verb == "add-iam-policy-binding":
            if not _member_exists(state, opt["member"]):
                print(f"ERROR: (gcloud) INVALID_ARGUMENT: Service account {opt['member']} "
                      "does not exist.", file=sys.stderr)
                return 1
            _bind(state, f"{key}/{name}", opt["member"], opt["role"])
            return 0

    if pos[0] == "secrets" and pos[1] == "versions" and pos[2] in ("describe", "disable"):
        return _secret_version(pos, opt, state, project)
    if pos[0] == "secrets":
        secrets = state.setdefault("secrets", {})
        if pos[1] == "describe":
            return 0 if pos[2] in secrets else _not_found(f"secret {pos[2]}")
        if pos[1] == "create":
            if opt.get("data-file") != "-":
                return UNHANDLED
            secrets[pos[2]] = [stdin]
            return 0
        if pos[1:3] == ["versions", "add"]:
            if pos[3] not in secrets or opt.get("data-file") != "-":
                return _not_found(pos[3])
            secrets[pos[3]].append(stdin)
            if opt.get("format") == "value(name)":
                print(f"projects/{project}/secrets/{pos[3]}/versions/{len(secrets[pos[3]])}")
            return 0
        if pos[1:3] == ["versions", "access"]:
            name, version = opt["secret"], pos[3]
            if name not in secrets:
                return _not_found(f"secret {name}")
            if version == "latest":
                version = str(len(secrets[name]))
            if not version.isdigit() or not 1 <= int(version) <= len(secrets[name]):
                return _not_found(f"version {version} of secret {name}")
            sys.stdout.write(secrets[name][int(version) - 1])
            return 0
        if pos[1] == "get-iam-policy":
            print(json.dumps(_policy(state, f"secrets/{pos[2]}")))
            return 0
        if pos[1] == "add-iam-policy-binding":
            _bind(state, f"secrets/{pos[2]}", opt["member"], opt["role"])
            return 0

    if pos[:2] == ["projects", "get-iam-policy"]:
        print(json.dumps(_policy(state, f"projects/{pos[2]}")))
        return 0
    if pos[:2] == ["projects", "remove-iam-policy-binding"]:
        policy = _policy(state, f"projects/{pos[2]}")
        for binding in policy["bindings"]:
            if binding["role"] == opt["role"] and opt["member"] in binding["members"]:
                binding["members"].remove(opt["member"])
                print(json.dumps(policy))
                return 0
        print("ERROR: (gcloud.projects.remove-iam-policy-binding) Policy binding with the "
              "specified principal, role, and condition not found!", file=sys.stderr)
        return 1
    if pos[:2] == ["projects", "add-iam-policy-binding"]:
        if not _member_exists(state, opt["member"]):
            print("ERROR: INVALID_ARGUMENT: member does not exist", file=sys.stderr)
            return 1
        _bind(state, f"projects/{pos[2]}", opt["member"], opt["role"])
        return 0

    if pos[:2] == ["run", "services"]:
        return _run_service(pos, opt, state)
    if pos[:2] == ["logging", "sinks"]:
        return _sink(pos, opt, state)
    if pos[:3] == ["run", "jobs", "describe"]:
        if pos[3] not in state.get("run_jobs", []):
            print(f"ERROR: (gcloud.run.jobs.describe) Cannot find job [{pos[3]}].",
                  file=sys.stderr)
            return 1
        print(pos[3])
        return 0
    if pos[:3] in (["run", "jobs", "get-iam-policy"], ["run", "jobs", "add-iam-policy-binding"]):
        if pos[3] not in state.get("run_jobs", []):
            print(f"ERROR: (gcloud.run.jobs) NOT_FOUND: Job [{pos[3]}] could not be found.",
                  file=sys.stderr)
            return 1
        if pos[2] == "get-iam-policy":
            print(json.dumps(_policy(state, f"run_jobs/{pos[3]}")))
            return 0
        if not _member_exists(state, opt["member"]):
            print(f"ERROR: (gcloud) INVALID_ARGUMENT: Service account {opt['member']} "
                  "does not exist.", file=sys.stderr)
            return 1
        _bind(state, f"run_jobs/{pos[3]}", opt["member"], opt["role"])
        return 0
    if pos[:2] == ["scheduler", "jobs"]:
        return _scheduler(pos, opt, state)
    if pos[:3] in (["alpha", "monitoring", "policies"], ["beta", "monitoring", "channels"]):
        return _monitoring(pos[2], pos[3:], opt, state, project)
    if pos[:3] == ["run", "jobs", "execute"]:
        print(f"Execution [{pos[3]}-abcde] has successfully started running.", file=sys.stderr)
        return 0
    if pos[:4] == ["run", "jobs", "executions", "list"]:
        if os.environ.get("FAKE_GCLOUD_REAL"):
            return _real(argv)
        print(json.dumps(state.get("executions", [])))
        return 0
    if pos[:4] == ["run", "jobs", "executions", "cancel"]:
        return 0
    if pos[:2] == ["logging", "read"]:
        if os.environ.get("FAKE_GCLOUD_REAL"):
            return _real(argv)
        print(json.dumps(state.get("log_entries", [])))
        return 0
    if pos[:2] == ["builds", "submit"]:
        _deploy(opt, state)
        print("DONE")
        return 0
    print(f"fake gcloud: unhandled command: {argv}", file=sys.stderr)
    return UNHANDLED


def _secret_version(pos: list[str], opt: dict[str, str], state: dict, project: str) -> int:
    """gcloud secrets versions describe latest | disable N (versions are 1, 2, …)."""
    name = opt.get("secret", "")
    versions = state.setdefault("secrets", {}).get(name)
    if versions is None:
        return _not_found(f"secret {name}")
    disabled = state.setdefault("disabled_versions", {}).setdefault(name, [])
    if pos[2] == "disable":
        if not pos[3].isdigit() or not 1 <= int(pos[3]) <= len(versions):
            return _not_found(f"version {pos[3]} of {name}")
        disabled.append(int(pos[3]))
        return 0
    print(json.dumps({"name": f"projects/{project}/secrets/{name}/versions/{len(versions)}",
                      "state": "ENABLED"}))
    return 0


def _token_env(versions: dict[str, str]) -> list[dict]:
    return [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": "numerai-webhook-token",
                                                      "key": version}}}
        for var, version in versions.items()
    ]


def _deploy(opt: dict[str, str], state: dict) -> None:
    """What cloudbuild.yaml's deploy steps leave behind, from the substitutions."""
    subs = dict(item.split("=", 1) for item in opt.get("substitutions", "").split(",") if item)
    job = subs.get("_JOB_NAME", "numerai-job")
    if job not in state.setdefault("run_jobs", []):
        state["run_jobs"].append(job)
    if subs.get("_DEPLOY_DISPATCHER", "true") != "true":
        return
    name = subs.get("_SERVICE_NAME", "numerai-dispatcher")
    versions = {"WEBHOOK_TOKEN": subs["_WEBHOOK_TOKEN_VERSION"]}
    if subs.get("_WEBHOOK_TOKEN_PREVIOUS_VERSION"):
        versions["WEBHOOK_TOKEN_PREVIOUS"] = subs["_WEBHOOK_TOKEN_PREVIOUS_VERSION"]
    service = state.setdefault("run_services", {}).setdefault(
        name, {"url": f"https://{name}-abc123-ew.a.run.app"})
    service["env"] = _token_env(versions)
    service["deploys"] = service.get("deploys", 0) + 1


def _run_service(pos: list[str], opt: dict[str, str], state: dict) -> int:
    """gcloud run services describe | update | get-iam-policy | add-iam-policy-binding."""
    verb, name = pos[2], pos[3]
    service = state.get("run_services", {}).get(name)
    if service is None:
        print(f"ERROR: (gcloud.run.services.{verb}) Cannot find service [{name}]",
              file=sys.stderr)
        return 1
    if verb == "describe":
        if opt.get("format") == "json":
            spec = {"template": {"spec": {"containers": [{"env": service.get("env", [])}]}}}
            print(json.dumps({"spec": spec, "status": {"url": service["url"]}}))
        else:
            print(service["url"])
        return 0
    if verb == "update":
        env = {v["name"]: v for v in service.get("env", [])}
        for item in filter(None, opt.get("update-secrets", "").split(",")):
            var, ref = item.split("=", 1)
            secret, version = ref.split(":", 1)
            env[var] = {"name": var,
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": version}}}
        for var in filter(None, opt.get("remove-secrets", "").split(",")):
            env.pop(var, None)
        service["env"] = list(env.values())
        return 0
    key = f"run_services/{name}"
    if verb == "get-iam-policy":
        print(json.dumps(_policy(state, key)))
        return 0
    if verb == "add-iam-policy-binding":
        _bind(state, key, opt["member"], opt["role"])
        return 0
    return UNHANDLED


def _monitoring(kind: str, pos: list[str], opt: dict[str, str], state: dict,
                project: str) -> int:
    """gcloud alpha monitoring policies / beta monitoring channels: list, create, update
    (policies), delete. Policies come from --policy-from-file (read when the command runs)."""
    items = state.setdefault("alert_policies" if kind == "policies" else "channels", [])
    verb = pos[0]
    if verb == "list":
        print(json.dumps(items))
        return 0
    if verb == "delete":
        found = [x for x in items if x["name"] == pos[1]]
        if not found:
            return _not_found(pos[1])
        users = [p for p in state.get("alert_policies", [])
                 if pos[1] in p.get("notificationChannels", [])]
        if kind == "channels" and users and "force" not in opt:
            print(f"ERROR: (gcloud.beta.monitoring.channels.delete) FAILED_PRECONDITION: "
                  f"channel {pos[1]} is referenced by alert policies", file=sys.stderr)
            return 1
        items.remove(found[0])
        return 0
    state["serial"] = state.get("serial", 0) + 1
    if kind == "channels" and verb == "create":
        labels = dict(x.split("=", 1) for x in opt.get("channel-labels", "").split(",") if x)
        user = dict(x.split("=", 1) for x in opt.get("user-labels", "").split(",") if x)
        name = f"projects/{project}/notificationChannels/{state['serial']}"
        items.append({"name": name, "type": opt.get("type"), "displayName": opt.get("display-name"),
                      "labels": labels, "userLabels": user, "enabled": True})
        print(name)
        return 0
    if kind == "policies" and verb in ("create", "update"):
        with open(opt["policy-from-file"], encoding="utf-8") as fh:
            text = fh.read()
        # Kept by path: the file is gone once the verb ends, a replay needs its content.
        state.setdefault("files_read", {})[opt["policy-from-file"]] = text
        policy = json.loads(text)
        if verb == "update":
            found = [x for x in items if x["name"] == pos[1]]
            if not found:
                return _not_found(pos[1])
            items.remove(found[0])
            policy["name"] = pos[1]
        else:
            policy["name"] = f"projects/{project}/alertPolicies/{state['serial']}"
        for i, condition in enumerate(policy.get("conditions", [])):
            condition["name"] = f"{policy['name']}/conditions/{i}"
        policy["mutationRecord"] = {"mutatedBy": "someone@example.com"}
        items.append(policy)
        print(json.dumps(policy))
        return 0
    return UNHANDLED


def _sink(pos: list[str], opt: dict[str, str], state: dict) -> int:
    """gcloud logging sinks describe | update NAME --add-exclusion=… / --update-exclusion=…"""
    sinks = state.setdefault("sinks", {"_Default": {"name": "_Default", "exclusions": []}})
    sink = sinks.get(pos[3])
    if sink is None:
        return _not_found(f"sink {pos[3]}")
    if pos[2] == "describe":
        print(json.dumps(sink))
        return 0
    if pos[2] != "update":
        return UNHANDLED
    for flag in ("add-exclusion", "update-exclusion"):
        if flag not in opt:
            continue
        name_part, _, filter_part = opt[flag].partition(",filter=")
        exclusion = {"name": name_part.removeprefix("name="), "filter": filter_part}
        kept = [e for e in sink["exclusions"] if e["name"] != exclusion["name"]]
        if flag == "add-exclusion" and len(kept) != len(sink["exclusions"]):
            print("ERROR: (gcloud.logging.sinks.update) exclusion already exists",
                  file=sys.stderr)
            return 1
        sink["exclusions"] = [*kept, exclusion]
    return 0


def _real(argv: list[str]) -> int:
    """Hand the call to the real gcloud ($FAKE_GCLOUD_REAL), which reaches a local fake."""
    proc = subprocess.run([os.environ["FAKE_GCLOUD_REAL"], *argv], capture_output=True,
                          text=True, check=False)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


def _scheduler(pos: list[str], opt: dict[str, str], state: dict) -> int:
    """gcloud scheduler jobs describe | create http | update http | delete."""
    verb = pos[2]
    name = pos[4] if verb in ("create", "update") and len(pos) > 4 else pos[3]
    if "location" not in opt:
        print("ERROR: (gcloud.scheduler.jobs) --location is required here", file=sys.stderr)
        return UNHANDLED
    key = f"{opt['location']}/{name}"
    jobs = state.setdefault("scheduler_jobs", {})
    if verb == "describe":
        if key not in jobs:
            return _not_found(f"Job [{key}]")
        print(json.dumps(jobs[key]))
        return 0
    if verb == "delete":
        if key not in jobs:
            return _not_found(f"Job [{key}]")
        del jobs[key]
        return 0
    if verb not in ("create", "update") or pos[3] != "http":
        return UNHANDLED
    if verb == "create" and key in jobs:
        print(f"ERROR: (gcloud.scheduler.jobs.create.http) ALREADY_EXISTS: Job {key} already "
              "exists.", file=sys.stderr)
        return 1
    if verb == "update" and key not in jobs:
        return _not_found(f"Job [{key}]")
    email = opt.get("oauth-service-account-email")
    if email and email not in state.get("service_accounts", []):
        print(f"ERROR: (gcloud) INVALID_ARGUMENT: Service account {email} does not exist.",
              file=sys.stderr)
        return 1
    job = jobs.setdefault(key, {})
    body_file = opt.pop("message-body-from-file", None)
    if body_file is not None:
        try:
            with open(body_file, encoding="utf-8") as fh:
                job["body"] = fh.read()
        except OSError as exc:
            print(f"ERROR: (gcloud) Unable to read file [{body_file}]: {exc}", file=sys.stderr)
            return 1
    for flag, value in opt.items():
        if flag in ("location", "project", "quiet"):
            continue
        job["headers" if flag == "update-headers" else flag] = value
    return 0


def main() -> int:
    argv = sys.argv[1:]
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    log = Path(os.environ["FAKE_GCLOUD_LOG"])
    state_path = Path(os.environ["FAKE_GCLOUD_STATE"])
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
    state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8"))
    for prefix, failure in state.get("fail", {}).items():
        if " ".join(argv).startswith(prefix) and failure.get("times", 1) > 0:
            failure["times"] = failure.get("times", 1) - 1
            state_path.write_text(json.dumps(state), encoding="utf-8")
            print(failure.get("stderr", "ERROR: scripted failure"), file=sys.stderr)
            return int(failure.get("code", 1))
    code = handle(argv, stdin, state)
    state_path.write_text(json.dumps(state), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
