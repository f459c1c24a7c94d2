"""Validation gates (Great Expectations) for release tables, the inventory and playbooks; results are rows.

Great Expectations is imported only where a suite is built or run (it costs seconds to import); its
analytics are switched off here, before any import of it can happen through this package.
"""

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"
