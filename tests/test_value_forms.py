"""Goals write values in other forms than the ones typed (a date field takes "2016-02-26" for
the goal's "02/26/2016"): the goal's rendering of a typed value is found, and a new goal's
value is retyped by the conversion the demonstration's pair shows."""

from __future__ import annotations

import pytest

from traj.projections import goal_rendering, retyped

DATES = {
    "MM/DD/YYYY": ("02/26/2016", "2016-02-26", "11/05/2017", "2017-11-05"),
    "M/D/YYYY": ("2/6/2016", "2016-02-06", "12/31/1999", "1999-12-31"),
    "DD.MM.YYYY": ("26.02.2016", "2016-02-26", "05.11.2017", "2017-11-05"),
    "YYYY/MM/DD": ("2016/02/26", "2016-02-26", "2017/11/5", "2017-11-05"),
    "Month D, YYYY": ("February 26, 2016", "2016-02-26", "November 5, 2017", "2017-11-05"),
    "Mon D, YYYY": ("Feb 26, 2016", "2016-02-26", "Nov 5, 2017", "2017-11-05"),
    "D Month YYYY": ("26 February 2016", "2016-02-26", "5 November 2017", "2017-11-05"),
    "with a weekday": ("Friday, February 26, 2016", "2016-02-26", "Sunday, November 5, 2017", "2017-11-05"),
}
TIMES = {
    "h:mm PM": ("3:36 PM", "15:36", "9:05 AM", "09:05"),
    "hh:mm PM": ("03:36 PM", "15:36", "12:00 AM", "00:00"),
    "h:mmpm": ("3:36pm", "15:36", "12:30pm", "12:30"),
    "H:MM": ("9:05", "09:05", "7:45", "07:45"),
}
CASES = {
    "lower case": ("BdhK", "bdhk", "XyZw", "xyzw"),
    "upper case": ("BdhK", "BDHK", "qrSt", "QRST"),
    "identity": ("Ann Lee", "Ann Lee", "Bo Yu", "Bo Yu"),
}


@pytest.mark.parametrize(("form", "example"), [*DATES.items(), *TIMES.items(), *CASES.items()])
def test_a_new_goal_value_is_typed_in_the_form_the_demo_typed_its_own(
    form: str, example: tuple[str, str, str, str]
) -> None:
    written, typed, new_written, new_typed = example
    assert retyped(written, typed, new_written) == new_typed
    assert retyped(new_written, new_typed, written) == typed  # either pair explains the other


@pytest.mark.parametrize(
    ("goal", "typed", "rendering"),
    [
        ("Enter 02/26/2016 as the date and hit submit", "2016-02-26", "02/26/2016"),
        ("Enter 2/6/2016 as the date.", "2016-02-06", "2/6/2016"),
        ("Deliver on 26.02.2016, please", "2016-02-26", "26.02.2016"),
        ("Book it for Friday, February 26, 2016 at noon", "2016-02-26", "Friday, February 26, 2016"),
        ("Book it for Feb 26, 2016", "2016-02-26", "Feb 26, 2016"),
        ("Arrive 26 February 2016 by car", "2016-02-26", "26 February 2016"),
        ("Enter 3:36 PM as the time", "15:36", "3:36 PM"),
        ("Wake me at 3:36pm", "15:36", "3:36pm"),
        ("Wake me at 9:05 tomorrow", "09:05", "9:05"),
        ('Type "BdhK" in all lower case letters', "bdhk", "BdhK"),
        ("Type abc in upper case", "ABC", "abc"),
        ("Send 42.50 to Ann Lee", "42.50", "42.50"),  # as written: the value itself
        ("Search for  New   York", "New York", "New York"),
    ],
)
def test_the_goal_rendering_of_a_typed_value_is_the_part_of_the_goal_that_states_it(
    goal: str, typed: str, rendering: str
) -> None:
    assert goal_rendering(goal, typed) == rendering


@pytest.mark.parametrize(
    ("goal", "typed"),
    [
        ("Enter 02/26/2016 as the date", "2016-02-27"),  # another date
        ("Enter 3:36 PM as the time", "03:36"),  # the morning, not the afternoon
        ("Search for paris", "Paris"),  # no conversion capitalises a word
        ("Click the submit button", "hello"),
        ("Type anything", "  "),
    ],
)
def test_a_value_the_goal_does_not_state_has_no_rendering(goal: str, typed: str) -> None:
    assert goal_rendering(goal, typed) is None


def test_an_ambiguous_date_takes_the_conversion_that_reproduces_the_example() -> None:
    assert goal_rendering("Enter 02/03/2016", "2016-02-03") == "02/03/2016"
    assert goal_rendering("Enter 02/03/2016", "2016-03-02") == "02/03/2016"
    assert retyped("02/03/2016", "2016-02-03", "04/05/2017") == "2017-04-05"  # month first
    assert retyped("02/03/2016", "2016-03-02", "04/05/2017") == "2017-05-04"  # day first
    assert retyped("13/03/2016", "2016-03-13", "04/05/2017") == "2017-05-04"
    assert retyped("03/03/2016", "2016-03-03", "04/05/2017") == "2017-04-05"  # both reproduce it: month first


@pytest.mark.parametrize(
    ("example", "new"),
    [
        (("02/26/2016", "2016-02-26"), "next Tuesday"),
        (("02/26/2016", "2016-02-26"), "02/30/2016"),  # no such day
        (("3:36 PM", "15:36"), "13:36 PM"),
        (("3:36 PM", "15:36"), "noon"),
    ],
)
def test_a_new_value_that_does_not_read_in_the_examples_form_is_typed_as_it_is(
    example: tuple[str, str], new: str
) -> None:
    assert retyped(*example, new) == new


def test_a_value_typed_as_the_goal_writes_it_is_typed_as_the_new_goal_writes_it() -> None:
    assert retyped("15:36", "15:36", "7:45") == "7:45"  # identity first, though a time reads it too
    assert retyped("2016-02-26", "2016-02-26", "2017-3-5") == "2017-3-5"


def test_a_long_quoted_text_is_read_whole() -> None:
    goal = 'Type "The Quick Brown Fox Jumps Over The Lazy Dog" in lower case'
    assert goal_rendering(goal, "the quick brown fox jumps over the lazy dog") == (
        "The Quick Brown Fox Jumps Over The Lazy Dog"
    )


def test_an_example_no_conversion_explains_types_the_new_value_as_it_is() -> None:
    assert retyped("paris", "Paris", "london") == "london"
    assert retyped("02/26/2016", "26 Feb", "03/05/2017") == "03/05/2017"
