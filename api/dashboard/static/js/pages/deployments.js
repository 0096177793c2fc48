// The deployments page: every deployment with the model it serves and how many devices listen to it.

import { api, subscribe } from "../api.js";
import { h, fill, debounce, fmtAgo, fmtDate, fmtNum, tableWrap } from "../dom.js";

export function render(main) {
  const list = tableWrap(h("p", { class: "muted" }, "Loading deployments…"));
  fill(main,
    h("h1", {}, "Deployments"),
    h("p", { class: "muted" }, "A deployment is a name devices follow: promote a newer model and every device picks it up at its next poll. ",
      "Deploy a model from a succeeded training job's page."),
    h("section", { class: "card", "aria-labelledby": "deployments-title" }, h("h2", { id: "deployments-title" }, "All deployments"), list));

  let alive = true;
  async function refresh() {
    try {
      // Devices come from their own listing: one request for all of them rather than one per deployment.
      const [deployments, devices] = await Promise.all([api.get("/deployments"), api.get("/devices")]);
      if (alive) fill(list, deploymentTable(deployments, devices));
    } catch (err) {
      if (alive) fill(list, h("p", { class: "error" }, err.detail || String(err)));
    }
  }
  refresh();
  const later = debounce(refresh, 300);
  const source = subscribe("/events", {}, (event) => {
    if (event.type === "deployment.updated") later();
  }, later);
  // Devices report without events: the "last seen" column follows a slow poll.
  const timer = setInterval(refresh, 15_000);
  return () => {
    alive = false;
    clearInterval(timer);
    source.close();
  };
}

function deploymentTable(deployments, devices) {
  if (!deployments.length) {
    return h("p", { class: "muted" }, "No deployments yet: open a succeeded training job and press Deploy.");
  }
  const byDeployment = new Map();
  for (const device of devices) {
    if (device.revoked) continue;
    const list = byDeployment.get(device.deployment) || [];
    list.push(device);
    byDeployment.set(device.deployment, list);
  }
  return h("table", { class: "deployments" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Current job"), h("th", { scope: "col" }, "Wake phrase"),
      h("th", { scope: "col", class: "num" }, "Version"), h("th", { scope: "col", class: "num" }, "Threshold"),
      h("th", { scope: "col", class: "num" }, "Devices"), h("th", { scope: "col" }, "Last device seen"),
    )),
    h("tbody", {}, deployments.map((d) => {
      const mine = byDeployment.get(d.name) || [];
      const seen = mine.map((x) => x.last_seen_at).filter(Boolean).sort().pop();
      return h("tr", { "data-deployment": d.name },
        h("th", { scope: "row" }, h("a", { href: `#/deployments/${encodeURIComponent(d.name)}` }, d.name)),
        h("td", {}, h("a", { href: `#/jobs/${d.job_id}` }, d.job_id.slice(0, 8)), h("span", { class: "muted" }, ` ${d.dataset}`)),
        h("td", { class: "phrase" }, d.phrase || ""),
        h("td", { class: "num", "data-col": "version" }, `v${d.version}`),
        h("td", { class: "num", "data-col": "threshold" }, fmtNum(d.threshold, 3)),
        h("td", { class: "num", "data-col": "devices" }, mine.length),
        h("td", { "data-col": "seen", title: seen ? fmtDate(seen) : null }, fmtAgo(seen, mine.length ? "never" : "–")),
      );
    })),
  );
}
