"""checks.printable_name / quoted_name / quoted_names / printable_text: how every name read
from a file is shown, by every reader and the CLI (issue 21 item 8): nothing that can drive
a terminal gets through, and the length is bounded."""

import pytest

from nplstm.checks import (NAME_LIMIT, check_bool, check_choice, check_int, check_real,
                           describe_value, printable_name, printable_text, quoted_name,
                           quoted_names)


@pytest.mark.parametrize("name, shown", [
    ("encoder.rnn.weight_ih_l0", "encoder.rnn.weight_ih_l0"),
    ("\x1b[2J", "\\x1b[2J"),                       # ANSI: clear the screen
    ("a\nfits:\r\tb", "a\\nfits:\\r\\tb"),
    ("left\u202eright", "left\\u202eright"),      # bidi override
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("\x00\x7f\x85\xa0", "\\x00\\x7f\\x85\\xa0"),
    ("\udcff", "\\udcff"),                         # a surrogate from a bad byte
    ("\U000e0041", "\\U000e0041"),                 # a tag character
    ("a\\x1b", "a\\\\x1b"),                        # a backslash is escaped: no look-alikes
    ("é日本😀", "é日本😀"),                          # printable non-ASCII stays
    (b"x\x1b", "b'x\\x1b'"),                       # not a str: its repr
    (7, "7"),
])
def test_names_are_escaped_as_python_writes_them(name, shown):
    assert printable_name(name) == shown
    assert printable_name(name).isprintable()


def test_long_names_are_cut_with_their_length():
    assert printable_name("a" * NAME_LIMIT) == "a" * NAME_LIMIT
    assert printable_name("a" * (NAME_LIMIT + 1)) == "a" * NAME_LIMIT + \
        f"…({NAME_LIMIT + 1} characters)"
    assert printable_name("\x1b" * 50, 10) == "\\x1b\\x1b…(50 characters)"   # escapes count
    assert printable_name("k" * 50_000_000) == "k" * NAME_LIMIT + "…(50000000 characters)"


def test_messages_and_quotes():
    assert quoted_name("a\nb") == "'a\\nb'"
    assert printable_text("found 'a\\x1b' in C:\\dir\n", 100) == "found 'a\\x1b' in C:\\dir\\n"
    assert printable_text("x" * 2000, 1000).endswith("…(2000 characters)")


def test_a_list_of_names_shows_three_each_cut_then_how_many_more():
    assert quoted_names([]) == ""
    assert quoted_names(["a", "b\x1b"]) == "'a', 'b\\x1b'"
    assert quoted_names(["a", "b", "c", "d", "e"]) == "'a', 'b', 'c' and 2 more"
    assert quoted_names(["x" * 1000, "y"], 1) == "'" + "x" * 60 + "…(1000 characters)' and 1 more"
    assert quoted_names(iter(["a", "b"]), 6, name_limit=5) == "'a', 'b'"


@pytest.mark.parametrize("check, extra", [
    (check_int, {}), (check_real, {}), (check_bool, None), (check_choice, ("lstm", "gru"))])
@pytest.mark.parametrize("value", [[4], ("gru",)])
def test_a_list_given_for_a_scalar_is_shown_as_itself_not_told_to_become_an_array(
        check, extra, value):
    # a checkpoint whose cell was ["gru"] was told to "convert it with numpy.asarray(value,
    # dtype=numpy.float32)", as was nplstm.GRU(3, [4]): advice that no scalar setting takes
    args = ("setting", value) + ((extra,) if isinstance(extra, tuple) else ())
    with pytest.raises(TypeError) as info:
        check(*args, **(extra if isinstance(extra, dict) else {}))
    assert str(info.value).endswith(f", got {type(value).__name__} {value!r}")
    assert "numpy.asarray" not in str(info.value)


def test_a_list_given_for_an_array_keeps_the_conversion_hint():
    assert describe_value([1.0]).startswith("a Python list (convert it with numpy.asarray(")
    assert describe_value([1.0], array_wanted=False) == "list [1.0]"
