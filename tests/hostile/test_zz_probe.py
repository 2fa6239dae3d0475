from tests.hostile.conftest import submission
async def test_probe(loop):
    case = await loop.completed(submission())
    for body in ({"satisfaction": "basic", "score": None}, {"satisfaction": "basic"}):
        r = await loop.intake.post(f"/v1/requests/{case['tracking_no']}/rating", json=body, headers={"X-Tracking-Secret": case["tracking_secret"]})
        print(r.status_code, r.text)
    r = await loop.scoring.post("/v1/ratings/by-platform", json={"satisfaction": "basic", "score": None, "tracking_no": case["tracking_no"]}, headers=loop.org.auth("admin"))
    print(r.status_code, r.text)
