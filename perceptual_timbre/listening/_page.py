"""The static HTML page of a listening test (one file; inline CSS and JavaScript only).

It needs no server and loads nothing from the network: the sounds are the WAV files next to
it (``sounds/*.wav``), played by ``<audio>`` elements, which browsers allow from a
``file://`` page. Responses are kept in ``localStorage`` (a reload resumes) and exported as
CSV, both as a download and as text in the page (``#csv``).

Element ids (used by the browser test): ``participant``, ``start``, ``play``, ``play-a``,
``play-b``, ``rating``, ``next``, ``progress``, ``status``, ``download``, ``csv``;
``document.body.dataset.state`` is ``intro``, ``trial`` or ``done``, and
``document.body.dataset.played`` is ``1`` once the current pair was heard to its end.
"""

import html
import json

__all__ = ["render_page"]

_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none';
 script-src 'unsafe-inline'; style-src 'unsafe-inline'; media-src 'self' file: blob: data:;
 img-src data:">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 44em; margin: 2em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.4em; }
button { font-size: 1em; padding: .5em 1.2em; margin: .2em; }
button:disabled { opacity: .45; }
.screen { display: none; }
body[data-state="intro"] #intro, body[data-state="trial"] #trial,
body[data-state="done"] #done { display: block; }
#rating { width: 100%; margin: 1.5em 0 .3em; }
.scale { display: flex; justify-content: space-between; font-size: .9em; color: #555; }
.sound { display: inline-block; min-width: 3em; text-align: center; padding: .3em;
         border: 2px solid #bbb; border-radius: .3em; }
.sound.playing { border-color: #1a73e8; background: #e8f0fe; }
#status { min-height: 1.4em; color: #a00; }
#csv { width: 100%; height: 8em; font-family: monospace; font-size: .8em; }
</style>
</head>
<body data-state="intro" data-played="0">
<h1>__TITLE__</h1>
<div id="intro" class="screen">
<p>__INSTRUCTIONS__</p>
<p>__N_TRIALS__ trials. Your answers stay in this browser until you download them at the end.</p>
<label>Participant id: <input id="participant" autocomplete="off"></label>
<button id="start">Start</button>
</div>
<div id="trial" class="screen">
<p id="progress"></p>
<p><button id="play">Play pair</button>
<span id="mark-a" class="sound">A</span> <span id="mark-b" class="sound">B</span>
<button id="play-a">Replay A</button><button id="play-b">Replay B</button></p>
<input id="rating" type="range" min="__MIN__" max="__MAX__" step="1" value="__MID__"
 aria-label="dissimilarity">
<div class="scale"><span>__LOW__</span><span>__HIGH__</span></div>
<p><button id="next" disabled>Next</button></p>
</div>
<div id="done" class="screen">
<p>Thank you! Download your answers and send the file to the experimenter.</p>
<button id="download">Download CSV</button>
<p><textarea id="csv" readonly></textarea></p>
</div>
<p id="status" role="status"></p>
<script>
"use strict";
const EXP = __EXPERIMENT__;
const $ = (id) => document.getElementById(id);
const body = document.body;
let participant = "", responses = [], index = 0, touched = false, heard = {a: false, b: false};
let started = 0, audio = {a: null, b: null}, pairTimer = null;

function storageKey() { return "perceptual_timbre:" + EXP.id + ":" + participant; }
function save() {
  try { localStorage.setItem(storageKey(), JSON.stringify(responses)); } catch (e) {}
}
function load() {
  try { return JSON.parse(localStorage.getItem(storageKey()) || "[]"); } catch (e) { return []; }
}
function status(msg) { $("status").textContent = msg || ""; }
function update() {
  const played = heard.a && heard.b;
  body.dataset.played = played ? "1" : "0";
  $("next").disabled = !(played && touched);
}
function stopAll() {
  clearTimeout(pairTimer);
  for (const k of ["a", "b"]) {
    if (audio[k]) { audio[k].pause(); audio[k].currentTime = 0; }
    $("mark-" + k).classList.remove("playing");
  }
}
function makeAudio(k, file) {
  const a = new Audio(file);
  a.preload = "auto";
  a.addEventListener("playing", () => $("mark-" + k).classList.add("playing"));
  a.addEventListener("ended", () => {
    $("mark-" + k).classList.remove("playing");
    heard[k] = true;
    update();
    if (k === "a" && a.dataset.pair === "1") {
      a.dataset.pair = "0";
      pairTimer = setTimeout(() => play("b"), EXP.gap_ms);
    }
  });
  a.addEventListener("error", () => status(
    "Cannot play " + file + ": keep this page next to its sounds/ folder."));
  return a;
}
function play(k, asPair) {
  if (k === "a") audio.a.dataset.pair = asPair ? "1" : "0";
  const p = audio[k].play();
  if (p && p.catch) p.catch((e) => status("Playback failed: " + e.message));
}
function showTrial() {
  if (index >= EXP.trials.length) return finish();
  const t = EXP.trials[index];
  stopAll();
  audio = {a: makeAudio("a", t.file_a), b: makeAudio("b", t.file_b)};
  heard = {a: false, b: false};
  touched = false;
  $("rating").value = EXP.scale_mid;
  $("progress").textContent = "Trial " + (index + 1) + " of " + EXP.trials.length;
  started = performance.now();
  status("");
  update();
}
function csvField(v) {
  const s = String(v);
  return /[",\r\n]/.test(s) || s !== s.trim() ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function toCSV() {
  const cols = ["participant", "trial", "sound_a", "sound_b", "rating", "repeat",
                "response_time_ms", "timestamp"];
  const lines = [cols.join(",")];
  for (const r of responses) lines.push(cols.map((c) => csvField(r[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
function finish() {
  stopAll();
  body.dataset.state = "done";
  $("csv").value = toCSV();
}
$("start").addEventListener("click", () => {
  const id = $("participant").value.trim();
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) {
    status("Please enter a participant id (letters, digits, . _ -).");
    return;
  }
  participant = id;
  responses = load();
  index = responses.length;
  body.dataset.state = "trial";
  showTrial();
});
$("play").addEventListener("click", () => { stopAll(); play("a", true); });
$("play-a").addEventListener("click", () => { stopAll(); play("a", false); });
$("play-b").addEventListener("click", () => { stopAll(); play("b", false); });
$("rating").addEventListener("input", () => { touched = true; update(); });
$("next").addEventListener("click", () => {
  if ($("next").disabled) return;
  const t = EXP.trials[index];
  responses.push({participant: participant, trial: t.trial, sound_a: t.sound_a,
                  sound_b: t.sound_b, rating: Number($("rating").value), repeat: t.repeat,
                  response_time_ms: Math.round(performance.now() - started),
                  timestamp: new Date().toISOString()});
  save();
  index += 1;
  showTrial();
});
$("download").addEventListener("click", () => {
  const url = URL.createObjectURL(new Blob([toCSV()], {type: "text/csv"}));
  const a = document.createElement("a");
  a.href = url;
  a.download = "responses_" + EXP.id + "_" + participant + ".csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});
</script>
</body>
</html>
"""


def render_page(experiment, *, title, instructions, scale, labels):
    """The page's HTML text, with ``experiment`` (a JSON-ready dict) inlined as a literal.

    ``experiment`` holds ``id``, ``trials`` (dicts with ``trial``, ``sound_a``,
    ``sound_b``, ``file_a``, ``file_b``, ``repeat``), ``gap_ms`` and ``scale_mid``.
    """
    data = json.dumps(experiment, ensure_ascii=True)
    # nothing inside the script may close it or open a comment
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    lo, hi = scale
    out = _TEMPLATE
    for key, value in {
        "__TITLE__": html.escape(title),
        "__INSTRUCTIONS__": html.escape(instructions),
        "__N_TRIALS__": str(len(experiment["trials"])),
        "__MIN__": str(lo),
        "__MAX__": str(hi),
        "__MID__": str(experiment["scale_mid"]),
        "__LOW__": html.escape(labels[0]),
        "__HIGH__": html.escape(labels[1]),
        "__EXPERIMENT__": data,
    }.items():
        out = out.replace(key, value)
    return out
