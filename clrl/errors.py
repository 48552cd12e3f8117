"""The one exception type that command lines turn into a single clear line and a non-zero exit."""


class UserError(Exception):
    """Bad input from the user (a config key, a cube state, a level file, a checkpoint).

    The message is one line that says what is wrong and, where it helps, what was expected.
    Command lines print it as ``error: <message>`` and exit with :attr:`exit_code`.
    """

    exit_code = 1


class ConfigError(UserError):
    """A config file or override that cannot be used; command lines exit with code 2."""

    exit_code = 2
