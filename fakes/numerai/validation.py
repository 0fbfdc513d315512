"""Numerai's checks of an uploaded predictions CSV, as create_submission applies them."""

from __future__ import annotations

import csv
import io
import math

from fakes.numerai.graphql import GraphQLError


def validate_csv(data: bytes, live_ids: frozenset[str]) -> int:
    """Numerai's checks: columns exactly id,prediction; every live id once; values
    finite, in [0, 1], not all equal. Returns the row count."""
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8")))
        header = next(reader, None)
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise GraphQLError(f"submission is not a readable CSV: {err}") from None
    if header != ["id", "prediction"]:
        raise GraphQLError(f"submission columns must be exactly id,prediction; got {header}")
    ids: set[str] = set()
    values: list[float] = []
    for line, row in enumerate(rows, start=2):
        if len(row) != 2:
            raise GraphQLError(f"submission line {line}: expected 2 fields, got {len(row)}")
        if row[0] in ids:
            raise GraphQLError(f"submission line {line}: duplicate id {row[0]!r}")
        ids.add(row[0])
        try:
            value = float(row[1])
        except ValueError:
            raise GraphQLError(
                f"submission line {line}: prediction {row[1]!r} is not a number"
            ) from None
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise GraphQLError(f"submission line {line}: prediction {row[1]} is not in [0, 1]")
        values.append(value)
    extra = ids - live_ids
    if extra:
        raise GraphQLError(
            f"submission has {len(extra)} ids not in live data (e.g. {sorted(extra)[0]})"
        )
    missing = live_ids - ids
    if missing:
        raise GraphQLError(
            f"submission is missing {len(missing)} of {len(live_ids)} live ids "
            f"(e.g. {sorted(missing)[0]})"
        )
    if len(set(values)) < 2:
        raise GraphQLError("submission predictions are constant")
    return len(rows)
