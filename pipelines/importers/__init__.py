"""Importers: a support or billing tool's own export, read as it comes, into the data contract.

`retention import zendesk|intercom|stripe|mapped` writes contract files (interactions.csv, accounts.csv,
mrr_history.csv) into one folder, with `<kind>_rejects.csv` listing every row or value it could not
use and `import_info.json` recording the choices (hours basis, CSAT scale, time zone) for build_info.
"""

from .reading import ImportInputError
from .report import ConversionReport
from .intercom import import_intercom
from .mapped import import_mapped, load_mapping
from .stripe import import_stripe
from .zendesk import import_zendesk

__all__ = ["ConversionReport", "ImportInputError", "import_intercom", "import_mapped", "import_stripe",
           "import_zendesk", "load_mapping"]
