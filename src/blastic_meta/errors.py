"""Exception and warning hierarchy.

Every error a user can cause is a ``BlasticMetaError``; those about argument values are also
``ValueError`` so that library callers can catch either. The command line turns them into a
one-line message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations


class BlasticMetaError(Exception):
    """Base class of every error raised on purpose by blastic_meta."""


class InputError(BlasticMetaError, ValueError):
    """An argument has a wrong value, shape or type (names the argument and position)."""


class ConvergenceError(BlasticMetaError, RuntimeError):
    """An iterative estimator did not reach its optimum."""


class StudyRecordError(BlasticMetaError, ValueError):
    """A study file, bibliography or protocol could not be read or is invalid."""


class ReportError(BlasticMetaError):
    """The report could not be built (outputs are left as they were)."""


class BlasticMetaWarning(UserWarning):
    """An announced edge case (k = 2 with Knapp-Hartung, a derived value used, ...)."""
