"""Livelihood-insurance claims (民生保险理赔) per year, as mediation answers them (its staff API, with the
viewer's own token, so mediation applies its own scope and roles). Mediation publishes no claim event, so
insight cannot count claims itself; it asks, and says so when mediation cannot answer."""

from __future__ import annotations

from typing import Any

import httpx

FIELDS = ("claims_decided", "claims_paid", "paid_fen", "paid_yuan", "disputed")


class MediationClaims:
    def __init__(self, base_url: str, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.transport = transport

    async def per_year(self, authorization: str, years: list[int], unit: str | None) -> dict[str, Any]:
        """``{"available": True, "years": [...]}``, or ``available: False`` with the reason (in Chinese)."""
        out: list[dict[str, Any]] = []
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout,
                                         transport=self.transport) as client:
                for year in years:
                    params: dict[str, Any] = {"year": year, **({"unit": unit} if unit else {})}
                    res = await client.get("/api/v1/insurance-claims-stats", params=params,
                                           headers={"Authorization": authorization})
                    if res.status_code in (401, 403):
                        return {"available": False, "detail": "无权查看理赔统计", "years": []}
                    if res.status_code == 404:
                        return {"available": False, "detail": "该单位没有理赔记录", "years": []}
                    res.raise_for_status()
                    body = res.json()
                    out.append({"year": year, **{k: body.get(k, 0) for k in FIELDS}})
        except (httpx.HTTPError, ValueError):
            return {"available": False, "detail": "暂时无法连接调解服务（理赔统计）", "years": []}
        return {"available": True, "years": out}
