"""How the benches judge their figures (bench/goals.py): a miss is printed, a wide miss fails the run."""

from bench.goals import Goals


def test_met_missed_and_widely_missed_goals():
    goals = Goals()
    assert goals.at_most("overhead", 1.1, 1.2) == "(goal <= 1.2x)"
    assert goals.at_least("throughput", 2.5, 2) == "(goal >= 2x)"
    assert goals.at_most("overhead", 1.5, 1.2) == "(goal <= 1.2x: missed)"  # within 1.5x of the goal
    assert goals.at_least("speed-up", 7, 10) == "(goal >= 10x: missed)"
    assert goals.finish() == 0
    assert goals.at_most("rss", 480, 300, " MB") == "(goal <= 300 MB: MISSED BY A WIDE MARGIN)"
    assert goals.at_least("speed-up", 6, 10) == "(goal >= 10x: MISSED BY A WIDE MARGIN)"
    assert goals.finish() == 1
