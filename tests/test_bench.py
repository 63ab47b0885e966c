"""The benchmark's command line and JSON format (it measures; tests never time anything)."""

import json
import subprocess
import sys


def test_bench_writes_the_documented_json(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "dmsim.bench", "--size", "S", "--no-reference", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    s = data["S"]
    assert {"wall_s", "peak_mem_mb", "months", "buyer_groups", "workshops"} <= s.keys()
    assert s["months"] == 120 and s["buyer_groups"] == 2060
    assert set(s["ms_per_month"]) == {"pricing", "market", "accounting", "decisions", "data_collection"}
    assert "machine" in data
    assert "ms/month" in r.stdout
