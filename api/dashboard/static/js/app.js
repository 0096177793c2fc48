// The dashboard: settings, hash routes (#/, #/datasets/<name>, #/jobs, #/jobs/<id>) and page lifecycles.

import { config, loadConfig, saveConfig } from "./api.js";
import { h, fill, notify } from "./dom.js";
import * as datasetsPage from "./pages/datasets.js";
import * as datasetPage from "./pages/dataset.js";
import * as jobsPage from "./pages/jobs.js";
import * as jobPage from "./pages/job.js";

const routes = [
  [/^#?\/?$/, datasetsPage],
  [/^#\/datasets\/([^/]+)$/, datasetPage],
  [/^#\/jobs\/?$/, jobsPage],
  [/^#\/jobs\/([^/]+)$/, jobPage],
];

let cleanup = null;

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const main = document.getElementById("main");
  const hash = location.hash || "#/";
  for (const [pattern, page] of routes) {
    const match = hash.match(pattern);
    if (match) {
      const params = match.slice(1).map(decodeURIComponent);
      cleanup = page.render(main, ...params) || null;
      const section = hash.split("/")[1] === "jobs" ? "#/jobs" : "#/";
      for (const link of document.querySelectorAll("nav a")) {
        const active = link.getAttribute("href") === section;
        if (active) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
      return;
    }
  }
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "#/" }, "Back to the datasets")));
}

function showApi() {
  document.getElementById("api-note").textContent = config.base ? `API ${config.base}` : "";
}

function setupSettings() {
  showApi();
  const form = document.getElementById("settings-form");
  form.api.value = config.base;
  form.token.value = config.token;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveConfig(form.api.value, form.token.value);
    showApi();
    document.getElementById("settings").open = false;
    notify(`Using the API at ${config.base || location.origin}`);
    route();
  });
}

loadConfig();
setupSettings();
window.addEventListener("hashchange", route);
route();
