"""Pure parts of CloudWatch: alarm evaluation (the user guide's missing-data tables, row by row) and the
extended statistics."""

from __future__ import annotations

import json

import pytest

from emulator.core.cloudwatch import statistics
from emulator.core.cloudwatch.evaluation import ALARM, INSUFFICIENT, OK, Point, Settings, evaluate

COLUMNS = ("missing", "ignore", "breaching", "notBreaching")
KEEP = "keep"

# CloudWatch User Guide, "How alarm state is evaluated when data is missing": threshold crossed when the
# value is above 0; "0" a non-breaching datapoint, "X" a breaching one, "-" a missing one, oldest first;
# the 5 datapoints of the evaluation range of an alarm with EvaluationPeriods 3.
THREE_OF_THREE = [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT, KEEP, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - - - X", (INSUFFICIENT, KEEP, ALARM, OK)),
    ("X - - - -", (ALARM, KEEP, ALARM, OK)),
]
TWO_OF_THREE = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - - X", (INSUFFICIENT, KEEP, ALARM, OK)),
]


def points(row: str) -> list[Point]:
    values = {"0": 0.0, "X": 1.0, "-": None}
    return [Point(300.0 * i, values[c]) for i, c in enumerate(row.split())]


@pytest.mark.parametrize("m, table", [(3, THREE_OF_THREE), (2, TWO_OF_THREE)])
def test_the_user_guide_missing_data_tables(m, table):
    for row, expected in table:
        for treat, want in zip(COLUMNS, expected):
            settings = Settings(300, 3, m, 0.5, "GreaterThanThreshold", treat, "Maximum")
            for current in (OK, ALARM, INSUFFICIENT):
                outcome = evaluate(settings, points(row), current, 1500.0)
                assert outcome.state == (current if want == KEEP else want), (m, row, treat, current)


def test_state_reasons_are_worded_as_cloudwatch():
    settings = Settings(60, 1, 1, 5.0, "GreaterThanThreshold", "missing", "Maximum")
    alarm = evaluate(settings, [Point(0.0, None), Point(60.0, None), Point(120.0, 7.0, 1.0)], OK, 150.0)
    assert alarm.reason == "Threshold Crossed: 1 datapoint [7.0 (01/01/70 00:02:00)] was greater than the threshold " \
                           "(5.0)."
    data = json.loads(alarm.reason_data)
    assert data["version"] == "1.0" and data["statistic"] == "Maximum" and data["period"] == 60
    assert data["recentDatapoints"] == [7.0] and data["threshold"] == 5.0
    assert data["evaluatedDatapoints"] == [{"timestamp": "1970-01-01T00:02:00.000+0000", "sampleCount": 1.0,
                                            "value": 7.0}]
    ok = evaluate(settings, [Point(0.0, None), Point(60.0, 7.0), Point(120.0, 1.0)], ALARM, 150.0)
    assert ok.state == OK
    assert ok.reason == "Threshold Crossed: 1 datapoint [1.0 (01/01/70 00:02:00)] was not greater than the " \
                        "threshold (5.0)."
    m_of_n = Settings(60, 3, 2, 5.0, "GreaterThanOrEqualToThreshold", "missing", "Average")
    two = evaluate(m_of_n, [Point(0.0, 6.0), Point(60.0, 1.0), Point(120.0, 5.0)], OK, 150.0)
    assert two.reason == ("Threshold Crossed: 2 out of the last 3 datapoints [5.0 (01/01/70 00:02:00), 1.0 "
                          "(01/01/70 00:01:00), 6.0 (01/01/70 00:00:00)] were greater than or equal to the threshold "
                          "(5.0) (minimum 2 datapoints for OK -> ALARM transition).")
    nothing = evaluate(settings, [Point(0.0, None)] * 3, OK, 150.0)
    assert (nothing.state, nothing.reason) == (INSUFFICIENT, "Insufficient Data: 1 datapoint was unknown.")
    breaching = Settings(60, 1, 1, 5.0, "LessThanThreshold", "breaching", "Minimum")
    filled = evaluate(breaching, [Point(0.0, None)] * 3, OK, 150.0)
    assert filled.reason == "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint " \
                            "was treated as [Breaching]."


@pytest.mark.parametrize("text, kind, low, high, percent", [
    ("p99", "p", None, 99.0, True), ("p99.9", "p", None, 99.9, True), ("tm90", "tm", 0.0, 90.0, True),
    ("TM(10%:90%)", "tm", 10.0, 90.0, True), ("wm(:95%)", "wm", None, 95.0, True),
    ("TC(0.005:0.030)", "tc", 0.005, 0.030, False), ("PR(:300)", "pr", None, 300.0, False),
    ("ts99", "ts", 0.0, 99.0, True),
])
def test_extended_statistic_names(text, kind, low, high, percent):
    assert statistics.parse(text) == statistics.Extended(kind, low, high, percent)


@pytest.mark.parametrize("text", ["p101", "q50", "TM(90%:10%)", "PR(10%:20%)", "TM(10%:20)", "TM(:)", "p"])
def test_extended_statistics_cloudwatch_refuses(text):
    assert statistics.parse(text) is None


def test_extended_statistic_values():
    samples = [(float(v), 1.0) for v in range(1, 11)]  # 1..10
    value = lambda text: statistics.compute(statistics.parse(text), samples)
    assert value("p50") == 5.0 and value("p90") == 9.0 and value("p100") == 10.0
    assert value("tm80") == pytest.approx(4.5)          # mean of 1..8
    assert value("TM(10%:90%)") == pytest.approx(5.5)   # mean of 2..9
    assert value("TC(10%:90%)") == pytest.approx(8.0)
    assert value("TS(10%:90%)") == pytest.approx(44.0)
    assert value("WM(10%:90%)") == pytest.approx(5.4)   # p10 = 1, p90 = 9: (1+2+..+9+9)/10
    assert value("PR(:3)") == pytest.approx(30.0)
    assert value("TM(2:5)") == pytest.approx(4.0)       # 3, 4, 5
    weighted = [(1.0, 3.0), (2.0, 1.0)]
    assert statistics.compute(statistics.parse("p75"), weighted) == 1.0
    assert statistics.compute(statistics.parse("tm50"), weighted) == 1.0
