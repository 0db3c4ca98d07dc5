"""Running `smallfit ARGS` in-process, as the tests of several commands do."""

from typer.testing import CliRunner

from smallfit import cli

runner = CliRunner()


def run(*args):
    """Invoke `smallfit ARGS` through the real entry point, returning (exit code, output)."""
    try:
        result = runner.invoke(cli.app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.output
    except cli.SmallfitError as error:  # main() turns these into exit code 2
        return 2, str(error)
