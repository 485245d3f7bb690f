"""Input errors worded for both callers (deconvlab.errors), and the command line printing them as they are."""
import numpy as np
import pytest

from deconvlab import data, inpainting, train
from deconvlab.commandline import UsageError
from deconvlab.errors import InputError, InputIsADirectory, Setting


def test_a_setting_reads_as_a_keyword_in_python_and_as_an_option_on_the_command_line():
    assert Setting("max_pixels", 4).render() == "max_pixels=4"
    assert Setting("max_pixels", 4).render(command_line=True) == "--max-pixels 4"
    assert Setting("patch_size").render() == "patch_size"
    assert Setting("patch_size").render(command_line=True) == "--patch-size"


def test_an_input_error_names_the_function_and_subject_for_python_and_only_the_reason_for_the_command_line():
    error = InputError("load_image", "is {n} pixels, more than {limit}", subject="a.png", n=9,
                       limit=Setting("max_pixels", 4))
    assert isinstance(error, ValueError)
    assert str(error) == "load_image: 'a.png' is 9 pixels, more than max_pixels=4"
    assert error.reason(command_line=True) == "is 9 pixels, more than --max-pixels 4"
    assert str(UsageError.from_input_error(error, "image")) == "cannot use image 'a.png': it is 9 pixels, more than --max-pixels 4"


def test_braces_in_values_do_not_break_the_message():
    error = InputError("f", "got {value!r}", subject="{odd}.png", value={"a": 1})
    assert str(error) == "f: '{odd}.png' got {'a': 1}"


def test_several_errors_are_listed_in_one():
    joined = InputError.several("TrainConfig", [InputError("", "{s} must be even, got 3", s=Setting("width")),
                                                InputError("", "{s} must be positive", s=Setting("lr"))])
    assert str(joined) == "TrainConfig: width must be even, got 3; lr must be positive"
    assert joined.reason(command_line=True) == "--width must be even, got 3; --lr must be positive"


def test_the_library_raises_input_errors_that_read_right_on_both_sides(tmp_path):
    with pytest.raises(InputError) as info:
        train.TrainConfig(patch_size=12, width=0)
    assert "patch_size must be a multiple of 8, got 12" in str(info.value)
    assert "--patch-size must be a multiple of 8, got 12" in info.value.reason(command_line=True)
    assert "--width must be a positive integer, got 0" in info.value.reason(command_line=True)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="load_image: '.*empty.png' is empty"):
        data.load_image(tmp_path / "empty.png")
    with pytest.raises(InputIsADirectory) as info:
        data.load_image(tmp_path)
    assert isinstance(info.value, IsADirectoryError) and info.value.reason() == "is a directory, expected an image file"
    with pytest.raises(InputError) as info:
        inpainting.inpaint(np.zeros((8, 8)), np.ones((8, 8)), tile=10)
    assert info.value.reason(command_line=True).startswith("--tile must be an integer >= 256")
