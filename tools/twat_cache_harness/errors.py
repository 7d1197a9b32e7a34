"""The one exception type the harness raises."""


class HarnessError(RuntimeError):
    """A test server could not be found, installed, started or queried.

    The message always says what went wrong and, where it applies, exactly what to install.
    """
