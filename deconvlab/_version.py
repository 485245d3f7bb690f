"""The version of deconvlab, in one place (setup.cfg reads it from here); imports nothing."""
__version__ = "0.1.0"
