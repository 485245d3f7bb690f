"""What every ``deconvlab`` sub-command shares: the usage error, the argument parser, argument types; imports
argparse only, so that both ``cli`` and ``exercises.cli`` can stand on it.

The rules of the command line: a user's mistake (bad path, unreadable file, bad option) is reported as one
line on stderr with exit code 2; any other failure is one line with exit code 1.
"""
import argparse


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 2."""

    @classmethod
    def from_input_error(cls, error, what=None):
        """A UsageError worded from a library ``errors.InputError``: its reason with options for settings, after
        ``cannot use WHAT SUBJECT: it`` when the error is about a file (``what`` names it, e.g. "mask")."""
        reason = error.reason(command_line=True)
        if error.subject is None:
            return cls(reason)
        return cls(f"cannot use {what or 'file'} {error.subject!r}: it {reason}")


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option reported like every other mistake: one line on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def argument_type(convert, accept, what):
    """An argparse ``type``: ``convert(text)``, refused with "expected WHAT, got 'TEXT'" unless ``accept``-ed."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = argument_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = argument_type(int, lambda v: v >= 0, "a non-negative integer")
positive_float = argument_type(float, lambda v: 0 < v < float("inf"), "a positive number")
finite_float = argument_type(float, lambda v: abs(v) < float("inf"), "a finite number")

__all__ = ["UsageError", "Parser", "argument_type", "positive_int", "non_negative_int",
           "positive_float", "finite_float"]
