"""checks.printable_name / printable_text: how every name read from a file is shown (issue 21
item 8): nothing that can drive a terminal gets through, and the length is bounded."""

import pytest

from nplstm.checks import NAME_LIMIT, printable_name, printable_text, quoted_name


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
