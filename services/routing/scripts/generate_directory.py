"""Generate the demo org directory of a Jinshui-like district (deterministic: same output every run).

    uv run python services/routing/scripts/generate_directory.py   # rewrites data/jinshui_directory.json

17 streets, 214 communities and villages (three grids each), special grids (an enterprise, a school, an
industrial park), district departments, the specialised mediation committees, personal mediation studios,
the court-attached mediation centre and the 六调对接 docking points; named staff with roles in every unit.
The names are invented; the codes follow the administrative division code of 金水区 (410105).
A test fails when the checked-in file differs from what this script produces.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

VERSION = "jinshui-demo-2026.12.1"
OUT = Path(__file__).resolve().parents[1] / "src" / "yima_routing" / "data" / "jinshui_directory.json"
DISTRICT = "410105"
# Which units handle their cases in yima's own console (the mediation service takes their work orders): the
# district centre, the court centre, the committees and studios, streets, communities and grids; district
# departments (police, labour bureau, …) run their own systems and answer on case.feedback, and so does one
# community, 黄河社区, to show that path in the walking skeleton.
IN_PLATFORM_KINDS = {"district", "court_centre", "committee", "street", "community", "grid"}
OWN_SYSTEM = {"410105001001"}

# (street name, number of communities, villages?, road keywords of its jurisdiction)
STREETS = [
    ("丰产路街道", 13, False, ["丰产路", "黄河路", "农业路"]),
    ("经八路街道", 12, False, ["经八路", "经七路", "红专路"]),
    ("花园路街道", 13, False, ["花园路", "纬一路", "纬二路"]),
    ("人民路街道", 11, False, ["人民路", "太康路", "二七路"]),
    ("杜岭街道", 12, False, ["杜岭街", "顺河路", "城东路"]),
    ("大石桥街道", 12, False, ["大石桥", "文化路南段", "黄河路西段"]),
    ("南阳路街道", 13, False, ["南阳路", "金水路西段", "嵩山北路"]),
    ("南阳新村街道", 12, False, ["南阳新村", "黄河东路", "工人路"]),
    ("文化路街道", 13, False, ["文化路", "东风路", "北环路"]),
    ("东风路街道", 13, False, ["东风东路", "中州大道", "政六街"]),
    ("北林路街道", 12, False, ["北林路", "国基路西段", "沙口路"]),
    ("未来路街道", 13, False, ["未来路", "金水东路", "经三路"]),
    ("凤凰台街道", 12, False, ["凤凰台", "国基路", "东三街"]),
    ("国基路街道", 13, False, ["国基路东段", "天明路", "信息学院路"]),
    ("杨金路街道", 14, True, ["杨金路", "金杨路", "中州大道北段"]),
    ("丰庆路街道", 13, False, ["丰庆路", "三全路", "兴隆铺路"]),
    ("兴达路街道", 13, True, ["兴达路", "长兴路", "文化北路"]),
]
KEEP = {  # codes other services, docs and tests already use
    (0, 0): ("黄河社区", ["黄河路", "黄河小区"]),
    (0, 1): ("农业路社区", ["农业路", "农科路"]),
    (1, 0): ("经八路社区", ["经八路", "省委家属院"]),
}
COMMUNITY_STEMS = list(
    "金桥 银河 锦华 顺河 瑞祥 宏达 新苑 兴华 文博 政通 东明 兴隆 翠竹 康乐 福元 丰华 裕华 鑫苑 北林 "
    "园田 龙湖 绿城 博学 育才 东关 西里 南关 河滨 嘉园 华庭 东方 建业 盛世 颐和 曙光 朝阳 "
    "阳光 桐柏 柳林 姚桥 大河 如意 鸿宝 长安 金色 文锦 雅居 龙源 鑫港 和谐".split()
)
VILLAGE_STEMS = "杨庄 王庄 刘庄 前程 后程 宋庄 陈庄 贾岗 小周庄 马林 郭庄 岗李 姚砦 东赵 沙门 小魏".split()

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶")
SURNAMES += ["欧阳", "司马", "上官", "诸葛"]
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红红梅晓东海燕春雷鹏飞")
MINORITY = ["买买提·艾力", "阿依古丽·吐尔逊", "热依拉·买买提", "古丽娜尔·艾买提", "扎西·多吉"]

DEPARTMENTS = [  # code, name, fields of competence
    ("JSQ-RSJ", "金水区人力资源和社会保障局", ["labour_wages"]),
    ("JSQ-SFJ", "金水区司法局", []),
    ("JSQ-ZJJ", "金水区住房和城乡建设局", ["property_management", "demolition"]),
    ("JSQ-WJW", "金水区卫生健康委员会", ["medical"]),
    ("JSQ-SCJ", "金水区市场监督管理局", ["consumer"]),
    ("JSQ-MZJ", "金水区民政局", ["marriage_family"]),
    ("JSQ-FL", "金水区妇女联合会", ["marriage_family"]),
    ("JSQ-HBJ", "郑州市生态环境局金水分局", ["environment"]),
    ("JSQ-ZRZY", "郑州市自然资源和规划局金水分局", ["land_forest"]),
    ("JSQ-JYJ", "金水区教育局", []),
    ("JSQ-JJDD", "郑州市公安局交通警察支队金水大队", ["road_traffic"]),
]
COMMITTEES = [
    ("JSQ-LDTJ", "金水区劳动争议人民调解委员会", ["labour_wages"]),
    ("JSQ-YLTJ", "金水区医疗纠纷人民调解委员会", ["medical"]),
    ("JSQ-WYTJ", "金水区物业纠纷人民调解委员会", ["property_management"]),
    ("JSQ-HJTJ", "金水区婚姻家庭纠纷人民调解委员会", ["marriage_family"]),
    ("JSQ-JTTJ", "金水区道路交通事故纠纷人民调解委员会", ["road_traffic"]),
    ("JSQ-XFTJ", "金水区消费纠纷人民调解委员会", ["consumer"]),
    ("JSQ-HJWR", "金水区环境污染纠纷人民调解委员会", ["environment"]),
    ("JSQ-JDTJ", "金水区借贷合同纠纷人民调解委员会", ["contract_debt"]),
]
DOCKING = [  # 六调对接: the court-attached centre plus the docking points
    ("JSQ-JCDJ", "金水区人民检察院检调对接工作室", "procuratorate"),
    ("JSQ-GADJ", "郑州市公安局金水分局公调对接工作室", "police"),
    ("JSQ-XFDJ", "金水区信访局访调对接工作室", "petition"),
    ("JSQ-GZDJ", "郑州市黄河公证处公证调解对接点", "notary"),
    ("JSQ-ZCDJ", "郑州仲裁委员会金水区仲调对接点", "arbitration"),
]
STUDIOS = [  # personal mediation studios (个人调解工作室): street index, name, fields
    (0, "老杨调解工作室", ["neighbour", "marriage_family"]),
    (2, "王大姐调解工作室", ["marriage_family"]),
    (6, "老兵调解工作室", ["neighbour", "property_management"]),
    (9, "金牌调解员刘芳工作室", ["labour_wages", "contract_debt"]),
    (14, "乡贤宋老调解工作室", ["land_forest", "neighbour"]),
]
SPECIAL_GRIDS = [  # 专属网格: street index, suffix, name, kind of place
    (2, "ZS01", "河南省人民医院专属网格", "hospital"),
    (8, "ZS01", "郑州大学（南校区）专属网格", "school"),
    (14, "ZS01", "金水科教园区专属网格", "industrial_park"),
    (11, "ZS01", "正弘城商业综合体专属网格", "enterprise"),
]


class Names:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def person(self) -> str:
        while True:
            if self.rng.random() < 0.02:
                name = self.rng.choice(MINORITY)
            else:
                given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))
                name = self.rng.choice(SURNAMES) + given
            if name not in self.used or len(self.used) > 5000:
                self.used.add(name)
                return name


def generate() -> dict[str, Any]:
    rng = random.Random(20261123)
    names = Names(rng)
    units: list[dict[str, Any]] = []
    staff: list[dict[str, Any]] = []

    def unit(code: str, name: str, kind: str, parent: str | None, **extra: Any) -> None:
        u: dict[str, Any] = {"code": code, "name": name, "kind": kind}
        if parent:
            u["parent"] = parent
        u.update({k: v for k, v in extra.items() if v})
        if kind in IN_PLATFORM_KINDS and code not in OWN_SYSTEM and not code.startswith(tuple(OWN_SYSTEM)):
            u["in_platform"] = True
        units.append(u)

    def people(code: str, roles: list[str]) -> None:
        for i, role in enumerate(roles, 1):
            staff.append({"id": f"{code}-{i:02d}".lower(), "name": names.person(), "unit": code, "role": role})

    unit(DISTRICT, "金水区矛盾纠纷多元化解中心", "district", None)
    people(DISTRICT, ["admin", "dispatcher", "dispatcher", "leader", "leader", "analyst", "mediator"])
    unit("JSQ-FYSD", "金水区人民法院诉调对接中心", "court_centre", DISTRICT, subkind="docking",
         docking="court", fields=["contract_debt"])
    people("JSQ-FYSD", ["dispatcher", "mediator", "mediator", "mediator"])
    for code, name, fields in DEPARTMENTS:
        unit(code, name, "department", DISTRICT, fields=fields)
        people(code, ["dispatcher", "mediator"])
    for code, name, fields in COMMITTEES:
        unit(code, name, "committee", DISTRICT, fields=fields)
        people(code, ["dispatcher", "mediator", "mediator", "mediator"])
    for code, name, point in DOCKING:
        unit(code, name, "department", DISTRICT, subkind="docking", docking=point)
        people(code, ["dispatcher", "mediator"])

    communities: list[str] = []
    stems = [a + b for a in COMMUNITY_STEMS for b in ("", "花园", "新村", "路", "里")]
    rng.shuffle(stems)
    village_stems = list(VILLAGE_STEMS)
    for s, (street_name, n_comm, villages, roads) in enumerate(STREETS):
        street = f"{DISTRICT}{s + 1:03d}"
        unit(street, street_name, "street", DISTRICT, jurisdiction=roads)
        people(street, ["admin", "dispatcher", "dispatcher", "leader", "leader", "mediator", "mediator"])
        for c in range(n_comm):
            code = f"{street}{c + 1:03d}"
            if (s, c) in KEEP:
                cname, keywords = KEEP[(s, c)]
            elif villages and c >= n_comm - 4 and village_stems:
                stem = village_stems.pop(0)
                cname, keywords = f"{stem}村", [f"{stem}村", stem]
            else:
                stem = stems.pop()
                cname, keywords = f"{stem}社区", [f"{stem}小区", f"{stem}社区"]
            unit(code, cname, "community", street, jurisdiction=keywords)
            people(code, ["dispatcher", "mediator", "mediator"])
            communities.append(code)
            for g in range(3):
                gcode = f"{code}G{g + 1:02d}"
                unit(gcode, f"{cname}第{'一二三'[g]}网格", "grid", code)
                people(gcode, ["grid_worker"])
    for s, suffix, name, place in SPECIAL_GRIDS:
        street = f"{DISTRICT}{s + 1:03d}"
        unit(f"{street}{suffix}", name, "grid", street, subkind="special", place=place)
        people(f"{street}{suffix}", ["grid_worker"])
    for i, (s, name, fields) in enumerate(STUDIOS, 1):
        code = f"{DISTRICT}{s + 1:03d}GR{i:02d}"
        unit(code, name, "committee", f"{DISTRICT}{s + 1:03d}", subkind="studio", fields=fields)
        people(code, ["mediator"])
    # Every community (and village) has its own admin (<code>-04), who manages its grids and staff. Named
    # from a generator of their own, so everyone named before keeps their name.
    admin_names = Names(random.Random(20261206))
    for code in communities:
        staff.append({"id": f"{code}-04", "name": admin_names.person(), "unit": code, "role": "admin"})
    return {"version": VERSION, "units": units, "staff": staff}


def render() -> str:
    return json.dumps(generate(), ensure_ascii=False, indent=0, sort_keys=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    data = generate()
    kinds: dict[str, int] = {}
    for u in data["units"]:
        kinds[u["kind"]] = kinds.get(u["kind"], 0) + 1
    print(f"{OUT.name}: {len(data['units'])} units {kinds}, {len(data['staff'])} staff", file=sys.stderr)
