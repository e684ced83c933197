"""The I-GOS paper's Tables 1-6 as data: the paper's numbers, never ours.

Qi, Khorram, Li, "Visualizing Deep Networks by Optimizing with Integrated Gradients",
AAAI 2020, arXiv:1905.00954. The plain text of the paper lost its layout. The columns
were rebuilt from the order of the values (``shared/brief/paper-tables.md``):
resolutions in descending order, each with a deletion/insertion pair, and a method with
a single pair sitting at its native resolution. ``None`` marks a cell the paper leaves
empty. Two running times in Table 3 are printed as "< 1" and are kept as that string.
Table 5 does not name its three (lambda1, lambda2) settings; they are called A, B and C
here, in order of increasing regulariser weight.

:func:`paper_table` returns a table as a :class:`pandas.DataFrame` in the paper's layout.
:func:`igos.tables.compare` puts our results beside it.
"""
from __future__ import annotations

import pandas as pd

AUC = ("deletion", "insertion")

#: Table number -> title, the column index (names and tuples), the row index name, and the rows.
TABLES: dict = {
    1: {
        "title": "Table 1: deletion / insertion AUC, ImageNet val, VGG19 (torchvision)",
        "model": "vgg19",
        "column_names": ("resolution", "metric"),
        "columns": [(r, m) for r in (224, 112, 28, 14) for m in AUC],
        "index_name": "method",
        "rows": {
            "Excitation BP": [0.2037, 0.4728, 0.2053, 0.4966, 0.2202, 0.5256, 0.2328, 0.5452],
            "Mask": [0.0482, 0.4158, 0.0728, 0.4377, 0.1056, 0.5335, 0.1753, 0.5647],
            "Grad-CAM": [None, None, None, None, None, None, 0.1527, 0.5938],
            "RISE": [0.1082, 0.5139, None, None, None, None, None, None],
            "Integrated Gradients": [0.0663, 0.2551, None, None, None, None, None, None],
            "I-GOS": [0.0336, 0.5246, 0.0609, 0.5153, 0.0899, 0.5701, 0.1213, 0.6387],
        },
    },
    2: {
        "title": "Table 2: deletion / insertion AUC, ImageNet val, ResNet50 (torchvision)",
        "model": "resnet50",
        "column_names": ("resolution", "metric"),
        "columns": [(r, m) for r in (224, 112, 28, 14, 7) for m in AUC],
        "index_name": "method",
        "rows": {
            "Mask": [0.0468, 0.4962, 0.0746, 0.5090, 0.1151, 0.5559, 0.1557, 0.5959, 0.2259, 0.6003],
            "Grad-CAM": [None] * 8 + [0.1675, 0.6521],
            "RISE": [0.1196, 0.5637] + [None] * 8,
            "Integrated Gradients": [0.0907, 0.2921] + [None] * 8,
            "I-GOS": [0.0420, 0.5846, 0.0704, 0.5943, 0.1059, 0.5986, 0.1387, 0.6387, 0.1607, 0.6632],
        },
    },
    3: {
        "title": "Table 3: mean running time per image (s), ResNet50, one GTX 1080 Ti",
        "model": "resnet50",
        "column_names": ("resolution",),
        "columns": [224, 112, 28, 14, 7],
        "index_name": "method",
        "rows": {
            "Mask": [17.03, 14.61, 14.66, 14.35, 14.24],
            "Grad-CAM": [None, None, None, None, "< 1"],
            "RISE": [61.77, None, None, None, None],
            "Integrated Gradients": ["< 1", None, None, None, None],
            "I-GOS": [6.07, 5.73, 5.70, 5.63, 5.62],
        },
        "notes": "Mask ran at most 500 iterations, I-GOS at most 15.",
    },
    4: {
        "title": "Table 4: ablation of I-GOS, deletion / insertion AUC, VGG19",
        "model": "vgg19",
        "column_names": ("resolution", "metric"),
        "columns": [(r, m) for r in (224, 28) for m in AUC],
        "index_name": "variant",
        "rows": {
            "I-GOS": [0.0336, 0.5246, 0.0899, 0.5701],
            "no TV term": [0.0308, 0.3712, 0.0841, 0.5181],
            "no noise": [0.0559, 0.4194, 0.0872, 0.5634],
            "fixed step size": [0.0393, 0.5024, 0.0906, 0.5403],
        },
    },
    5: {
        "title": "Table 5: objective after convergence at 28x28 for three (lambda1, lambda2) settings",
        "model": "vgg19",
        "column_names": ("setting", "method"),
        "columns": [(s, m) for s in "ABC" for m in ("I-GOS", "Mask")],
        "index_name": "quantity",
        "rows": {
            "total loss": [0.2241, 0.3349, 0.3739, 0.4857, 0.6098, 0.6794],
            "deletion": [0.0825, 0.1056, 0.0861, 0.1178, 0.0899, 0.1340],
            "insertion": [0.5418, 0.5335, 0.5624, 0.5307, 0.5701, 0.5207],
        },
        "notes": "Settings A < B < C in regulariser weight (not named in the text). Table 1 used "
                 "(0.01, 0.2) for Mask and (1, 20) for I-GOS.",
    },
    6: {
        "title": "Table 6: pointing game accuracy (%), VGG16 models of Zhang et al. (2016)",
        "model": "vgg16",
        "column_names": ("dataset",),
        "columns": ["MSCOCO", "VOC07"],
        "index_name": "method",
        "rows": {
            "AM (gradient)": [37.10, 76.00],
            "Deconv": [38.60, 75.50],
            "MWP": [39.50, 76.90],
            "Excitation BP (c-MWP)": [49.60, 80.00],
            "RISE": [50.71, 87.33],
            "Mask 14x14": [40.03, 79.45],
            "Mask 28x28": [43.24, 77.57],
            "I-GOS 14x14": [47.16, 85.81],
            "I-GOS 28x28": [49.62, 83.61],
        },
    },
}


def paper_table(number: int) -> pd.DataFrame:
    """The paper's Table ``number`` (1-6) in its layout; empty cells are NaN.

    ``frame.attrs`` holds the ``title``, the ``model`` and ``source="paper"``.

    Example:
        >>> float(paper_table(1).loc["I-GOS", (224, "deletion")])
        0.0336
    """
    if number not in TABLES:
        raise ValueError(f"the paper has Tables 1-6, got {number!r}")
    spec = TABLES[number]
    names = spec["column_names"]
    columns = (pd.MultiIndex.from_tuples(spec["columns"], names=names) if len(names) > 1
               else pd.Index(spec["columns"], name=names[0]))
    frame = pd.DataFrame([[float("nan") if v is None else v for v in values] for values in spec["rows"].values()],
                         index=pd.Index(list(spec["rows"]), name=spec["index_name"]), columns=columns)
    frame.attrs.update(title=spec["title"], model=spec["model"], source="paper", notes=spec.get("notes", ""))
    return frame


__all__ = ["TABLES", "paper_table"]
