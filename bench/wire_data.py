"""Realistic registrations for the wire benchmark: ~1 KB of JSON each, no real person.

Names, valid 18-digit ID numbers (GB 11643 check character), mobile numbers,
item codes and 8-15 form fields, drawn from a seeded generator.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美兰霞平刚桂英玉萍红梅鑫波斌宇浩凯健"
    "俊帆帅旭宁龙林欣佳雪琳晨辉鹏飞建国志强海燕春秋文武德才"
)
AREAS = ["431002", "431003", "431021", "431022", "431023", "431024", "431025", "431026",
         "431027", "431028", "431081"]
TOWNS = ["良田镇", "五里牌镇", "华塘镇", "许家洞镇", "坳上镇", "桥口镇", "栖凤渡镇", "瓦窑坪镇"]
VILLAGES = ["石桥村", "大坪村", "柳树湾村", "新屋村", "塘下村", "高山村", "龙泉村", "枫木村"]
ITEMS = {
    "MZ-0203": "特困人员救助供养",
    "MZ-0101": "最低生活保障",
    "CL-3307": "残疾人两项补贴",
    "NY-5502": "耕地地力保护补贴",
    "RS-1102": "城乡居民基本养老保险参保登记",
    "YB-0405": "城乡居民医疗保险参保",
    "ZJ-2201": "农村危房改造",
    "JY-0310": "家庭经济困难学生资助",
    "WJ-0107": "生育登记",
    "GA-0902": "居住证申领",
}
FIELD_POOL: list[tuple[str, Callable[[random.Random], object]]] = [
    ("household_size", lambda r: r.randint(1, 8)),
    ("household_register", lambda r: r.choice(["农业户口", "非农业户口"])),
    ("address", lambda r: f"{r.choice(TOWNS)}{r.choice(VILLAGES)}{r.randint(1, 12)}组"
                          f"{r.randint(1, 99)}号"),
    ("monthly_income", lambda r: r.randint(0, 4000)),
    ("bank", lambda r: r.choice(["农村商业银行", "邮政储蓄银行", "农业银行"])),
    ("bank_account", lambda r: "".join(r.choice("0123456789") for _ in range(19))),
    ("reason", lambda r: r.choice([
        "家庭成员患重病，医疗支出大，生活困难，申请救助。",
        "本人年老体弱，无劳动能力，无生活来源，无法定赡养人。",
        "因灾导致房屋受损，家庭收入明显下降，需要帮扶。",
        "子女在读，家庭经济负担重，收入低于当地标准。",
    ])),
    ("disability_level", lambda r: r.choice(["一级", "二级", "三级", "四级", "无"])),
    ("land_area_mu", lambda r: round(r.uniform(0.5, 12.0), 1)),
    ("crop", lambda r: r.choice(["水稻", "玉米", "油菜", "烤烟", "柑橘"])),
    ("house_structure", lambda r: r.choice(["砖木结构", "土木结构", "砖混结构"])),
    ("school", lambda r: r.choice(["北湖区第一中学", "苏仙区实验小学", "郴州职业技术学院"])),
    ("contact_name", lambda r: r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(GIVEN)),
    ("contact_relation", lambda r: r.choice(["配偶", "子女", "父母", "兄弟姐妹"])),
    ("contact_phone", lambda r: mobile(r)),
    ("remarks", lambda r: r.choice(["材料齐全", "需上门核查", "加急办理", "已电话核实"])),
    ("marital_status", lambda r: r.choice(["已婚", "未婚", "离异", "丧偶"])),
    ("employment", lambda r: r.choice(["务农", "外出务工", "无业", "个体经营"])),
]
MATERIALS = [("M01", "居民身份证"), ("M02", "户口簿"), ("M03", "收入证明"),
             ("M04", "残疾人证"), ("M05", "银行卡复印件"), ("M06", "房屋照片"),
             ("M07", "村委会证明")]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 3, 6, 1, 5, 0]
CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    return CHECK[total % 11]


def id_number(r: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=r.randint(0, 365 * 65))
    first17 = f"{r.choice(AREAS)}{born:%Y%m%d}{r.randint(0, 999):03d}"
    return first17 + check_character(first17)


def mobile(r: random.Random) -> str:
    return r.choice(["13", "15", "17", "18", "19"]) + "".join(
        r.choice("0123456789") for _ in range(9))


def registrations(n: int, *, seed: int = 7, origin: str = "431002001201"
                  ) -> list[dict[str, Any]]:
    """``n`` registrations as the node records them, in registration order."""
    r = random.Random(seed)
    at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    out = []
    for _ in range(n):
        at += timedelta(seconds=r.randint(30, 900))
        item = r.choice(list(ITEMS))
        fields = r.sample(FIELD_POOL, r.randint(8, 15))
        out.append({
            "case_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "origin": origin,
            "actor": f"agent{r.randint(1, 3)}@{origin}",
            "at": at.isoformat().replace("+00:00", "Z"),
            "type": "registered",
            "payload": {
                "item_code": item,
                "item_name": ITEMS[item],
                "applicant": {
                    "name": r.choice(SURNAMES) + "".join(r.choice(GIVEN)
                                                         for _ in range(r.randint(1, 2))),
                    "id_number": id_number(r),
                    "phone": mobile(r),
                },
                "form": {k: make(r) for k, make in fields},
                "materials": [
                    {"code": code, "name": name, "size": r.randint(80_000, 900_000),
                     "sha256": f"{r.getrandbits(256):064x}"}
                    for code, name in r.sample(MATERIALS, r.randint(2, 3))
                ],
                "delivery": r.choice(["village", "window", "courier"]),
            },
        })
    return out
