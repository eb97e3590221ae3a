// The page: pick an index, type a title and/or drop a photo, see the tags by facet with
// score bars and, when the server returns explanations, why each tag was given.
const $ = (id) => document.getElementById(id);
const keyBox = $("key");
keyBox.value = sessionStorage.getItem("rtag-key") || "";

function headers() {
  const key = keyBox.value.trim();
  sessionStorage.setItem("rtag-key", key);
  return key ? { Authorization: "Bearer " + key } : {};
}

async function problemText(response) {
  try { const body = await response.json(); return body.detail || response.statusText; } catch (e) { return response.statusText; }
}

async function loadIndexes() {
  const response = await fetch("/v1/indexes", { headers: headers() });
  if (!response.ok) { $("status").textContent = await problemText(response); return; }
  const indexes = await response.json();
  $("index").replaceChildren(...indexes.map((ix) => new Option(`${ix.name} (${ix.products} products, ${ix.tags} tags)`, ix.name)));
  $("index").onchange = () => showVocabs(indexes.find((ix) => ix.name === $("index").value));
  showVocabs(indexes[0]);
}

function showVocabs(ix) {
  const own = new Option("the catalog's own tags", "");
  $("vocab").replaceChildren(own, ...((ix && ix.vocabularies) || []).map((v) => new Option(v, v)));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function facetOf(tag) { const at = tag.indexOf(":"); return at > 0 ? [tag.slice(0, at), tag.slice(at + 1)] : ["tags", tag]; }

function whyPanel(index, why) {
  if (!why) return null;
  const panel = el("div", { class: "why" });
  if (why.signals) {
    panel.append(el("div", {}, "signals: " + Object.entries(why.signals).map(([s, v]) => `${s} ${v.toFixed(3)}`).join(", ")));
  }
  if (why.words && why.words.length) panel.append(el("div", {}, "words: " + why.words.join(", ")));
  if (why.rerank !== undefined && why.rerank !== null) panel.append(el("div", {}, `reranker: ${why.rerank >= 0 ? "+" : ""}${why.rerank.toFixed(3)}`));
  if (why.neighbours && why.neighbours.length) {
    const row = el("div", { class: "neighbours" });
    for (const n of why.neighbours) {
      const img = el("img", { alt: n.title || n.id, loading: "lazy", src: `/v1/indexes/${encodeURIComponent(index)}/products/${encodeURIComponent(n.id)}/image` });
      img.onerror = () => img.remove();
      row.append(el("div", { class: "neighbour" }, img, el("div", {}, (n.title || n.id) + ` (${n.similarity.toFixed(2)})`)));
    }
    panel.append(row);
  }
  return panel;
}

function show(index, result) {
  const out = $("results");
  out.replaceChildren();
  if (result.error) { out.append(el("p", { class: "error" }, result.error)); return; }
  if (result.warning) out.append(el("p", { class: "error" }, result.warning));
  const groups = new Map();
  for (const t of result.tags) {
    const [facet, value] = facetOf(t.tag);
    if (!groups.has(facet)) groups.set(facet, []);
    groups.get(facet).push([value, t]);
  }
  for (const [facet, tags] of groups) {
    const box = el("div", { class: "facet" }, el("h2", {}, facet));
    for (const [value, t] of tags) {
      const bar = el("div", { class: "bar" }, el("span", { style: `width:${Math.round(t.score * 100)}%` }));
      box.append(el("div", { class: "tag" + (t.review ? " review" : "") }, el("span", {}, value + (t.review ? " (review)" : "")), bar, el("span", {}, t.score.toFixed(2))));
      const why = whyPanel(index, t.why);
      if (why) box.append(why);
    }
    out.append(box);
  }
}

$("form").onsubmit = async (event) => {
  event.preventDefault();
  const index = $("index").value;
  const form = new FormData();
  form.append("title", $("title").value);
  if ($("vocab").value) form.append("vocab", $("vocab").value);
  if ($("photo").files[0]) form.append("photo", $("photo").files[0]);
  form.append("explain", "true");
  $("status").textContent = "tagging…";
  const started = performance.now();
  const response = await fetch(`/v1/indexes/${encodeURIComponent(index)}/tag-upload`, { method: "POST", body: form, headers: headers() });
  if (!response.ok) { $("status").textContent = await problemText(response); return; }
  const body = await response.json();
  $("status").textContent = `tagged in ${Math.round(performance.now() - started)} ms`;
  show(index, body.results[0]);
};

const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); $("photo").files = e.dataTransfer.files; $("photo-name").textContent = e.dataTransfer.files[0].name; };
$("photo").onchange = () => { $("photo-name").textContent = $("photo").files[0] ? $("photo").files[0].name : "drop a photo here or choose one"; };

loadIndexes();
