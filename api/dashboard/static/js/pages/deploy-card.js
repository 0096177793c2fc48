// The Deploy card of a succeeded training job: promote it into an existing deployment or start a new one.

import { api } from "../api.js";
import { h, fill, field, select, notify, showError } from "../dom.js";

const NEW = "";

/** The card, filled once the deployments are loaded; `isAlive` stops it drawing on a page already left. */
export function deployCard(job, isAlive) {
  const target = select("deployment", [[NEW, "New deployment…"]], NEW, { class: "deploy-target" });
  const name = h("input", { name: "name", autocomplete: "off", value: job.dataset, maxlength: 64 });
  const nameField = field("New deployment's name", name, "lowercase letters, digits, - and _");
  const hasInt8 = job.artifacts.some((a) => a.name === "model.int8.onnx");
  const precision = select("precision", hasInt8 ? [["fp32", "fp32"], ["int8", "int8 (smaller, for small boards)"]] : [["fp32", "fp32"]], "fp32");
  const serving = h("p", { class: "muted deployed-as" });
  const submit = h("button", { type: "submit", class: "primary" }, "Deploy");
  const card = h("form", { class: "card deploy", "aria-labelledby": "deploy-title" },
    h("h2", { id: "deploy-title" }, "Deploy to devices"),
    h("p", { class: "muted" }, "Devices registered to a deployment download its model and follow every change to it."),
    serving,
    h("div", { class: "row" }, field("Deploy to", target), nameField, field("Precision", precision)),
    submit,
  );
  card.noValidate = true;
  target.addEventListener("change", () => {
    nameField.hidden = target.value !== NEW;
  });

  api.get("/deployments").then((deployments) => {
    if (!isAlive()) return;
    // This dataset's deployments first: promoting another dataset's model into them is rarely meant.
    const mine = deployments.filter((d) => d.dataset === job.dataset);
    const others = deployments.filter((d) => d.dataset !== job.dataset);
    const option = (d) => h("option", { value: d.name }, `${d.name} (v${d.version}, ${d.dataset}${d.job_id === job.id ? ", serves this job" : ""})`);
    fill(target, h("option", { value: NEW }, "New deployment…"), mine.map(option), others.map(option));
    const here = deployments.filter((d) => d.job_id === job.id);
    serving.textContent = "";
    if (here.length) {
      serving.append("Serving now in ", ...here.flatMap((d, i) => [i ? ", " : "", h("a", { href: `#/deployments/${encodeURIComponent(d.name)}` }, d.name)]), ".");
    }
    if (deployments.some((d) => d.name === name.value)) {
      target.value = mine.length ? mine[0].name : NEW;
      if (target.value === NEW) name.value = "";
    }
    nameField.hidden = target.value !== NEW;
  }, (err) => {
    if (isAlive()) serving.textContent = `The deployments could not be loaded: ${err.detail || err}`;
  });

  card.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      let deployment;
      if (target.value === NEW) {
        deployment = await api.post("/deployments", { name: name.value.trim(), job_id: job.id, precision: precision.value });
        notify(`Created deployment ${deployment.name}`);
      } else {
        deployment = await api.put(`/deployments/${encodeURIComponent(target.value)}`, { job_id: job.id, precision: precision.value });
        notify(`Promoted into ${deployment.name}: now v${deployment.version}`);
      }
      location.hash = `#/deployments/${encodeURIComponent(deployment.name)}`;
    } catch (err) {
      showError(err, "Could not deploy");
    } finally {
      submit.disabled = false;
    }
  });
  return card;
}
