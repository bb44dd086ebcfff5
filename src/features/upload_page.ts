/**
 * The upload form that listings carry with `--upload` (class attribute
 * `SimpleHTTPRequestHandler.upload = true`): Python's listing gets it after its list
 * (`uploadFooter()`), the rich listing in its header (rich_listing_page.ts, which names this
 * form's style and script by hash in its `Content-Security-Policy`).
 *
 * Without JavaScript it is a plain form: a multipart `POST` of the files chosen to the listing's
 * own URL, answered `303 See Other` back to the listing. With it, files chosen or dropped anywhere
 * on the page are sent one by one with `PUT`, each with a progress bar and, at its end, what the
 * server said; once all are in, the page reloads to show them.
 */
import { createHash } from "node:crypto";

/** The form: a file chooser and a button; the hint and the progress list are for the script. */
export const UPLOAD_FORM =
  '<form id="upload" method="post" enctype="multipart/form-data">' +
  '<input type="file" name="file" multiple required aria-label="Files to upload"> ' +
  '<button type="submit">Upload</button> ' +
  '<span id="upload-hint" hidden>or drop files on this page</span>' +
  '<ul id="upload-progress"></ul>' +
  "</form>\n";

/** Laid out to sit in either listing; only the dragging outline is drawn on the page itself. */
export const UPLOAD_STYLE = [
  "#upload{margin:.5rem 0}",
  "#upload input[type=file]{width:auto;max-width:100%;border:0;padding:0}",
  "#upload-hint{opacity:.7}",
  "#upload-progress{list-style:none;padding:0;margin:.25rem 0}",
  "#upload-progress li{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.15rem 0}",
  "#upload-progress progress{width:10rem}",
  "#upload-progress .failed{color:#c62828}",
  "body.dropping{outline:3px dashed currentColor;outline-offset:-6px}",
].join("");

/**
 * One `PUT` at a time to `<this directory>/<the file's name>`: a 201 is `uploaded`, a 204
 * `replaced`; any failure is shown in words (its bar removed: the bytes may all have gone, and
 * still be refused) and stops the reload, so it can be read.
 *
 * Under `--watch` an upload changes the folder, and live reload would reload this very page in
 * the middle of the next file: its `reload` listener is wrapped to wait while files are going
 * (this script runs before the live-reload one, which `--watch` puts last in the page).
 */
export const UPLOAD_SCRIPT = [
  "(()=>{",
  'const form=document.getElementById("upload"),input=form.querySelector("input[type=file]"),list=document.getElementById("upload-progress");',
  "let busy=false,reloadLater=false;",
  "const ES=window.EventSource;",
  'if(ES){const add=ES.prototype.addEventListener;ES.prototype.addEventListener=function(type,listener,options){return add.call(this,type,type==="reload"?function(e){if(busy)reloadLater=true;else listener.call(this,e)}:listener,options)}}',
  'document.getElementById("upload-hint").hidden=false;',
  'const WORDS={200:"replaced",201:"uploaded",204:"replaced",400:"refused: bad file name",401:"refused: not logged in",403:"refused: not allowed here",409:"refused: a file of that name exists",413:"refused: too large",429:"refused: too many failed logins",507:"refused: the disk is full"};',
  "function put(file){return new Promise(done=>{",
  'const li=document.createElement("li"),name=document.createElement("span"),bar=document.createElement("progress"),state=document.createElement("span");',
  'name.textContent=file.name;bar.max=1;bar.value=0;state.textContent="0 %";li.append(name,bar,state);list.append(li);',
  "const x=new XMLHttpRequest();",
  'x.open("PUT",new URL(encodeURIComponent(file.name),location.href));',
  'x.upload.onprogress=e=>{if(e.lengthComputable&&e.total){bar.value=e.loaded/e.total;state.textContent=Math.floor(100*e.loaded/e.total)+" %"}};',
  'x.onload=()=>{const ok=x.status>=200&&x.status<300;if(ok)bar.value=1;state.textContent=WORDS[x.status]||"refused: "+x.status+" "+x.statusText;if(!ok){li.className="failed";bar.remove()}done(ok)};',
  'x.onerror=x.onabort=()=>{state.textContent="failed: the connection was lost";li.className="failed";bar.remove();done(false)};',
  "x.send(file)})}",
  "async function upload(files){",
  "if(!files.length||busy)return;",
  "busy=true;let ok=true;",
  "for(const file of files)ok=(await put(file))&&ok;",
  "busy=false;",
  'if(ok){location.reload();return}',
  'const again=document.createElement("li"),link=document.createElement("a");link.href="";link.textContent=reloadLater?"the folder changed: reload":"reload the listing";again.append(link);list.append(again)}',
  'form.addEventListener("submit",e=>{e.preventDefault();upload([...input.files]);form.reset()});',
  'document.addEventListener("dragover",e=>{e.preventDefault();document.body.classList.add("dropping")});',
  'document.addEventListener("dragleave",e=>{if(!e.relatedTarget)document.body.classList.remove("dropping")});',
  'document.addEventListener("drop",e=>{e.preventDefault();document.body.classList.remove("dropping");upload([...e.dataTransfer.files])});',
  "})()",
].join("");

/** `'sha256-…'` of an inline element's text, as a `Content-Security-Policy` names it. */
export function hashSource(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

export const UPLOAD_STYLE_HASH = hashSource(UPLOAD_STYLE);
export const UPLOAD_SCRIPT_HASH = hashSource(UPLOAD_SCRIPT);

/** What Python's listing gets before its `</body>` with uploads on (it has no policy to satisfy). */
export const UPLOAD_FOOTER = `${UPLOAD_FORM}<style>${UPLOAD_STYLE}</style>\n<script>${UPLOAD_SCRIPT}</script>\n`;
