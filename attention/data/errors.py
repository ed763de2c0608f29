"""The one error of the data code."""


class DatasetError(ValueError):
    """Data that cannot be found or read; the message says what to do, in one line."""
