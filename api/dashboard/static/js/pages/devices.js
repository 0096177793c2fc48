// A deployment's devices: when each was last seen, the version it runs, its detections, its consent to send audio,
// revoke; and registering a new one, whose token is shown once with the command lines to paste on the device.

import { api, config } from "../api.js";
import { h, fill, field, notify, showError, copyButton, fmtAgo, fmtDate, tableWrap } from "../dom.js";

const WYOMING_PORT = 10400;

/** The devices card of deployment `name`; `show(deployment, devices)` redraws its table. */
export function devicesCard(name) {
  const table = tableWrap(h("p", { class: "muted" }, "Loading devices…"));
  const issued = h("div", { class: "issued", "aria-live": "polite" });
  const register = registerForm(name, (device) => {
    fill(issued, tokenPanel(device, () => fill(issued)));
    issued.querySelector("h3").focus();
  });
  let refresh = () => {};
  const card = h("section", { class: "card", "aria-labelledby": "devices-title" },
    h("h2", { id: "devices-title" }, "Devices"),
    table,
    issued,
    register.form,
  );
  register.onDone = () => refresh();
  return {
    card,
    show(deployment, devices, { poll = false } = {}) {
      refresh = () => api.get("/devices", { deployment: deployment.name }).then((list) => fill(table, deviceTable(deployment, list, refresh)), (err) => showError(err));
      // A poll would take the keyboard user's place (or an armed Revoke) away: it waits until they leave the table.
      if (poll && table.contains(document.activeElement)) return;
      fill(table, deviceTable(deployment, devices, refresh));
    },
  };
}

function deviceTable(deployment, devices, refresh) {
  if (!devices.length) return h("p", { class: "muted" }, "No devices yet: register one below and paste its command line on the device.");
  // Devices still listening first, the revoked ones after them.
  const sorted = [...devices].sort((a, b) => Number(a.revoked) - Number(b.revoked) || a.name.localeCompare(b.name));
  return h("table", { class: "devices" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Device"), h("th", { scope: "col" }, "Running"), h("th", { scope: "col" }, "Last seen"),
      h("th", { scope: "col", class: "num" }, "Detections"), h("th", { scope: "col", class: "num" }, "Last 24 h"),
      h("th", { scope: "col", class: "num" }, "Near misses"), h("th", { scope: "col" }, "Sends audio"),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
    )),
    h("tbody", {}, sorted.map((device) => deviceRow(deployment, device, refresh))),
  );
}

function deviceRow(deployment, device, refresh) {
  const outdated = !device.revoked && device.running_version !== null && device.running_version !== undefined && device.running_version < deployment.version;
  const running = device.running_version === null || device.running_version === undefined
    ? h("span", { class: "muted" }, "–")
    : h("span", {}, `v${device.running_version}`,
      outdated ? h("span", { class: "badge outdated", title: `This deployment is at v${deployment.version}` }, `older than v${deployment.version}`) : null);
  let consent;
  let action;
  if (device.revoked) {
    consent = h("span", { class: "muted" }, device.report_audio ? "yes" : "no");
    action = h("span", { class: "badge cancelled", title: fmtDate(device.revoked_at) }, "revoked");
  } else {
    const box = h("input", { type: "checkbox", checked: device.report_audio, "aria-label": `${device.name} sends audio of its detections for review` });
    box.addEventListener("change", async () => {
      try {
        await api.patch(`/devices/${device.id}`, { report_audio: box.checked });
        notify(box.checked ? `${device.name} will send the audio of its detections for review` : `${device.name} will send no audio`);
      } catch (err) {
        box.checked = !box.checked;
        showError(err, "Could not change the consent");
      }
    });
    consent = h("label", { class: "choice" }, box, box.checked ? "yes" : "no");
    box.addEventListener("change", () => { consent.lastChild.textContent = box.checked ? "yes" : "no"; });
    action = revokeButton(device, refresh);
  }
  return h("tr", { "data-device": device.name, class: [device.revoked ? "revoked" : "", outdated ? "outdated" : ""].join(" ").trim() || null },
    h("th", { scope: "row" }, device.name, h("span", { class: "muted token-hint", title: "the token's first characters" }, `${device.token_hint}…`)),
    h("td", { "data-col": "running", title: device.running_sha256 ? `model ${device.running_sha256.slice(0, 12)}` : null }, running),
    h("td", { "data-col": "seen", title: device.last_seen_at ? fmtDate(device.last_seen_at) : null }, fmtAgo(device.last_seen_at)),
    h("td", { class: "num", "data-col": "detections" }, device.detections),
    h("td", { class: "num", "data-col": "detections-24h" }, device.detections_last_24h ?? "–"),
    h("td", { class: "num", "data-col": "near-misses" }, device.near_misses),
    h("td", { "data-col": "audio" }, consent),
    h("td", {}, action),
  );
}

/** Revoke in two presses: its token stops working at once, and a device cannot be un-revoked. */
function revokeButton(device, refresh) {
  const button = h("button", { type: "button", class: "danger small", "aria-label": `Revoke ${device.name}` }, "Revoke");
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = "Really revoke?";
      setTimeout(() => {
        armed = false;
        button.textContent = "Revoke";
      }, 5000);
      return;
    }
    try {
      await api.del(`/devices/${device.id}`);
      notify(`Revoked ${device.name}: its token no longer works`);
      refresh();
    } catch (err) {
      showError(err, "Could not revoke");
    }
  });
  return button;
}

function registerForm(deployment, onIssued) {
  const name = h("input", { name: "name", required: true, autocomplete: "off", placeholder: "kitchen-pi", maxlength: 64 });
  const audio = h("input", { type: "checkbox", name: "report_audio" });
  const form = h("form", { class: "register", "aria-labelledby": "register-title" },
    h("h3", { id: "register-title" }, "Register a device"),
    h("div", { class: "row" },
      field("Device name", name, "lowercase letters, digits, - and _"),
      h("label", { class: "choice consent" }, audio, "Send the audio of each detection here for review"),
    ),
    h("button", { type: "submit", class: "primary" }, "Register device"),
  );
  const result = { form, onDone: () => {} };
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const device = await api.post("/devices", { name: name.value.trim(), deployment, report_audio: audio.checked });
      name.value = "";
      audio.checked = false;
      onIssued(device);
      result.onDone();
    } catch (err) {
      showError(err, "Could not register the device");
    }
  });
  return result;
}

/** Quote for a POSIX shell only when needed, so the usual command line stays easy to read. */
function shellWord(text) {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** The token, once, and the command lines that use it; nothing here is kept once the panel is closed. */
function tokenPanel(device, close) {
  const server = config.base || location.origin;
  const common = `--server ${shellWord(server)} --deployment ${shellWord(device.deployment)} --token ${shellWord(device.token)}`;
  const run = `wake-edge run ${common} --mic`;
  const wyoming = `wake-edge wyoming --uri tcp://0.0.0.0:${WYOMING_PORT} ${common}`;
  const local = /^(localhost|127\.|\[::1\])/.test(new URL(server, location.href).host);
  const line = (text, what) => h("div", { class: "command" }, h("pre", { "data-command": what }, text), copyButton(text, "Copy", { "aria-label": `Copy the ${what} command` }));
  const done = h("button", { type: "button" }, "I have copied the token");
  done.addEventListener("click", close);
  return h("div", { class: "token-panel", role: "region", "aria-labelledby": "token-title" },
    h("h3", { id: "token-title", tabindex: -1 }, `${device.name} is registered`),
    h("p", { class: "warn" }, "Its token is shown only now: copy it to the device. Lost tokens are not recoverable; revoke the device and register it again."),
    h("div", { class: "command" }, h("code", { class: "token", "data-token": "" }, device.token), copyButton(device.token, "Copy token", { "aria-label": "Copy the token" })),
    h("p", {}, "On the device (pip install wake-training-edge; ", h("code", {}, "--mic"), " needs the mic extra), run:"),
    line(run, "run"),
    h("p", {}, "For Home Assistant, run the Wyoming server instead, then add the ", h("strong", {}, "Wyoming Protocol"),
      ` integration (Settings → Devices & services → Add integration) with the device's address and port ${WYOMING_PORT}:`),
    line(wyoming, "wyoming"),
    local ? h("p", { class: "muted" }, `${server} is this computer's own address: on another device use an address it can reach.`) : null,
    h("p", { class: "muted" }, `The device ${device.report_audio ? "sends" : "does not send"} the audio of its detections; change that in the table above.`),
    done,
  );
}
