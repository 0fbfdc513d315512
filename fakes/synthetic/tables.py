"""Arrow tables laid out like Numerai's parquet files (``id`` as the pandas index).

pyarrow and pandas are imported where they are used: pandas alone takes about half a
second to import, which a reused dataset (``write_dataset``'s stamp matches) never needs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def arrow_array(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, mask=mask)


def data_table(
    ids: list[str],
    eras: list[str],
    data_types: list[str],
    names: list[str],
    features: np.ndarray,
    missing: np.ndarray,
    targets: dict[str, np.ndarray],
    *,
    targets_null: bool,
) -> pa.Table:
    import pyarrow as pa

    columns: dict[str, pa.Array] = {
        "era": pa.array(eras, pa.string()),
        "data_type": pa.array(data_types, pa.string()),
    }
    for i, name in enumerate(names):
        columns[name] = arrow_array(features[i], missing[i] if missing[i].any() else None)
    for name, values in targets.items():
        columns[name] = pa.nulls(len(ids), pa.float32()) if targets_null else arrow_array(values)
    return indexed_table(ids, columns)


def indexed_table(ids: list[str], columns: dict[str, pa.Array]) -> pa.Table:
    """A table with ``id`` first and pandas metadata naming ``id`` as the index.

    The metadata is what pandas.to_parquet would write; we take it from an empty frame
    of the same dtypes instead of converting the data through pandas (much faster at
    full size, and int8 columns with nulls stay int8 in the file).
    """
    import pandas as pd
    import pyarrow as pa

    table = pa.table({"id": pa.array(ids, pa.string()), **columns})
    skeleton = pd.DataFrame(
        {name: pd.Series([], dtype=_pandas_dtype(col.type)) for name, col in columns.items()},
        index=pd.Index([], dtype=object, name="id"),
    )
    meta = pa.Table.from_pandas(skeleton, preserve_index=True).schema.pandas_metadata
    for column in meta["columns"]:
        if column["pandas_type"] == "empty":  # empty object columns; ours hold strings
            column["pandas_type"] = "unicode"
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def _pandas_dtype(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type):
        return "object"
    return arrow_type.to_pandas_dtype().__name__
