// The dashboard: settings, hash routes (#/, #/datasets/<name>, #/jobs, #/jobs/<id>, #/compare?jobs=…,
// #/deployments, #/deployments/<name>, #/datasets/<name>/review) and page lifecycles.

import { config, loadConfig, saveConfig } from "./api.js";
import { h, fill, notify } from "./dom.js";
import * as datasetsPage from "./pages/datasets.js";
import * as datasetPage from "./pages/dataset.js";
import * as jobsPage from "./pages/jobs.js";
import * as jobPage from "./pages/job.js";
import * as comparePage from "./pages/compare.js";
import * as deploymentsPage from "./pages/deployments.js";
import * as deploymentPage from "./pages/deployment.js";
import * as reviewPage from "./pages/review.js";

const routes = [
  [/^#?\/?$/, datasetsPage],
  [/^#\/datasets\/([^/]+)$/, datasetPage],
  [/^#\/datasets\/([^/]+)\/compare$/, { render: comparePage.renderDataset }],
  [/^#\/jobs\/?$/, jobsPage],
  [/^#\/jobs\/([^/]+)$/, jobPage],
  [/^#\/compare\/?(?:\?(.*))?$/, comparePage],
  [/^#\/deployments\/?$/, deploymentsPage],
  [/^#\/deployments\/([^/]+)$/, deploymentPage],
  [/^#\/datasets\/([^/]+)\/review(?:\?(.*))?$/, reviewPage],
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
      // An optional group that did not match (a compare page without a query) is "", not "undefined".
      const params = match.slice(1).map((p) => decodeURIComponent(p || ""));
      cleanup = page.render(main, ...params) || null;
      const top = hash.split("/")[1];
      const section = /^(jobs|compare)\b/.test(top) ? "#/jobs" : /^deployments\b/.test(top) ? "#/deployments" : "#/";
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
