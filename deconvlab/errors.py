"""Mistakes in what a caller asked for, worded for whoever asked: a Python caller or a command-line user;
imports nothing.

A library function that rejects a value or a file raises an ``InputError`` (a ValueError) built from its parts:
the function (``where``), the file or thing it is about (``subject``, optional) and a ``str.format`` template
of the reason whose fields may be ``Setting``s. ``str(error)`` is the Python wording, which names settings as
keyword arguments; ``error.reason(command_line=True)`` is the same reason naming them as the command's options,
so the command line reports the library's own words without rewriting them:

    >>> e = InputError("load_image", "is {n} pixels, more than {limit}", subject="a.png", n=9,
    ...                limit=Setting("max_pixels", 4))
    >>> str(e)
    "load_image: 'a.png' is 9 pixels, more than max_pixels=4"
    >>> e.reason(command_line=True)
    'is 9 pixels, more than --max-pixels 4'
"""

_NO_VALUE = object()


class Setting:
    """A setting named in a message: ``max_pixels`` / ``max_pixels=4`` for a Python caller, ``--max-pixels`` /
    ``--max-pixels 4`` on the command line (the option is the keyword with ``-`` for ``_``)."""

    def __init__(self, name, value=_NO_VALUE):
        self.name, self.value = name, value

    def render(self, command_line=False):
        """The setting's name (and value, if it has one) as the caller writes it."""
        name = "--" + self.name.replace("_", "-") if command_line else self.name
        if self.value is _NO_VALUE:
            return name
        return f"{name} {self.value}" if command_line else f"{name}={self.value}"


class InputError(ValueError):
    """A caller's mistake in a value or a file (see the module docstring).

    ``template`` is written by deconvlab, never built from user data: values go in ``fields`` (so braces in a
    path or a value cannot break the formatting). ``subject``, when given, is quoted with repr() after
    ``where``: ``"load_image: 'a.png' is empty"``. ``InputError.several`` joins the reasons of several mistakes
    found at once.
    """

    def __init__(self, where, template, subject=None, **fields):
        self.where, self.subject = where, subject
        self.parts = [(template, fields)]
        super().__init__(self._python_message())

    @classmethod
    def several(cls, where, errors):
        """One error whose reason lists the reasons of ``errors`` (InputErrors), separated by "; "."""
        joined = cls(where, "")
        joined.parts = [part for error in errors for part in error.parts]
        joined.args = (joined._python_message(),)
        return joined

    def reason(self, command_line=False):
        """The reason alone (no function, no subject), naming settings as Python keywords or command options."""
        texts = []
        for template, fields in self.parts:
            values = {k: v.render(command_line) if isinstance(v, Setting) else v for k, v in fields.items()}
            texts.append(template.format(**values))
        return "; ".join(texts)

    def _python_message(self):
        subject = "" if self.subject is None else f"{self.subject!r} "
        return f"{self.where}: {subject}{self.reason()}"

    def __str__(self):
        return self.args[0] if self.args else ""


class InputIsADirectory(InputError, IsADirectoryError):
    """An InputError about a folder given where a file was expected (also an IsADirectoryError)."""
