"""What a grading child sends back to the grader: its report, as one codec frame.

A forked child (``autograder.grading.workers``) answers with bytes; these turn a
``GradeReport`` and the trusted references the child computed into those bytes and
back, through ``autograder.sandbox.codec`` (plain data only, nothing that runs).
"""

from __future__ import annotations

import json
from dataclasses import fields

from autograder.grading.model import GradeReport, TestOutcome


def encode_answer(report: GradeReport, references: dict[bytes, object]) -> bytes:
    """What a grading child sends back: its report, and the trusted references it
    computed (``grading_tests.reference``: the next children need not compute them
    again), as one frame of ``autograder.sandbox.codec`` (plain data only, nothing that runs)."""
    from autograder.sandbox import codec

    text = encode_report(report).decode("utf-8")
    entries = [[key.hex(), value] for key, value in references.items()]
    try:
        frame = codec.encode({"report": text, "references": entries})
    except codec.CodecError:  # a reference that cannot cross is simply computed again
        frame = codec.encode({"report": text, "references": []})
    return b"".join(bytes(part) for part in frame)


def decode_answer(payload: bytes) -> tuple[GradeReport, dict[bytes, object]]:
    from autograder.sandbox import codec

    header_length, body_length = codec.PREFIX.unpack_from(payload)
    if 8 + header_length + body_length != len(payload):
        raise ValueError("the answer is not one whole frame")
    data = codec.decode(payload[8:8 + header_length], payload[8 + header_length:])
    references = {bytes.fromhex(key): value for key, value in data["references"]}
    return decode_report(data["report"].encode("utf-8")), references


def new_references() -> dict[bytes, object]:
    from grading_tests import reference

    return reference.new_entries()


def keep_references(references: dict[bytes, object]) -> None:
    """Hand the references a child computed to the children forked after it."""
    if references:
        from grading_tests import reference

        reference.add_entries(references)


def encode_report(report: GradeReport) -> bytes:
    data = {name.name: getattr(report, name.name) for name in fields(GradeReport) if name.name != "tests"}
    data["tests"] = [{name.name: getattr(test, name.name) for name in fields(test)} for test in report.tests]
    return json.dumps(data).encode("utf-8")


def decode_report(payload: bytes) -> GradeReport:
    data = json.loads(payload.decode("utf-8"))
    known = {name.name for name in fields(TestOutcome)}
    tests = []
    for entry in data["tests"]:
        values = {key: value for key, value in entry.items() if key in known}
        values["tags"] = tuple(str(tag) for tag in values.get("tags", ()))
        values["score"], values["max_score"] = float(values["score"]), float(values["max_score"])
        tests.append(TestOutcome(**values))
    return GradeReport(
        student=str(data["student"]), seed=int(data["seed"]), tests=tuple(tests),
        execution_time=float(data["execution_time"]),
        failure=None if data.get("failure") is None else str(data["failure"]),
        log=str(data.get("log", "")),
        events=tuple(str(event) for event in data.get("events", ())),
        integrity=tuple(str(flag) for flag in data.get("integrity", ())),
    )
