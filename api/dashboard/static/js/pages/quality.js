// A model's quality in plain words: FRR and FA/h formatted one way for the whole job page, rates as "about 1 false
// wake every 3 hours", and the sentence that leads a train job's evaluation.

/** A share (0–1) as a percentage with one decimal: "8.3%". */
export function fmtPercent(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : "–";
}

/** A false-reject rate, written the same way wherever the page shows one. */
export const fmtFrr = fmtPercent;

/** False accepts per hour with at most two decimals; a rate too small for two decimals is not shown as 0. */
export function fmtFa(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  if (value > 0 && value < 0.005) return "< 0.01";
  return Number(value.toFixed(2)).toLocaleString(undefined, { maximumFractionDigits: 2 });
}

/** A figure as people say it: to the half below 10, whole above. */
function about(value) {
  return value < 10 ? String(Math.max(0.5, Math.round(value * 2) / 2)) : Math.round(value).toLocaleString();
}

function plural(count, one, many = `${one}s`) {
  return `${count} ${Number(count) === 1 ? one : many}`;
}

/** Seconds of audio as "45 s", "10 min", "2 h". */
export function fmtDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const short = (v) => (v < 10 ? String(Number(v.toFixed(1))) : Math.round(v).toLocaleString());
  if (seconds < 90 * 60) return `${short(seconds / 60)} min`;
  return `${short(seconds / 3600)} h`;
}

/** A rate per hour (> 0) as "about 1 false wake every 3 hours (about 8 a day)". */
export function rateInWords(perHour) {
  const seconds = 3600 / perHour;
  if (seconds < 1) return `more than 1 false wake a second (${fmtFa(perHour)} per hour)`;
  const [value, unit] = seconds < 60 ? [seconds, "second"]
    : seconds < 3600 ? [seconds / 60, "minute"]
      : seconds < 48 * 3600 ? [seconds / 3600, "hour"]
        : [seconds / 86400, "day"];
  const perDay = perHour * 24;
  const daily = unit === "hour" || unit === "minute" ? (perDay >= 2 ? ` (about ${about(perDay)} a day)` : "") : "";
  const every = about(value) === "1" ? unit : plural(about(value), unit);
  return `about 1 false wake every ${every}${daily}`;
}

function phrases(count) {
  return plural(count, "validation phrase");
}

/** How many validation phrases it misses: "misses about 1 in 12 validation phrases (3 of 36, 8.3%)". */
export function missesInWords(frr, positives) {
  const known = typeof positives === "number" && positives > 0;
  if (frr <= 0) return known ? `misses none of its ${phrases(positives)}` : "misses none of its validation phrases";
  if (frr >= 1 && positives === 1) return `misses its only validation phrase (${fmtFrr(frr)})`;
  if (frr >= 1 && positives === 2) return `misses both validation phrases (${fmtFrr(frr)})`;
  if (frr >= 1) return known ? `misses all ${phrases(positives)} (${fmtFrr(frr)})` : `misses every validation phrase (${fmtFrr(frr)})`;
  const missed = known ? Math.round(frr * positives) : null;
  if (frr >= 0.5) return known ? `misses ${missed} of its ${phrases(positives)} (${fmtFrr(frr)})` : `misses ${fmtFrr(frr)} of its validation phrases`;
  const counts = known ? `${missed} of ${positives}, ` : "";
  return `misses about 1 in ${Math.round(1 / frr)} validation phrases (${counts}${fmtFrr(frr)})`;
}

/** How many of the user's held-out takes wake it: "wakes for 3 of your 4 held-out takes (misses 25.0%)". */
export function takesInWords(userFrr, takes) {
  const heard = Math.round((1 - userFrr) * takes);
  const of = takes === 1 ? "your only held-out take" : `your ${takes} held-out takes`;
  if (heard <= 0) return `wakes for none of ${of} (misses ${fmtFrr(userFrr)})`;
  if (heard >= takes) {
    return `wakes for ${takes === 1 ? of : takes === 2 ? "both of your held-out takes" : `all ${takes} of your held-out takes`}`;
  }
  return `wakes for ${heard} of ${of} (misses ${fmtFrr(userFrr)})`;
}

/**
 * The lead of a train job's evaluation: `sentence`, what to expect on everyday audio and how many phrases it misses;
 * `note`, when the FA/h is the score tail's prediction, the one statement of why (how much negative audio validation
 * had, what one false wake counts as there and how often it woke, how much the target needs); `predicted`, whether
 * it is; `saysAudio`, whether the lead states how much negative audio validation had (the page then does not repeat
 * it). `observedFa` is the rate validation observed at the threshold. `userFrr` is the share of the user's
 * `userTakes` held-out takes it misses: a personalised model is judged by them first, the synthetic phrases after
 * them. Null when the job has none of these figures.
 */
export function qualityLead({ frr, fa, coverage = {}, target, observedFa, userFrr, userTakes }) {
  const predicted = coverage.fa_per_hour_source === "tail prediction";
  const negative = coverage.negative_audio_s;
  const parts = [];
  let saysAudio = false;
  if (typeof fa === "number") {
    if (fa > 0) parts.push(`${rateInWords(fa)}${predicted ? ", a prediction" : ""}`);
    else if (predicted) parts.push("no false wakes, a prediction");
    else if (typeof negative === "number" && negative > 0) {
      saysAudio = true;
      parts.push(`no false wake in ${fmtDuration(negative)} of negative audio (one would have counted as ` +
        `${fmtFa(coverage.fa_per_hour_resolution ?? 3600 / negative)} per hour: the true rate is somewhere below that)`);
    } else parts.push("no false wake seen");
  }
  const yours = typeof userFrr === "number" && typeof userTakes === "number" && userTakes > 0;
  if (typeof frr === "number") {
    // Beside the user's takes, the validation phrases are mostly synthetic voices: said, so they are not read as theirs.
    const synthetic = yours ? (coverage.positive_clips_by_source || {}).synthetic : 0;
    parts.push(missesInWords(frr, coverage.positive_clips) + (synthetic > 0 ? `, ${synthetic} of them synthetic` : ""));
  }
  if (!parts.length && !yours) return null;
  const everyday = parts.length ? `Expected on everyday audio: ${parts.join("; ")}.` : "";
  const sentence = yours ? `For your voice: ${takesInWords(userFrr, userTakes)}. ${everyday}`.trim() : everyday;
  let note = null;
  if (predicted) {
    const known = typeof negative === "number" && negative > 0;
    const had = known ? `validation had ${fmtDuration(negative)} of negative audio` : "validation had little negative audio";
    const woke = known && typeof observedFa === "number" ? Math.round((observedFa * negative) / 3600) : null;
    const counts = known
      ? `, where one false wake already counts as ${fmtFa(coverage.fa_per_hour_resolution ?? 3600 / negative)} per hour` +
        (woke === null ? "" : ` (it woke ${plural(woke, "time")} there)`)
      : "";
    const needs = typeof target === "number" && target > 0
      ? `; seeing the target rate of ${fmtFa(target)} per hour takes at least ${fmtDuration(3600 / target)} of it with no false wake`
      : "";
    saysAudio = true;
    note = `The false-wake rate is the score tail's prediction from too little audio: ${had}${counts}${needs}. ` +
      "Add long recordings of everyday sound (TV, talk, kitchen) as negatives to measure it.";
  }
  return { sentence, note, predicted, saysAudio };
}

/**
 * The job's warnings less the one the lead's note already states: the worker also writes the tail prediction down
 * as a warning (for the log and the API), and the page said it twice. Jobs keep their warnings as sentences, so
 * the repeat is known by its words.
 */
export function warningsBesideLead(warnings, lead) {
  const list = Array.isArray(warnings) ? warnings : [];
  if (!lead || !lead.predicted) return list;
  return list.filter((w) => !/score tail's prediction/.test(w));
}
