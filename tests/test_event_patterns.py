"""EventBridge pattern matching and target input, on the examples of the EventBridge User Guide
("Creating event patterns", "Content filtering", "Transforming target input")."""

from __future__ import annotations

import json

import pytest

from emulator.core.events import patterns, transform

EVENT = {
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "account": "111122223333",
    "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated", "c-count": 5, "d-count": 7,
               "x-limit": 301.8, "sourceIPAddress": "10.0.0.123", "eventVersion": "", "responseElements": None,
               "FileName": "image.png", "tags": ["blue", "prod"]},
}


def match(pattern: dict, event: dict = EVENT) -> bool:
    return patterns.matches(patterns.parse(json.dumps(pattern)), event)


@pytest.mark.parametrize("pattern, expected", [
    ({"source": ["aws.ec2"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"source": ["aws.s3", "aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}, True),
    ({"detail": {"state": ["terminated"]}}, True),
    ({"detail": {"state": ["running"]}}, False),
    ({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0", "other"]}, True),
    ({"detail": {"tags": ["prod"]}}, True),
    ({"detail": {"eventVersion": [""], "responseElements": [None]}}, True),
    ({"detail": {"responseElements": ["null"]}}, False),
    ({"time": [{"prefix": "2017-12-22"}]}, True),
    ({"time": [{"prefix": "2018"}]}, False),
    ({"detail": {"state": [{"prefix": {"equals-ignore-case": "TERM"}}]}}, True),
    ({"detail": {"FileName": [{"suffix": ".png"}]}}, True),
    ({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}, True),
    ({"detail": {"FileName": [{"suffix": ".jpg"}]}}, False),
    ({"detail": {"state": [{"anything-but": "initializing"}]}}, True),
    ({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"suffix": "nated"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["TERMINATED", "x"]}}]}}, False),
    ({"detail": {"c-count": [{"anything-but": 6}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],
                 "x-limit": [{"numeric": ["=", 3.018e2]}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 5]}]}}, False),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"sourceIPAddress": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"state": [{"exists": False}]}}, False),
    ({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}, True),
    ({"resources": [{"wildcard": "arn:aws:ec2:*:instance/i-*"}]}, True),
    ({"resources": [{"wildcard": "arn:aws:s3:*"}]}, False),
    ({"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}}, True),
    ({"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"state": ["running"]}]}}, False),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["terminated"]}}]}, True),
    ({"source": ["aws.ec2"], "detail": {"state": ["terminated"], "nested": {"x": ["y"]}}}, False),
])
def test_documented_content_filters(pattern, expected):
    assert match(pattern) is expected


def test_numbers_match_numerically_and_strings_do_not_match_numbers():
    assert match({"detail": {"c-count": [5.0]}})
    assert not match({"detail": {"c-count": ["5"]}})


@pytest.mark.parametrize("text, reason", [
    ("not json", "Filter is not valid JSON"),
    ('["a"]', "Filter is not an object"),
    ('{"source": "aws.ec2"}', "must be an object or an array"),
    ('{"source": []}', "Empty arrays are not allowed"),
    ('{"a": [{"numeric": [">", "x"]}]}', "must be numeric"),
    ('{"a": [{"numeric": ["~", 1]}]}', "Unrecognized numeric range operator"),
    ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false"),
    ('{"a": [{"unknown": 1}]}', "Unrecognized match type unknown"),
    ('{"a": [{"prefix": 1}]}', "prefix match pattern must be a string"),
    ('{"$or": [{"a": ["b"]}]}', '"$or" must be an array of at least two'),
])
def test_invalid_patterns_are_refused_with_the_reason(text, reason):
    with pytest.raises(patterns.InvalidEventPatternException) as info:
        patterns.parse(text)
    assert info.value.message.startswith("Event pattern is not valid. Reason: ")
    assert reason in info.value.message


RULE = {"Name": "r", "Arn": "arn:aws:events:us-west-1:111122223333:rule/r"}


def test_input_path_and_input_transformer():
    assert json.loads(transform.target_input({"InputPath": "$.detail.state"}, EVENT, RULE)) == "terminated"
    assert json.loads(transform.target_input({}, EVENT, RULE)) == EVENT
    assert transform.target_input({"Input": '{"a": 1}'}, EVENT, RULE) == '{"a": 1}'
    transformer = {"InputPathsMap": {"instance": "$.detail.instance-id", "status": "$.detail.state",
                                     "count": "$.detail.c-count", "first": "$.resources[0]",
                                     "none": "$.detail.nothing"},
                   "InputTemplate": '{"myInstance": <instance>, "text": "<instance> is in state \\"<status>\\"", '
                                    '"n": <count>, "arn": "<first>", "rule": "<aws.events.rule-name>", "x": <none>}'}
    rendered = json.loads(transform.target_input({"InputTransformer": transformer}, EVENT, RULE))
    assert rendered == {"myInstance": "i-1234567890abcdef0",
                        "text": 'i-1234567890abcdef0 is in state "terminated"', "n": 5,
                        "arn": EVENT["resources"][0], "rule": "r", "x": None}
    text = transform.target_input({"InputTransformer": {"InputPathsMap": {"status": "$.detail.state"},
                                                        "InputTemplate": "state is <status>"}}, EVENT, RULE)
    assert text == "state is terminated"


def test_pipeline_parameters_from_static_values_json_paths_and_placeholders():
    target = {"SageMakerPipelineParameters": {"PipelineParameterList": [
                  {"Name": "Static", "Value": "fixed"},
                  {"Name": "State", "Value": "$.detail.state"},
                  {"Name": "Sentence", "Value": "<instance> went <status>"}]},
              "InputTransformer": {"InputPathsMap": {"instance": "$.detail.instance-id", "status": "$.detail.state"},
                                   "InputTemplate": '{"instance": <instance>}'}}
    assert transform.pipeline_parameters(target, EVENT, RULE) == [
        {"Name": "Static", "Value": "fixed"}, {"Name": "State", "Value": "terminated"},
        {"Name": "Sentence", "Value": "i-1234567890abcdef0 went terminated"}]
