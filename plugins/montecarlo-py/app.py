"""The Monte Carlo scenario in Python: the same requests, check, sleep and options as the Rust
plugin (plugins/montecarlo). Every VU sends ``GET ${BASE_URL}/`` to a CPU-heavy Monte Carlo
endpoint, checks for a 200 and sleeps 0.5 s."""

from volley import Scenario, check, env, http, sleep, world


class MonteCarlo(Scenario):
    options = """
stages = [
  { duration = "2m", target = 100 },
  { duration = "6m", target = 400 },
  { duration = "2m", target = 0 },
]

[thresholds]
http_req_duration = ["p(95)<2000"]
http_req_failed = ["rate<0.01"]
"""

    def iteration(self, data):
        base = env("BASE_URL")
        if base is None:
            raise ValueError("BASE_URL is not set (pass -e BASE_URL=http://host:port)")
        res = http.get(
            f"{base}/",
            headers={"Content-Type": "application/json", "Connection": "keep-alive"},
            timeout=60,
        )
        check(res, {"is status 200": lambda r: r.status == 200})
        sleep(0.5)


WitWorld = world(MonteCarlo)
