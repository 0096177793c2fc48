"""Deployments in the browser: deploy a trained job, register a device, promote, roll back, review what devices sent."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from shared.training_config import TrainingConfig
from tests import test_dashboard as dashboard
from tests.audio_factory import encode, tone, wav_bytes
from tests.processes import Server
from tests.test_dashboard import SCREENSHOTS, Tab, expect, wait_for_status

# The dashboard tests' browser (Debian's Chromium, headless), `wake-training serve` and page, shared with them.
fake_microphone = dashboard.fake_microphone
browser = dashboard.browser
server = dashboard.server
tab = dashboard.tab

pytestmark = pytest.mark.e2e

# Quick trainings: the tests deploy models, they do not judge them.
QUICK = {"epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "background_speech_s": 0}
TOKEN = re.compile(r"^wtd_[A-Za-z0-9_-]{43}$")


def trained_dataset(url: str, name: str, jobs: int) -> list[str]:
    """A dataset of tones with `jobs` succeeded quick trainings; their ids, oldest first."""
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/datasets", json={"name": name, "wake_phrase": f"hey {name}"}).raise_for_status()
        for label, freq in (("positive", 900.0), ("negative", 250.0)):
            files = [("files", (f"{label}-{i}.wav", encode(tone(1.0, freq=freq, seed=i), 16_000))) for i in range(10)]
            http.post(f"/datasets/{name}/recordings", files=files, data={"label": label}).raise_for_status()
        ids = []
        for seed in range(jobs):
            body = {"dataset": name, "preset": "tiny", "config_overrides": {**QUICK, "seed": seed}}
            ids.append(http.post("/train", json=body).raise_for_status().json()["id"])
        for job_id in ids:
            wait_for_status(http, job_id, "succeeded")
    return ids


def shoot(tab: Tab, name: str, locator: Any | None = None) -> None:
    """Screenshots at a desktop's and a phone's width; at neither is the page wider than the window."""
    page = tab.page
    # The notices of what was just done would cover the page's top in the pictures.
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        if locator is not None:
            locator.scroll_into_view_if_needed()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, f"{name} is wider than {width} px"
        if locator is None:
            tab.screenshot(f"{name}-{width}")
        else:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            locator.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"))
            box = locator.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{name} is cut off at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def poll_as_device(url: str, deployment: str, token: str, version: int, sha256: str) -> httpx.Response:
    """One poll of the bundle as wake-edge makes it, saying which version it runs."""
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Wake-Edge-Version": str(version),
        "X-Wake-Edge-Model-Sha256": sha256,
    }
    return httpx.get(f"{url}/deployments/{deployment}/bundle", headers=headers)


def test_a_job_is_deployed_a_device_registered_then_another_job_promoted_and_rolled_back(
    server: Server, tab: Tab
) -> None:
    first, second = trained_dataset(server.url, "desk", jobs=2)
    page = tab.page
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)

    # The job page's Deploy card makes a new deployment and goes to it.
    page.goto(f"{server.url}/#/jobs/{first}")
    card = page.locator("form.deploy")
    expect(card.get_by_label("Deploy to")).to_have_value("")
    expect(card.get_by_label("New deployment's name")).to_have_value("desk")
    card.get_by_label("New deployment's name").fill("desk-kitchen")
    shoot(tab, "24-deploy-card", card)
    card.get_by_role("button", name="Deploy").click()
    page.wait_for_url(re.compile(r"#/deployments/desk-kitchen$"))
    deployment = httpx.get(f"{server.url}/deployments/desk-kitchen").json()
    assert (deployment["job_id"], deployment["version"]) == (first, 1)
    expect(page.locator(".badge.version")).to_have_text("v1")
    current = page.locator("dl.current")
    expect(current.locator("[data-field=sha256]")).to_have_text(deployment["model_sha256"][:12])
    expect(current).to_contain_text(f"{first[:8]}")
    expect(current).to_contain_text("fp32")
    expect(current.locator("[data-field=threshold]")).to_have_text(re.compile(r"^0\.\d+$"))
    # Trying the served model in the browser happens on its job's page, which has the panel.
    expect(current.locator("[data-field=try-live]")).to_have_attribute("href", f"#/jobs/{deployment['job_id']}")
    expect(page.get_by_role("button", name="Roll back")).to_be_disabled()

    # Registering a device shows its token once, with the command lines that use it.
    devices = page.locator("section[aria-labelledby=devices-title]")
    devices.get_by_label("Device name").fill("kitchen-pi")
    devices.get_by_label("Send the audio of each detection here for review").check()
    devices.get_by_role("button", name="Register device").click()
    panel = page.locator(".token-panel")
    token = panel.locator("[data-token]").inner_text()
    assert TOKEN.match(token), token
    common = f"--server {server.url} --deployment desk-kitchen --token {token}"
    expect(panel.locator("[data-command=run]")).to_have_text(f"wake-edge run {common} --mic")
    expect(panel.locator("[data-command=wyoming]")).to_have_text(
        f"wake-edge wyoming --uri tcp://0.0.0.0:10400 {common}"
    )
    expect(panel).to_contain_text("Wyoming Protocol")
    panel.get_by_role("button", name="Copy the token").click()
    expect(panel.get_by_role("button", name="Copy the token")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    panel.get_by_role("button", name="Copy the run command").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"wake-edge run {common} --mic"
    shoot(tab, "20-register-device", panel)
    row = page.locator("tr[data-device=kitchen-pi]")
    expect(row.locator("[data-col=seen]")).to_have_text("never")
    expect(row.get_by_role("checkbox")).to_be_checked()

    # The token works for the device, and is never shown again.
    assert poll_as_device(server.url, "desk-kitchen", token, 1, deployment["model_sha256"]).status_code == 200
    page.reload()
    expect(row.locator("[data-col=seen]")).to_have_text("just now")
    expect(row.locator("[data-col=running]")).to_have_text("v1")
    assert token not in page.content()

    # Promote the second job: the device, still on v1, is flagged as running an older version.
    promote = page.locator("form", has=page.get_by_role("heading", name="Promote another job"))
    promote.get_by_label("Job").select_option(second)
    promote.get_by_role("button", name="Promote").click()
    expect(page.locator(".badge.version")).to_have_text("v2")
    expect(row.locator("[data-col=running]")).to_contain_text("older than v2")
    expect(page.locator("table.deployment-history tbody tr").first.locator("[data-col=action]")).to_have_text(
        "promoted"
    )

    # Roll back: the first job again, as a new version.
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.locator(".badge.version")).to_have_text("v3")
    expect(current).to_contain_text(first[:8])
    expect(page.locator("table.deployment-history [data-col=action]")).to_have_text(
        ["rolled back", "promoted", "created"]
    )
    assert httpx.get(f"{server.url}/deployments/desk-kitchen").json()["job_id"] == first

    # The consent toggle is the device's setting in the API.
    row.get_by_role("checkbox").uncheck()
    page.get_by_text("kitchen-pi will send no audio").wait_for()
    devices_now = httpx.get(f"{server.url}/devices", params={"deployment": "desk-kitchen"}).json()
    assert [d["report_audio"] for d in devices_now] == [False]
    shoot(tab, "21-deployment")

    # The Deploy card of the second job promotes into the existing deployment.
    page.goto(f"{server.url}/#/jobs/{second}")
    card.get_by_label("Deploy to").select_option("desk-kitchen")
    expect(card.get_by_label("New deployment's name")).to_be_hidden()
    card.get_by_role("button", name="Deploy").click()
    page.wait_for_url(re.compile(r"#/deployments/desk-kitchen$"))
    expect(page.locator(".badge.version")).to_have_text("v4")
    assert httpx.get(f"{server.url}/deployments/desk-kitchen").json()["job_id"] == second

    page.goto(f"{server.url}/#/deployments")
    listed = page.locator("tr[data-deployment=desk-kitchen]")
    expect(listed.locator("[data-col=version]")).to_have_text("v4")
    expect(listed.locator("[data-col=devices]")).to_have_text("1")
    expect(listed.locator("[data-col=seen]")).to_have_text(re.compile(r"just now|\d+ s ago"))
    expect(listed).to_contain_text("hey desk")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Deployments")
    shoot(tab, "22-deployments")

    # Revoke takes two presses; the token stops working at once.
    page.goto(f"{server.url}/#/deployments/desk-kitchen")
    revoke = row.get_by_role("button", name="Revoke kitchen-pi")
    revoke.click()
    expect(revoke).to_have_text("Really revoke?")
    revoke.click()
    expect(row.locator(".badge.cancelled")).to_have_text("revoked")
    assert poll_as_device(server.url, "desk-kitchen", token, 4, "").status_code == 401
    assert tab.unexpected_errors() == []


def report(url: str, token: str, deployment: dict[str, Any], kind: str, score: float, seed: int) -> dict[str, Any]:
    """A device's report of a detection or near miss, with its audio."""
    fields = {
        "kind": kind,
        "score": str(score),
        "threshold": str(deployment["threshold"]),
        "at": "2025-01-01T12:00:00+00:00",
        "model_sha256": deployment["model_sha256"],
        "version": str(deployment["version"]),
    }
    files = {"audio": ("detection.wav", wav_bytes(2.0, seed=seed, freq=600.0 + seed), "audio/wav")}
    response = httpx.post(
        f"{url}/devices/self/reports", data=fields, files=files, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    return response.json()


def test_clips_devices_sent_are_reviewed_in_the_queue_then_the_deployment_retrains_from_its_model(
    server: Server, tab: Tab
) -> None:
    (job_id,) = trained_dataset(server.url, "hall", jobs=1)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        deployment = http.post("/deployments", json={"name": "hall", "job_id": job_id}).raise_for_status().json()
        device = http.post("/devices", json={"name": "hall-pi", "deployment": "hall", "report_audio": True}).json()
    clips = [
        report(server.url, device["token"], deployment, kind, score, seed)
        for kind, score, seed in (("detection", 0.93, 1), ("detection", 0.88, 2), ("near_miss", 0.61, 3))
    ]
    assert all(c["clip_id"] for c in clips)
    me, false_trigger, noise = (c["clip_id"] for c in clips)

    page = tab.page
    page.goto(f"{server.url}/#/datasets/hall")
    expect(page.locator(".review-count")).to_have_text("3 clips to review")
    expect(page.locator("tr[data-clip] .chip.unreviewed")).to_have_count(3)
    shoot(tab, "25-dataset-review-count", page.locator("section.readiness"))
    page.locator(".review-count").click()
    page.wait_for_url(re.compile(r"#/datasets/hall/review$"))
    items = page.locator(".review-item")
    expect(items).to_have_count(3)
    expect(page.locator(f".review-item[data-clip='{me}']")).to_contain_text("hall-pi")
    mine = page.locator(f".review-item[data-clip='{me}']")
    mine.get_by_role("button", name=re.compile("^Play ")).click()
    expect(mine.get_by_role("button", name=re.compile("^Stop "))).to_be_visible()
    shoot(tab, "23-review-queue")

    page.locator(f".review-item[data-clip='{me}']").get_by_role("button", name="It was me: positive").click()
    expect(items).to_have_count(2)
    page.locator(f".review-item[data-clip='{false_trigger}']").get_by_role(
        "button", name="False trigger: negative"
    ).click()
    expect(items).to_have_count(1)
    page.locator(f".review-item[data-clip='{noise}']").get_by_role("button", name="Discard").click()
    page.get_by_text("Nothing to review.").wait_for()

    def clip(clip_id: str) -> dict[str, Any]:
        return httpx.get(f"{server.url}/datasets/hall/recordings/{clip_id}").json()

    assert (clip(me)["label"], clip(me)["review"]) == ("positive", None)
    assert (clip(false_trigger)["label"], clip(false_trigger)["review"]) == ("negative", None)
    assert clip(noise)["deleted"] is True
    page.goto(f"{server.url}/#/datasets/hall")
    page.get_by_text("Enough clips to train.").wait_for()
    expect(page.locator(".review-count")).to_have_count(0)

    # Retrain: an ordinary training of the dataset, from the model the deployment serves.
    page.goto(f"{server.url}/#/deployments/hall")
    page.get_by_text("No clips waiting for review.").wait_for()
    with page.expect_request(lambda r: r.url.endswith("/train") and r.method == "POST") as sent:
        page.get_by_role("button", name="Retrain with reviewed clips").click()
    assert json.loads(sent.value.post_data) == {"dataset": "hall", "config_overrides": {"base_job": job_id}}
    if "base_job" in TrainingConfig.__struct_fields__:
        page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
        job = httpx.get(f"{server.url}/jobs/{page.url.rsplit('/', 1)[1]}").json()
        assert (job["dataset"], job["config"]["base_job"]) == ("hall", job_id)
        assert tab.unexpected_errors() == []
    else:
        # Until fine-tuning lands (feat/personalise), the API refuses the key and the page says so.
        page.get_by_role("alert").filter(has_text="Retraining refused").wait_for()
        assert "base_job" in page.get_by_role("alert").filter(has_text="Retraining refused").inner_text()
        assert tab.unexpected_errors(allowed_statuses={422}) == []


def test_the_deployments_page_says_how_to_make_one_when_there_is_none(server: Server, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{server.url}/#/deployments")
    page.get_by_text("No deployments yet: open a succeeded training job and press Deploy.").wait_for()
    page.goto(f"{server.url}/#/deployments/nowhere")
    page.get_by_role("heading", name="Deployment not found").wait_for()
    assert tab.unexpected_errors(allowed_statuses={404}) == []
