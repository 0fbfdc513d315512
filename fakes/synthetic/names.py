"""Names in the dataset: Numerai-looking feature names, the targets, ``features.json``."""

from __future__ import annotations

from typing import Any

import numpy as np

from fakes.synthetic.spec import SyntheticSpec

# Auxiliary targets: (name, extra noise on top of `target`'s latent value).
AUX_TARGETS = (
    ("target_cyrusd_20", 0.0),  # in v5, `target` is an alias of target_cyrusd_20
    ("target_cyrusd_60", 1.0),
    ("target_ender_20", 1.5),
    ("target_teager2b_20", 2.0),
)

# Word lists for realistic-looking names (Numerai's are "feature_<adj>_<noun>").
_ADJECTIVES = [
    "honoured",
    "observational",
    "unnourishing",
    "wistful",
    "ventral",
    "stelar",
    "palatial",
    "coseismic",
    "zincky",
    "frumpy",
    "unsparred",
    "cobaltic",
    "ungilded",
    "mesmeric",
    "autogenous",
    "tinned",
    "lidded",
    "glottic",
    "unreturning",
    "brackish",
    "bimanual",
    "haziest",
    "peptic",
    "gleeful",
    "coky",
    "moralistic",
    "sunstruck",
    "veritable",
    "subdermal",
    "pokey",
]
_NOUNS = [
    "balaamite",
    "haberdasher",
    "sexcentenary",
    "thermodynamics",
    "deuteron",
    "pinniped",
    "trireme",
    "cuneiform",
    "galvanometer",
    "obelus",
    "swingletree",
    "pontoon",
    "barouche",
    "marimba",
    "theodolite",
    "quahog",
    "sandhi",
    "ferrule",
    "gonfalon",
    "reliquary",
    "crannog",
    "tourbillon",
    "epergne",
    "astrolabe",
    "cromlech",
    "mangonel",
    "bollard",
    "lanyard",
]


def feature_names(spec: SyntheticSpec) -> list[str]:
    """``spec.n_all`` unique names like ``feature_wistful_trireme_17``, stable per seed."""
    rng = np.random.default_rng([spec.seed, 1])
    adjectives = rng.integers(0, len(_ADJECTIVES), spec.n_all)
    nouns = rng.integers(0, len(_NOUNS), spec.n_all)
    # The trailing index keeps names unique however many features there are.
    return [
        f"feature_{_ADJECTIVES[a]}_{_NOUNS[n]}_{i}"
        for i, (a, n) in enumerate(zip(adjectives, nouns, strict=True))
    ]


def target_names(spec: SyntheticSpec) -> list[str]:
    return ["target", *(name for name, _ in AUX_TARGETS)]


def feature_metadata(spec: SyntheticSpec) -> dict[str, Any]:
    """The content of ``features.json``: nested feature sets and the target names."""
    names = feature_names(spec)
    # Nested sets drawn from a fixed permutation, so small ⊂ medium ⊂ all but the
    # small features are not simply the first columns.
    order = np.random.default_rng([spec.seed, 2]).permutation(spec.n_all)
    ranked = [names[i] for i in order]
    return {
        "feature_sets": {
            "small": ranked[: spec.n_small],
            "medium": ranked[: spec.n_medium],
            "all": names,
        },
        "targets": target_names(spec),
    }
