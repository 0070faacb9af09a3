"""Errors the sandbox raises; each message names what failed and where to look."""


class SandboxError(RuntimeError):
    """Base class of every sandbox failure."""


class BuildError(SandboxError):
    """A build step failed: the message names the step, the command and the end of its output."""


class StartupError(SandboxError):
    """A process died or never became ready: the message carries the end of its log."""


class PortInUseError(StartupError):
    """A process could not bind its port; the caller picks other ports and tries again."""
