"""Reference values for tests/test_change_staggered.py: csdid's ATT(g, t) on the test's reference panel.

csdid (PyPI; the Python port of R's `did`, Callaway and Sant'Anna's implementation) is not a dependency of the
project: install it apart and point this script at it, then store what it prints.

    .venv/bin/python -m pip install --target /tmp/csd csdid
    .venv/bin/python tests/reference/csdid_staggered.py /tmp/csd > tests/reference/csdid_staggered.json

The csdid directory is put at the end of the import path, so the project's own numpy and pandas (those the test
simulates the panel with) are used and csdid brings only what the project lacks.

The panel's account-months are given as repeated cross-sections (one id per account-month: a churned account
leaves, so the panel is not balanced), with the group's first month as its period of treatment (0: never), the
accounts not yet reached as the comparison, no covariates, the universal base period and the outcome regression
estimator (with no covariates, the difference of the four means).
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def main(csdid_path: str) -> dict:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    sys.path.append(csdid_path)
    from csdid.att_gt import ATTgt
    from test_change_staggered import REFERENCE_PANEL, START, staggered_panel

    settings = REFERENCE_PANEL
    panel = staggered_panel(settings["seed"], accounts=settings["accounts"], months=settings["months"],
                            dates=settings["dates"])
    stamps = pd.DatetimeIndex(panel.month_start)
    first = pd.DatetimeIndex(panel.treated_from)
    origin = START.year * 12 + START.month - 1  # periods count from 1, the panel's first month
    data = pd.DataFrame({
        "id": np.arange(len(panel)),
        "period": np.asarray(stamps.year * 12 + stamps.month) - origin,
        "first_period": np.where(first.isna(), 0, np.asarray(first.year * 12 + first.month) - origin),
        "churned": panel.churned.to_numpy(dtype=float),
    })
    names = {int(p): c for p, c in zip(data.first_period, panel.cohort) if p > 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ATTgt(yname="churned", tname="period", idname="id", gname="first_period", data=data, panel=False,
                       control_group="notyettreated").fit(est_method="reg", base_period="universal",
                                                          bstrap=False).results
    att_gt = []
    for group, period, att, se in zip(result["group"], result["year"], result["att"], result["se"]):
        month = (START + pd.DateOffset(months=int(period) - 1)).strftime("%Y-%m")
        att_gt.append({"cohort": names[int(group)], "month": month, "att": float(att),
                       "se": None if not np.isfinite(se) else float(se)})
    return {"source": f"csdid {version('csdid')}, ATTgt(panel=False, control_group='notyettreated')"
                      ".fit(est_method='reg', base_period='universal', bstrap=False)",
            "panel": settings, "att_gt": att_gt}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/csd"), indent=1))
