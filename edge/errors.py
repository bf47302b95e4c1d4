"""One error type for user mistakes: it names the thing that is wrong and the fix, and the CLI prints it as one line."""


class EdgekitError(Exception):
    exit_code = 2  # what `edgekit` exits with when this ends a command

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(f"{what}" + (f"; {fix}" if fix else ""))


class SourceFailed(EdgekitError):
    """The source never opened or was lost for good: a failure of the run, not a mistake in the command (exit 3), so
    systemd's Restart=on-failure restarts the service."""

    exit_code = 3
