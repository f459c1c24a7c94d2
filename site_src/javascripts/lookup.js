/* The code lookup (generated/lookup/): reads the index `codegov render` writes beside the page
 * (playbooks/lookup.py) and shows what `codegov lookup CODE --on DATE` answers. The answers were computed
 * by the engine when the site was rendered: this script only finds a code's row for the date, fills the
 * message's placeholders and formats it. On every page it also puts "Look up CODE" first in the search
 * results when the query has the shape of a code. Nothing is fetched from anywhere but this site.
 */
(function () {
  "use strict";

  var DAY = 86400000;
  var config = {};
  try {
    config = JSON.parse(document.getElementById("__config").textContent);
  } catch (e) { /* no Material config: the base is the page's folder */ }
  var base = new URL((config.base || ".") + "/", location.href);
  var pageURL = new URL("generated/lookup/", base);
  var dataURL = new URL("data/", pageURL);
  var files = {};

  function fetchJSON(name) {
    if (!files[name]) {
      files[name] = fetch(new URL(name, dataURL)).then(function (r) {
        if (!r.ok) throw new Error(name + ": HTTP " + r.status);
        return r.json();
      });
    }
    return files[name];
  }

  function dayOf(iso) {
    var p = iso.split("-");
    return Math.round(Date.UTC(+p[0], +p[1] - 1, +p[2]) / DAY);
  }
  function isoOf(day) {
    return day === null || day === undefined ? "" : new Date(day * DAY).toISOString().slice(0, 10);
  }
  function full(pattern, text) {
    return new RegExp("^(?:" + pattern + ")$").test(text);
  }

  function shortList(codes, limit) {
    var head = codes.slice(0, limit).join(", ");
    return head + (codes.length > limit ? " (+" + (codes.length - limit) + " more)" : "");
  }
  function fill(template, f, meta) {
    return template.split("{reps}").join(shortList(f.reps, meta.short_list)).split("{on}").join(f.on)
      .split("{since}").join(f.since).split("{release}").join(f.release).split("{code}").join(f.code);
  }

  function shardKey(meta, system, code) {
    var width = meta.shard_width[system];
    return width ? system + "-" + code.slice(0, width) : system;
  }
  function shard(meta, system, code) {
    var key = shardKey(meta, system, code);
    return meta.shards.indexOf(key) < 0 ? Promise.resolve({}) : fetchJSON(key + ".json");
  }

  function normalize(m, raw) {
    var code = raw.trim().toUpperCase();
    if (m.dotted_after !== null) code = code.replace(/[. ]/g, "");
    if (m.pad_digits && /^\d+$/.test(code)) while (code.length < m.pad_digits) code = "0" + code;
    return code;
  }
  function display(m, code) {
    var n = m.dotted_after;
    return n !== null && code.length > n ? code.slice(0, n) + "." + code.slice(n) : code;
  }

  /* ingest.history.guess_system on the index: the shard holding a code stands for the loaded history. */
  function guess(meta, raw) {
    var code = raw.trim().toUpperCase(), p = meta.patterns;
    var icd = full(p.icd10cm, code.replace(/[. ]/g, ""));
    if (/^\d{1,2}$/.test(code)) return Promise.resolve("pos");
    if (code.indexOf(".") >= 0) {
      return Promise.resolve(/^[0-9A-Z]{3}\.[0-9A-Z]{1,4}$/.test(code) && icd ? "icd10cm" : "unknown");
    }
    if (full(meta.cpt.code, code)) return Promise.resolve("cpt");
    if (full(p.hcpcs, code)) {
      return Promise.all([shard(meta, "hcpcs", code), shard(meta, "icd10cm", code)]).then(function (s) {
        return !(code in s[0]) && code in s[1] ? "icd10cm" : "hcpcs";
      });
    }
    if (full(p.modifier, code) && !icd) return Promise.resolve("hcpcs");
    return Promise.resolve(icd ? "icd10cm" : "unknown");
  }

  function inForce(m, day) {
    var found = null;
    m.releases.forEach(function (r) { if (r[1] <= day) found = r[0]; });
    return found;
  }

  function codeAnswer(meta, system, text, on) {
    var m = meta.systems[system], code = normalize(m, text), day = dayOf(on);
    var a = {system: system, code: code, display_code: display(m, code), status: "unknown", billable: false,
             description: "", release: null, since: null, replacements: [], since_undocumented: false};
    function message(ix, f) {
      return typeof ix === "string" ? ix : fill(meta.messages[ix], Object.assign({on: on}, f), meta);
    }
    if (m.first === null) {
      a.message = meta.messages[m.none];
      return Promise.resolve(a);
    }
    if (day < m.first || (m.last !== null && day > m.last)) {
      a.message = message(m.uncovered, {code: a.display_code, since: "", release: "", reps: []});
      return Promise.resolve(a);
    }
    var force = inForce(m, day);
    return shard(meta, system, code).then(function (s) {
      var entry = s[code], row = null;
      (entry ? entry[1] : []).forEach(function (r) {
        if (r[0] <= day && (r[1] === null || day <= r[1])) row = r;
      });
      if (!row) {
        a.release = force;
        a.message = message(m.unknown, {code: a.display_code, since: "", release: "", reps: []});
        return a;
      }
      var reps = [];
      row[6].forEach(function (g) {
        g[1].split(" ").forEach(function (c) {
          reps.push({code: c.charAt(0) === "~" ? entry[0] + c.slice(1) : c, source: meta.sources[g[0]]});
        });
      });
      var release = row[5] || force, since = isoOf(row[4]);
      a.display_code = entry[0];
      a.status = meta.statuses[row[2]];
      a.billable = row[2] === 0;
      a.description = row[3];
      a.release = release;
      a.since = since || null;
      a.replacements = reps;
      a.message = message(row[7], {code: entry[0], since: since, release: release,
                                   reps: reps.map(function (r) { return r.code; })});
      a.since_undocumented = !!row[8];
      return a;
    });
  }

  function editLines(meta, code, on) {
    if (!meta.edits || code.length !== 5) return Promise.resolve(null);
    var day = dayOf(on);
    return fetchJSON("edits.json").then(function (edits) {
      if (edits.elsewhere.indexOf(code) >= 0) return "elsewhere";
      var rows = edits.codes[code] || meta.edits.empty, found = null;
      rows.forEach(function (r) {
        if ((r[0] === null || r[0] <= day) && (r[1] === null || day <= r[1])) found = r[2];
      });
      return found;
    });
  }

  /* What `codegov lookup RAW --on ON --format json` prints: Validity.to_dict(), and "edits" as its lines. */
  function lookup(raw, on) {
    return fetchJSON("meta.json").then(function (meta) {
      return guess(meta, raw).then(function (system) {
        var text = raw.trim().toUpperCase();
        var plain = {system: system, code: text, display_code: text, status: "unknown", billable: false,
                     description: "", release: null, since: null, replacements: [], since_undocumented: false};
        var answer;
        if (system === "cpt") answer = Promise.resolve(Object.assign(plain, {message: meta.cpt.message}));
        else if (system === "unknown") {
          answer = Promise.resolve(Object.assign(plain, {message: meta.no_shape.split("{code}").join(text)}));
        } else answer = codeAnswer(meta, system, text, on);
        return answer.then(function (a) {
          return editLines(meta, a.code, on).then(function (lines) {
            if (lines === "elsewhere") a.edits_elsewhere = true;
            else if (lines) a.edits = lines;
            return a;
          });
        });
      });
    });
  }
  window.codegovLookup = lookup;

  // -- the page ------------------------------------------------------------------------------------------

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function render(a, typed, on, meta) {
    var m = meta.systems[a.system], label = null;
    if (m && a.release) m.releases.forEach(function (r) { if (r[0] === a.release) label = r[2]; });
    var name = m ? m.name : a.system === "cpt" ? "CPT" : "no supported code set";
    var html = '<div class="cg-answer cg-answer--' + esc(a.status) + (a.billable ? " cg-answer--billable" : "") +
      '" data-status="' + esc(a.status) + '" data-code="' + esc(typed) + '" data-on="' + esc(on) + '">';
    html += '<p class="cg-answer__head"><strong class="cg-answer__code">' + esc(a.display_code) + "</strong> " +
      '<span class="cg-answer__system">' + esc(name) + "</span> " +
      '<span class="cg-badge cg-badge--' + esc(a.status) + '">' + esc(a.status) + "</span>" +
      (a.billable ? ' <span class="cg-badge cg-badge--billable">billable</span>' : "") + "</p>";
    if (a.description) html += '<p class="cg-answer__desc">' + esc(a.description) + "</p>";
    html += '<p class="cg-answer__message">' + esc(a.message) + "</p>";
    if (a.release) {
      var since = a.since_undocumented ? "; in effect before " + a.since + " (no documented start)"
        : a.since ? "; since " + a.since : "";
      html += '<p class="cg-answer__release">Release in force: ' + esc(a.release) +
        (label && label !== a.release ? " (" + esc(label) + ")" : "") +
        esc(since) + "</p>";
    }
    if (a.replacements.length) {
      html += '<p class="cg-answer__reps-title">Replacements (' + a.replacements.length + "):</p>" +
        '<ul class="cg-answer__reps">';
      a.replacements.forEach(function (r) {
        html += '<li><a href="#' + esc(r.code) + "@" + esc(on) + '">' + esc(r.code) + "</a> <span>(" +
          esc(r.source) + ")</span></li>";
      });
      html += "</ul>";
    }
    if (a.edits) html += '<pre class="cg-answer__edits">' + esc(a.edits.join("\n")) + "</pre>";
    if (a.edits_elsewhere) {
      html += '<p class="cg-answer__edits">The edit tables list ' + esc(a.code) + ", but this site keeps their " +
        "lines for the inventory's codes only: <code>codegov lookup " + esc(a.code) + " --on " + esc(on) +
        "</code> prints them.</p>";
    }
    return html + "</div>";
  }

  function today() {
    var d = new Date();
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  function parseHash() {
    var h = decodeURIComponent(location.hash.replace(/^#/, ""));
    if (!h) return null;
    var at = h.lastIndexOf("@");
    var code = at >= 0 ? h.slice(0, at) : h, on = at >= 0 ? h.slice(at + 1) : "";
    return {code: code, on: /^\d{4}-\d{2}-\d{2}$/.test(on) ? on : ""};
  }

  function page() {
    var form = document.getElementById("cg-lookup");
    if (!form) return;
    var codeIn = document.getElementById("cg-lookup-code"), onIn = document.getElementById("cg-lookup-on");
    var out = document.getElementById("cg-lookup-answer");
    onIn.value = onIn.value || today();

    function show() {
      var want = parseHash();
      if (!want || !want.code.trim()) return;
      codeIn.value = want.code;
      if (want.on) onIn.value = want.on;
      var on = onIn.value || today();
      out.setAttribute("aria-busy", "true");
      Promise.all([lookup(want.code, on), fetchJSON("meta.json")]).then(function (r) {
        out.innerHTML = render(r[0], want.code.trim(), on, r[1]);
      }, function (err) {
        out.innerHTML = '<p class="cg-answer cg-answer--error">The lookup index could not be read: ' +
          esc(err.message) + "</p>";
      }).then(function () { out.removeAttribute("aria-busy"); });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var next = "#" + codeIn.value.trim() + "@" + (onIn.value || today());
      if (location.hash === next) show();
      else location.hash = next;
    });
    window.addEventListener("hashchange", show);
    show();
  }

  // -- the search box ------------------------------------------------------------------------------------

  /* The shape of a code of a supported code set (what the lookup answers): letters alone only as a
   * two-character modifier, so that words typed into the search box do not offer a lookup. */
  function codeShaped(q) {
    var code = q.trim().toUpperCase();
    if (!code || code.length > 8 || !/^[0-9A-Z.]+$/.test(code)) return false;
    if (!/\d/.test(code) && code.length !== 2) return false;
    return /^\d{1,2}$/.test(code) || /^[0-9A-Z]{3}\.[0-9A-Z]{1,4}$/.test(code) || /^[A-Z][0-9A-Z]{2,6}$/.test(code) ||
      /^[0-9]{4}[0-9FTU]$/.test(code) || /^[0-9A-Z]{2}$/.test(code);
  }

  function search() {
    var input = document.querySelector("input.md-search__input");
    var list = document.querySelector(".md-search-result__list");
    if (!input || !list) return false;
    function update() {
      var q = input.value.trim(), item = list.querySelector(".cg-lookup-hit");
      if (!codeShaped(q)) {
        if (item) item.remove();
        return;
      }
      var href = new URL("#" + encodeURIComponent(q.toUpperCase()), pageURL).href;
      if (!item) {
        item = document.createElement("li");
        item.className = "md-search-result__item cg-lookup-hit";
        item.innerHTML = '<a class="md-search-result__link" tabindex="-1"><article class="md-search-result__article ' +
          'md-typeset"><div class="md-search-result__icon md-icon"></div><h1></h1><p></p></article></a>';
      }
      item.querySelector("a").href = href;
      item.querySelector("h1").textContent = "Look up " + q.toUpperCase();
      item.querySelector("p").textContent = "Is it valid and billable on a date of service, and what replaces it: " +
        "the code lookup";
      if (list.firstChild !== item) list.insertBefore(item, list.firstChild);
    }
    input.addEventListener("input", update);
    input.addEventListener("keyup", update);
    new MutationObserver(update).observe(list, {childList: true});
    return true;
  }

  var searching = false;
  function start() {
    page();
    searching = searching || search();
  }
  // Material's document$ emits on the first load and after each instant navigation, when that feature is on
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(start);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
