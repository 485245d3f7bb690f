"""What every ``deconvlab`` sub-command shares: the usage error, the argument parser, argument types; imports
argparse only, so that both ``cli`` and ``exercises.cli`` can stand on it.

The rules of the command line: a user's mistake (bad path, unreadable file, bad option) is reported as one
line on stderr with exit code 2; any other failure is one line with exit code 1.
"""
import argparse
import difflib
import re
import sys


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
    """argparse, with a bad option reported like every other mistake: one line on stderr, exit code 2, and a
    "did you mean" for a mistyped option or command (the closest by ``difflib``)."""

    _argv = ()  # the arguments being parsed, for suggestions in errors that argparse raises before the end

    def parse_args(self, args=None, namespace=None):
        Parser._argv = tuple(sys.argv[1:] if args is None else args)
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            options = [o for parser in self._chosen(namespace) for a in parser._actions for o in a.option_strings]
            self.error(f"unrecognized arguments: {' '.join(extras)}" + _did_you_mean(extras[0].split("=")[0], options))
        return namespace

    def _chosen(self, namespace):
        """This parser and the sub-command parsers ``namespace`` went through."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(namespace, action.dest, None))
                if sub is not None:
                    return [self] + sub._chosen(namespace)
        return [self]

    def error(self, message):
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice and "did you mean" not in message:
            message += _did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        elif message.startswith("the following arguments are required"):
            options = [o for a in self._actions for o in a.option_strings]
            unknown = [str(a).split("=")[0] for a in Parser._argv if str(a).startswith("--")
                       and not any(o.startswith(str(a).split("=")[0]) for o in options)]
            if unknown:
                message += f" ({unknown[0]} is not an option" + (_did_you_mean(unknown[0], options) or "") + ")"
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _did_you_mean(word, candidates):
    """"; did you mean X?" for the candidate closest to ``word`` (difflib), or "" when none is close."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close and close[0] != word else ""


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
