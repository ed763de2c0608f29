"""The errors of the data code."""


class DatasetError(ValueError):
    """Data that cannot be found or read; the message says what to do, in one line."""


class MissingColumn(DatasetError):
    """A table without a column (a JSON Lines row without a field) that was asked for.

    `problem` says what is missing and where; the message adds the option that names it.
    """

    def __init__(self, problem: str, option: str) -> None:
        super().__init__(f"{problem}; name the right one with {option}.")
        self.problem = problem
