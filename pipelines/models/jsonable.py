"""Model results as plain JSON: NaN and infinity become null, numpy scalars plain Python, dates ISO text."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd


def json_ready(value):
    """`value` with every nested number, date and container made something json.dumps writes as valid JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    return value
