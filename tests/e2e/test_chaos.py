"""The fault suite's short version (`./yima chaos --quick`; the full one is `./yima chaos`, deploy/README.md):
a private stack under a steady load of cases; services and a consumer replica SIGKILLed, every consumed topic
poisoned; then, from outside, nothing acknowledged is lost or done twice and the poison is dead-lettered."""

from __future__ import annotations

import pytest
from yima_devstack.chaos import POISONED_TOPICS, run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(900)]


def test_quick_fault_suite_loses_and_duplicates_nothing(tmp_path) -> None:
    chaos = run_chaos(rate=2.0, phase_seconds=8.0, quick=True, workdir=tmp_path)
    print(chaos.table())
    print(chaos.summary)
    assert chaos.submitted, "no submission was acknowledged: the load never ran"
    faults = {r.fault for r in chaos.rows}
    assert any(f.startswith("SIGKILL routing") for f in faults) and any(f.startswith("poison") for f in faults)
    for row in chaos.rows:
        assert (row.lost, row.duplicated) == (0, 0), chaos.table()
    assert chaos.summary["unassigned"] == 0 and chaos.summary["assigned_twice"] == 0
    assert chaos.summary["applicants_without_registration_text"] == 0
    poison = next(r for r in chaos.rows if r.fault.startswith("poison"))
    n = 3 * len(POISONED_TOPICS)  # malformed, unknown type, wrong type on each
    assert f"{n}/{n} in dlq.*" in poison.note
