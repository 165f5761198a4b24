"""Errors the CLI reports as one clear message and an exit code, never a traceback."""


class RecipeError(Exception):
    """A recipe that cannot be used; the message names the file and the YAML path (exit 2)."""


class DumpError(Exception):
    """A failure the user can fix; `exit_code` is what the CLI returns."""

    exit_code = 1


class DataError(DumpError):
    """A bad input record or file: the message says file:line: field 'x': expected ..., got ..."""

    exit_code = 1


class RunFolderError(DumpError):
    """A run folder this command must not write into now: another dumpcli process owns it, or a
    file in it is a symbolic link that a write would follow out of the folder. Nothing ran."""

    exit_code = 2


class NotBuiltError(DumpError):
    """A command that exists in the design but is not implemented yet."""

    exit_code = 3


class RecipeChanged(DumpError):
    """`--resume` with a recipe that would change the run (exit 2, as any recipe error)."""

    exit_code = 2


class Interrupted(DumpError):
    """Ctrl-C (exit 130) or SIGTERM (exit 143: 128 + the signal) during training, after a
    checkpoint was saved (resume with --resume)."""

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DiskFull(DumpError):
    """The disk of the run folder filled up; the message says what is kept and the space needed."""

    exit_code = 1
