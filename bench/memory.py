"""Memory of the embedded service around a large synthesize job: RSS before, at the peak and after.

The embedded worker runs jobs in the API's process; a large job's thousands of clip-sized arrays are freed when it
ends, and the worker hands the freed heap back to the system (malloc_trim), so the server shrinks back.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import httpx


def rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=harness.positive_int, default=1500, help="positives (x3 clips in all)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="wake-memory-"))
    cli = Path(sys.executable).parent / "wake-training"
    port = harness.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAKE_TRAINING_")}
    env["WAKE_TRAINING_DATA_DIR"] = str(folder / "volume")
    log = folder / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen([cli, "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        harness.wait_healthy(url, process.poll, log)
        with httpx.Client(base_url=url, timeout=60) as http:
            http.post("/datasets", json={"name": "big"}).raise_for_status()
            before = rss_mb(process.pid)
            job = http.post("/datasets/big/synthesize", json={"phrase": "hey jarvis", "count": args.count}).json()
            peak = before
            while (state := http.get(f"/jobs/{job['id']}").json())["status"] not in ("succeeded", "failed"):
                peak = max(peak, rss_mb(process.pid))
                time.sleep(0.5)
            time.sleep(2)
            after = rss_mb(process.pid)
        print(f"synthesize job {state['status']}: {state['metrics'].get('clips_added', 0)} clips added")
        print(f"server RSS: before {before} MB, peak {peak} MB, after {after} MB ({after - before:+d} MB kept)")
        return 0
    finally:
        harness.stop(process)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
