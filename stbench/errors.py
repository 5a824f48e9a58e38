"""User-facing errors.

Every error a user can cause (bad input, missing data, unknown names) is raised as a
:class:`StbenchError` whose message is one clear sentence; the CLI prints it without a
traceback and exits non-zero.
"""


class StbenchError(Exception):
    """An error with a one-sentence message meant for the user."""


class ExpressionHiddenError(StbenchError):
    """A non-oracle predictor tried to read the expression of held-out spots."""


class CohortNotPreparedError(StbenchError):
    """A command that only reads prepared data found the cohort not prepared under the data root;
    the message names the ``stbench data prepare`` command to run."""
