// A dataset's review queue: the clips devices sent (review = unreviewed), each heard and then kept as a positive,
// kept as a negative, or discarded. Unreviewed clips never train a model until a person has said what they are.

import { api, authedUrl, subscribe } from "../api.js";
import { h, fill, debounce, notify, showError, fmtAgo, fmtDate } from "../dom.js";

const PAGE = 100;
const VERDICTS = [
  ["positive", "It was me: positive", "primary", (name) => `Kept ${name} as a positive`],
  ["negative", "False trigger: negative", "", (name) => `Kept ${name} as a negative: the model learns not to wake on it`],
  ["discard", "Discard", "danger", (name) => `Moved ${name} to the trash`],
];

export function render(main, name, query) {
  const dataset = encodeURIComponent(name);
  const from = new URLSearchParams(query || "").get("deployment");
  const count = h("p", { class: "muted review-total", "aria-live": "polite" });
  const list = h("div", { class: "review-list" }, h("p", { class: "muted" }, "Loading…"));
  const back = [h("a", { href: `#/datasets/${dataset}` }, `← ${name}`)];
  if (from) back.push(" · ", h("a", { href: `#/deployments/${encodeURIComponent(from)}` }, `deployment ${from}`));
  fill(main,
    h("p", {}, back),
    h("h1", {}, `Review clips of ${name}`),
    h("p", { class: "muted" }, "Detections and near misses your devices sent. Listen to each: was it you saying the wake phrase? ",
      "Reviewed clips join the dataset and the next training; until then they train nothing."),
    h("section", { class: "card", "aria-labelledby": "queue-title" }, h("h2", { id: "queue-title" }, "Waiting for review"), count, list),
  );

  let alive = true;
  let audio = null;
  function stop() {
    if (audio) {
      audio.pause();
      audio.idle();
    }
    audio = null;
  }

  async function refresh() {
    try {
      const page = await api.get(`/datasets/${dataset}/recordings`, { review: "unreviewed", sort: "-created_at", limit: PAGE });
      if (!alive) return;
      count.textContent = page.total
        ? `${page.total} clip${page.total === 1 ? "" : "s"} to review${page.total > page.items.length ? `; the newest ${page.items.length} are here` : ""}.`
        : "";
      fill(list, page.items.length
        ? page.items.map((clip) => item(clip))
        : h("p", { class: "ok review-done" }, "Nothing to review.", from ? [" ", h("a", { href: `#/deployments/${encodeURIComponent(from)}` }, "Back to the deployment to retrain")] : null));
    } catch (err) {
      if (alive) fill(list, h("p", { class: "error" }, err.detail || String(err)));
    }
  }

  function item(clip) {
    const label = clip.original_filename || `clip ${clip.id.slice(0, 8)}`;
    const play = h("button", { type: "button", class: "small", "aria-label": `Play ${label}` }, "▶ Play");
    const idle = () => {
      play.textContent = "▶ Play";
      play.setAttribute("aria-label", `Play ${label}`);
    };
    play.addEventListener("click", async () => {
      const same = audio && audio.button === play;
      stop();
      if (same) return;
      audio = new Audio(authedUrl(clip.audio_url));
      audio.button = play;
      audio.idle = idle;
      audio.addEventListener("ended", stop);
      play.textContent = "■ Stop";
      play.setAttribute("aria-label", `Stop ${label}`);
      try {
        await audio.play();
      } catch (err) {
        stop();
        showError(err, "Cannot play the clip");
      }
    });
    const buttons = VERDICTS.map(([verdict, text, kind, said]) => {
      const button = h("button", { type: "button", class: kind || null, "data-verdict": verdict }, text);
      button.addEventListener("click", async () => {
        for (const b of row.querySelectorAll("button[data-verdict]")) b.disabled = true;
        try {
          await api.post(`/datasets/${dataset}/recordings/${clip.id}/review`, { verdict });
          stop();
          notify(said(label));
          row.remove();
          refresh();
        } catch (err) {
          showError(err, "Could not save the review");
          for (const b of row.querySelectorAll("button[data-verdict]")) b.disabled = false;
        }
      });
      return button;
    });
    const row = h("article", { class: "review-item", "data-clip": clip.id, "aria-label": label },
      h("div", { class: "review-what" },
        play,
        h("div", {},
          h("p", { class: "review-notes" }, clip.notes || label),
          h("p", { class: "muted" },
            clip.speaker ? `from ${clip.speaker} · ` : "",
            `${clip.duration_s.toFixed(1)} s · guessed `, h("span", { class: `chip ${clip.label}` }, clip.label), " · ",
            h("span", { title: fmtDate(clip.created_at) }, fmtAgo(clip.created_at))),
        ),
      ),
      h("div", { class: "row tight review-actions" }, buttons),
    );
    return row;
  }

  refresh();
  const later = debounce(refresh, 300);
  const source = subscribe("/events", { dataset: name }, (event) => {
    if (event.type.startsWith("dataset.clip")) later();
  }, later);
  return () => {
    alive = false;
    stop();
    source.close();
  };
}
