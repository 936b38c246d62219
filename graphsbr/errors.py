"""The two errors graphsbr raises on purpose; the command line turns them into one line and a non-zero exit."""


class GraphSBRError(Exception):
    """Base class of the errors that graphsbr raises on purpose."""


class DataError(GraphSBRError, ValueError):
    """Bad or missing data. The message names the file (or dataset) and the problem."""

    def __init__(self, problem: str, path=None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class ConfigError(GraphSBRError, ValueError):
    """An unknown or invalid setting; the message lists the valid ones."""


class TrainingError(GraphSBRError, RuntimeError):
    """Training cannot go on (a non-finite loss, a run folder in use); the last good checkpoint is kept."""
