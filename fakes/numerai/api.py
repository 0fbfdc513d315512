"""The fake Numerai's GraphQL API: one resolver per root field numerapi asks for.

Each resolver takes the field's arguments and the Authorization header and returns
``(value, GraphQL type name)``; ``execute`` then keeps only the subfields the query
selects (``graphql.project``), so a field the fake lacks is an error naming it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid
from pathlib import Path
from typing import Any

from fakes.numerai.graphql import GraphQLError, arguments, parse, project
from fakes.numerai.records import Submission
from fakes.numerai.state import NumeraiState
from fakes.numerai.validation import validate_csv

log = logging.getLogger(__name__)

# Numerai Classic's tournament id (numerapi's NumerAPI sets tournament_id = 8).
CLASSIC_TOURNAMENT = 8
# The round opened this long before the fake started (rounds' openTime).
ROUND_OPEN_AGO = dt.timedelta(hours=1)
# Numerai rounds accept staked submissions for about a day after opening.
ROUND_STAKING_WINDOW = dt.timedelta(hours=25)


class GraphQLApi(NumeraiState):
    """``NumeraiState`` answering GraphQL requests (``execute``)."""

    def execute(self, payload: Any, authorization: str | None) -> dict[str, Any]:
        """Run one GraphQL request; errors become a GraphQL error response."""
        try:
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                raise GraphQLError('request body must be JSON {"query": ..., "variables": ...}')
            variables = payload.get("variables") or {}
            if not isinstance(variables, dict):
                raise GraphQLError('"variables" must be an object')
            operation = parse(payload["query"])
            data = {}
            for root in operation.selections:
                resolver = self._resolvers().get((operation.kind, root.name))
                if resolver is None:
                    raise GraphQLError(
                        f'fake Numerai does not implement {operation.kind} field "{root.name}"'
                    )
                value, type_name = resolver(arguments(root, variables), authorization)
                data[root.key] = project(value, root, type_name)
            return {"data": data}
        except GraphQLError as err:
            return {"errors": [{"message": str(err)}], "data": None}

    def _resolvers(self) -> dict[tuple[str, str], Any]:
        return {
            ("query", "rounds"): self._q_rounds,
            ("query", "listDatasets"): self._q_list_datasets,
            ("query", "dataset"): self._q_dataset,
            ("query", "account"): self._q_account,
            ("query", "model"): self._q_model,
            ("query", "submissions"): self._q_submissions,
            ("query", "submission_upload_auth"): self._q_upload_auth,
            ("query", "submissionDownloadAuth"): self._q_download_auth,
            ("mutation", "create_submission"): self._m_create_submission,
            ("mutation", "setSubmissionWebhook"): self._m_set_webhook,
        }

    def _authenticate(self, authorization: str | None) -> None:
        # Constant-time compare; the message never repeats what was sent.
        if authorization is None or not hmac.compare_digest(authorization.encode(), self._token):
            raise GraphQLError(
                "You must be authenticated to perform this action: missing or invalid "
                "API token (Authorization: Token PUBLIC_ID$SECRET_KEY)"
            )

    def _model(self, model_id: Any) -> tuple[str, str]:
        """(id, name) of a model this account may use.

        With no models registered, any UUID is accepted (named by its id), so tests
        that do not care about accounts need not register one.
        """
        if not model_id:
            raise GraphQLError("modelId is required")
        model_id = str(model_id).lower()
        for name, mid in self.models.items():
            if mid == model_id:
                return mid, name
        if self.models:
            raise GraphQLError(f"model {model_id} does not belong to this account")
        try:
            uuid.UUID(model_id)
        except ValueError:
            raise GraphQLError(f"modelId {model_id!r} is not a valid UUID") from None
        return model_id, model_id

    def _round_info(self, number: int) -> dict[str, Any]:
        opened = (
            self.started_at - ROUND_OPEN_AGO - (self.current_round - number) * dt.timedelta(days=1)
        )
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-numerai/round/{number}")),
            "number": number,
            "tournament": CLASSIC_TOURNAMENT,
            "openTime": _iso(opened),
            "closeStakingTime": _iso(opened + ROUND_STAKING_WINDOW),
            "closeTime": _iso(opened + ROUND_STAKING_WINDOW),
            "resolveTime": _iso(opened + dt.timedelta(days=30)),
            "scoreTime": _iso(opened + dt.timedelta(days=3)),
            "resolvedGeneral": number < self.current_round - 30,
            "resolvedStaking": number < self.current_round - 30,
            "dataDatestamp": int(opened.strftime("%Y%m%d")),
        }

    def _round_arg(self, value: Any) -> int:
        """A round argument: null/0 → current; a future round is an error."""
        if value in (None, 0):
            return self.current_round
        if not isinstance(value, int) or value < 0:
            raise GraphQLError(f"round must be a round number, got {value!r}")
        if value > self.current_round:
            raise GraphQLError(f"round {value} has not opened yet (current: {self.current_round})")
        return value

    def _q_rounds(self, args: dict[str, Any], _auth: str | None) -> tuple[Any, str]:
        number = args.get("number")
        if number is None:
            numbers = range(self.current_round, 0, -1)
            limit = args.get("limit")
            return [self._round_info(n) for n in numbers[: limit or None]], "Round"
        return [self._round_info(self._round_arg(number))], "Round"

    def _q_list_datasets(self, args: dict[str, Any], _auth: str | None) -> tuple[Any, str]:
        self._round_arg(args.get("round"))
        return self.dataset_names(), "String"

    def _q_dataset(self, args: dict[str, Any], _auth: str | None) -> tuple[Any, str]:
        filename = args.get("filename")
        round_number = self._round_arg(args.get("round"))
        if filename not in self.dataset_names():
            raise GraphQLError(
                f"dataset {filename!r} not found; available: {', '.join(self.dataset_names())}"
            )
        return f"{self.url}/files/{round_number}/{filename}", "String"

    def _submission_view(self, sub: Submission) -> dict[str, Any]:
        latest = [
            s for s in self._submissions if s.model_id == sub.model_id and s.round == sub.round
        ]
        view = {
            "id": sub.id,
            "filename": sub.filename,
            "insertedAt": sub.inserted_at,
            "triggerId": sub.trigger_id,
            "modelId": sub.model_id,
            "selected": latest[-1].id == sub.id,  # the latest of a round counts
            "round": {"number": sub.round, "tournament": CLASSIC_TOURNAMENT},
        }
        if not self.expose_trigger_ids:
            del view["triggerId"]
        return view

    def _model_view(self, model_id: str, name: str) -> dict[str, Any]:
        with self._lock:
            subs = [self._submission_view(s) for s in self._submissions if s.model_id == model_id]
        return {
            "id": model_id,
            "name": name,
            "displayName": name,
            "tournament": CLASSIC_TOURNAMENT,
            "submissions": subs,
            "submissionWebhook": self.webhooks.get(model_id),
            "v2Stake": {"status": None, "txHash": None},
        }

    def _q_account(self, _args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        public_id = self._token.decode().removeprefix("Token ").split("$", 1)[0]
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-numerai/account")),
            "username": "fake_user",
            "email": "fake_user@example.com",
            "walletAddress": None,
            "availableNmr": "0.0",
            "mfaEnabled": False,
            "status": "VERIFIED",
            "insertedAt": "2020-01-01T00:00:00Z",
            "models": [self._model_view(mid, name) for name, mid in self.models.items()],
            "apiTokens": [
                {
                    "name": "fake",
                    "public_id": public_id,
                    "scopes": ["upload_submission", "read_submission_info"],
                }
            ],
        }, "User"

    def _q_model(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        return self._model_view(*self._model(args.get("modelId"))), "Model"

    def _q_submissions(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        with self._lock:
            return [
                self._submission_view(s) for s in self._submissions if s.model_id == model_id
            ], "Submission"

    def _q_upload_auth(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        name = args.get("filename")
        if not isinstance(name, str) or not name.endswith(".csv") or "/" in name:
            raise GraphQLError(f"filename must be a .csv file name, got {name!r}")
        token = uuid.uuid4().hex
        filename = f"{uuid.uuid4()}/{name}"
        with self._lock:
            self._uploads[token] = {"filename": filename, "model_id": model_id, "data": None}
        return {"filename": filename, "url": f"{self.url}/uploads/{token}"}, "UploadAuth"

    def _q_download_auth(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        sub = self._find_submission(args.get("id"))
        return {
            "filename": Path(sub.filename).name,
            "url": f"{self.url}/submissions/{sub.id}",
        }, "DownloadAuth"

    def _m_set_webhook(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        webhook = args.get("newSubmissionWebhook")
        with self._lock:
            if webhook:
                self.webhooks[model_id] = webhook
            else:
                self.webhooks.pop(model_id, None)
        return "true", "String"  # numerapi compares with the string "true"

    def _m_create_submission(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        filename = args.get("filename")
        with self._lock:
            upload = next((u for u in self._uploads.values() if u["filename"] == filename), None)
        if upload is None or upload["data"] is None:
            raise GraphQLError(
                f"no uploaded file {filename!r}: PUT it to the URL from "
                f"submission_upload_auth first"
            )
        if upload["model_id"] != model_id:
            raise GraphQLError(f"upload {filename!r} was authorised for another model")
        if upload.get("submitted"):
            raise GraphQLError(f"upload {filename!r} was already submitted")
        message = self.faults.take("create_submission_error")
        if message is not None:
            raise GraphQLError(message)
        rows = validate_csv(upload["data"], self._live_ids)
        sub = Submission(
            id=str(uuid.uuid4()),
            model_id=model_id,
            trigger_id=args.get("triggerId"),
            round=self.current_round,
            filename=filename,
            csv=upload["data"],
            rows=rows,
            inserted_at=_iso(dt.datetime.now(dt.UTC)),
        )
        with self._lock:
            upload["submitted"] = True
            self._submissions.append(sub)
        log.info(
            "submission %s model=%s trigger=%s rows=%d", sub.id, model_id, sub.trigger_id, rows
        )
        return {"id": sub.id}, "Submission"


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
