"""Hypothesis profiles: ``ci`` (quick, the default) and ``thorough`` (many more examples).

Select with the environment variable NPLSTM_HYPOTHESIS_PROFILE=thorough.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("NPLSTM_HYPOTHESIS_PROFILE", "ci"))
