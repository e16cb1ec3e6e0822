"""Insurance claims per year come from mediation's staff API with the viewer's own token (pure: a mock transport
stands in for mediation)."""

from __future__ import annotations

import httpx
from yima_insight.adapters.mediation_client import MediationClaims


async def test_claims_per_year_are_mediations_figures_asked_with_the_viewers_token() -> None:
    seen: list[httpx.Request] = []

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        year = int(req.url.params["year"])
        return httpx.Response(200, json={"year": year, "claims_decided": year - 2020, "claims_paid": 1,
                                         "paid_fen": 12345, "paid_yuan": "123.45", "disputed": 0})

    src = MediationClaims("http://mediation", transport=httpx.MockTransport(answer))
    out = await src.per_year("Bearer T", [2025, 2026], "410105001")
    assert out["available"] is True
    assert [(y["year"], y["claims_decided"], y["paid_yuan"]) for y in out["years"]] == [(2025, 5, "123.45"),
                                                                                      (2026, 6, "123.45")]
    assert all(r.headers["authorization"] == "Bearer T" and r.url.params["unit"] == "410105001" for r in seen)


async def test_a_refusal_or_an_unreachable_mediation_says_why() -> None:
    refused = MediationClaims("http://m", transport=httpx.MockTransport(lambda r: httpx.Response(403)))
    assert await refused.per_year("Bearer T", [2026], None) == {"available": False, "detail": "无权查看理赔统计",
                                                                 "years": []}

    def down(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    gone = await MediationClaims("http://m", transport=httpx.MockTransport(down)).per_year("Bearer T", [2026], None)
    assert gone["available"] is False and "调解服务" in gone["detail"]
