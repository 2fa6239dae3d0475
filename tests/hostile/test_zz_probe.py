from tests.hostile.probes import PROBES, Resources
import json

async def test_probe(loop, reset_rate_limits):
    rs = Resources(loop)
    out = []
    for probe in PROBES[-8:]:
        row = [probe.name]
        ml = probe.max_length or 60
        values = {
            "nul": "ab\x00cdef",
            "esc": "ab\x1b[2Jcdef",
            "del": "ab\x7fcdef",
            "c1": "ab\x9bcdef",
            "surr": "ab\ud800cdef",
            "max4": "\U00020000" * ml,
            "over": "\U00020000" * (ml + 1),
            "graph": "e" + "\u0301" * (ml - 1),
        }
        for name, v in values.items():
            reset_rate_limits()
            fresh = name in ("max4", "graph", "esc", "del", "c1")
            try:
                r = await probe.send(rs, v, fresh)
                code = r.status_code
                if code < 300:
                    rs.spoil()
                extra = ""
                if code >= 400:
                    try:
                        b = r.json()
                        if isinstance(b, dict):
                            e = b["error"]
                            extra = e["code"] + ":" + ",".join(d.get("type","") for d in (e.get("details") or []) if isinstance(d, dict))
                        else:
                            extra = str(b)[:60]
                    except Exception as ex:
                        extra = "nonjson:" + r.text[:60]
                row.append(f"{name}={code}{'('+extra+')' if extra else ''}")
            except Exception as ex:
                rs.spoil()
                row.append(f"{name}=EXC {type(ex).__name__}: {str(ex)[:100]}")
        out.append(" | ".join(row))
    print("\n".join(out))
