"""The scoreboard fails on a wrong word, a missing word and an empty check."""

import pytest

from sim.tb.common import Scoreboard, split_words


def test_scoreboard_reports_mismatch():
    scoreboard = Scoreboard("unit", 42)
    scoreboard.compare("op 0", [1, 2, 3], [1, 2, 3])
    scoreboard.compare("op 1", [1, 2, 3], [1, 5, 3])
    with pytest.raises(AssertionError, match=r"unit \(seed 42; replay with SEED=42\): 1 "
                                             r"mismatches:\nop 1, column 1: expected 2, got 5"):
        scoreboard.check(2)


def test_scoreboard_counts_words():
    scoreboard = Scoreboard("unit", 7)
    scoreboard.compare("op 0", [1], [1])
    with pytest.raises(AssertionError, match=r"1 of 2 words matched"):
        scoreboard.check(2)
    with pytest.raises(AssertionError, match=r"nothing was checked"):
        Scoreboard("unit", 7).check(0)


def test_split_words():
    assert split_words(0xFF01, 8, 2) == [1, 255]
    assert split_words(0xFF01, 8, 2, signed=True) == [1, -1]
