"""One error type for user mistakes: it names the thing that is wrong and the fix, and the CLI prints it as one line."""


class EdgekitError(Exception):
    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(f"{what}" + (f"; {fix}" if fix else ""))
