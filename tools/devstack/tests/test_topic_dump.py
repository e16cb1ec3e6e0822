"""`./yima topic-dump`: a topic's records from the beginning, against the real broker."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner
from yima_devstack.cli import app
from yima_devstack.kafka_tools import dump_topic, produce
from yima_kit.kafka_admin import ensure_topics

pytestmark = pytest.mark.integration


async def test_dump_reads_everything_so_far_and_the_command_prints_one_line_per_record(yima_infra) -> None:
    topic = f"test.dump.{uuid.uuid4().hex[:8]}"
    await ensure_topics(yima_infra.kafka_bootstrap, [topic], partitions=2)
    for i, case in enumerate(("case-a", "case-b", "case-a")):
        await produce(yima_infra.kafka_bootstrap, topic, case, {"n": i, "title_zh": "案件已分派"})
    records = await dump_topic(yima_infra.kafka_bootstrap, topic, idle=1.0)
    assert sorted(json.loads(r.value)["n"] for r in records) == [0, 1, 2]

    out = CliRunner().invoke(app, ["topic-dump", topic, "--bootstrap", yima_infra.kafka_bootstrap, "--key", "case-a"])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 2 and all(" case-a " in line and "案件已分派" in line for line in lines)
