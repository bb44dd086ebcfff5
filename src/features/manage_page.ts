/**
 * The rich listing's buttons for managing files (`--allow-delete`, `--allow-mkdir`,
 * `--allow-move`; class attributes `allow_delete`, `allow_mkdir`, `allow_move`; the requests
 * themselves are in manage.ts). rich_listing_page.ts puts them on the page and names this style
 * and script by hash in its `Content-Security-Policy`.
 *
 * Progressive: without JavaScript the page is the plain listing (an HTML form cannot send
 * `DELETE`, `MKCOL` or `MOVE`). With it, the page shows "New folder" under its header and, on each
 * row, "Rename" and "Delete" as allowed; each sends the one request a script would send —
 * `MKCOL /dir/new/`, `MOVE /dir/a` with `Destination` (and `Overwrite: F`: never over an existing
 * name), `DELETE /dir/a` (`?recursive=1` for a folder) — after a prompt, or for a delete a
 * confirmation naming what goes. Success reloads the listing; a refusal is shown in words, with
 * the server's message.
 */
import { hashSource } from "./upload_page.js";

/** The actions a handler allows, as the page's `data-allow` names them. */
export function manageActions(handler: { allow_delete?: boolean; allow_mkdir?: boolean; allow_move?: boolean }): string {
  return [handler.allow_delete ? "delete" : "", handler.allow_mkdir ? "mkdir" : "", handler.allow_move ? "move" : ""]
    .filter(Boolean)
    .join(" ");
}

/** Under the header: the "New folder" button and where the outcome is said; hidden until the script runs. */
export function manageBar(actions: string): string {
  return (
    `<div id="manage" data-allow="${actions}" hidden>` +
    '<button type="button" id="mkdir" hidden>New folder</button> ' +
    '<span id="manage-status" role="status"></span></div>\n'
  );
}

export const MANAGE_STYLE = [
  "#manage{margin:.4rem 0;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}",
  "#manage-status.failed{color:#c62828}",
  "td.act{white-space:nowrap;text-align:right}",
  "td.act button,#manage button{font:inherit;font-size:.85em;padding:.1rem .5rem;margin-left:.25rem;border:1px solid var(--line,#ccc);border-radius:6px;background:transparent;color:inherit;cursor:pointer}",
  "td.act button:hover,#manage button:hover{background:var(--hi,#eee)}",
].join("");

export const MANAGE_SCRIPT = [
  "(()=>{",
  'const box=document.getElementById("manage"),allow=new Set(box.dataset.allow.split(" ")),status=document.getElementById("manage-status");',
  "box.hidden=false;",
  'const say=(text,failed)=>{status.textContent=text;status.className=failed?"failed":""};',
  // Python's error page says why in its "Message:" line.
  'const why=async r=>{try{const d=new DOMParser().parseFromString(await r.text(),"text/html");const p=[...d.querySelectorAll("p")].find(x=>x.textContent.startsWith("Message: "));return p?p.textContent.slice(9).replace(/\\.$/,""):r.statusText}catch{return r.statusText}};',
  "async function send(method,url,headers,what){",
  'say(what+"…",false);let r;',
  'try{r=await fetch(url,{method,headers})}catch{say(what+": failed: the connection was lost",true);return}',
  "if(r.ok){location.reload();return}",
  'say(what+": refused: "+r.status+" "+await why(r),true)}',
  'const nameOf=(a,href)=>{try{return decodeURIComponent(href.replace(/\\/$/,""))}catch{return a.textContent.replace(/[\\/@]$/,"")}};',
  'const segments=p=>p.split("/").map(encodeURIComponent).join("/");',
  'if(allow.has("mkdir")){const b=document.getElementById("mkdir");b.hidden=false;b.addEventListener("click",()=>{',
  'const name=prompt("Name of the new folder");if(!name)return;',
  'send("MKCOL",new URL(encodeURIComponent(name)+"/",location.href),{},"New folder "+name)})}',
  'if(!allow.has("delete")&&!allow.has("move"))return;',
  'const head=document.querySelector("thead tr");if(head)head.append(document.createElement("th"));',
  'for(const tr of document.querySelectorAll("tbody tr")){',
  'const td=document.createElement("td");td.className="act";tr.append(td);',
  'if(tr.classList.contains("up"))continue;',
  'const a=tr.querySelector("a"),href=a.getAttribute("href"),dir=href.endsWith("/"),name=nameOf(a,href),url=new URL(href,location.href);',
  'const button=(label,run)=>{const b=document.createElement("button");b.type="button";b.textContent=label;b.setAttribute("aria-label",label+" "+name);b.addEventListener("click",run);td.append(b)};',
  'if(allow.has("move"))button("Rename",()=>{',
  'const to=prompt("Rename or move "+name+" to (a name, or a path such as ../other/"+name+")",name);',
  "if(!to||to===name)return;",
  'const dest=new URL(segments(to)+(dir&&!to.endsWith("/")?"/":""),location.href);',
  'send("MOVE",url,{Destination:dest.href,Overwrite:"F"},"Moving "+name)});',
  'if(allow.has("delete"))button("Delete",()=>{',
  'if(!confirm(dir?"Delete the folder "+name+" and everything in it?":"Delete "+name+"?"))return;',
  'if(dir)url.search="recursive=1";',
  'send("DELETE",url,{},"Deleting "+name)})',
  "}})()",
].join("");

export const MANAGE_STYLE_HASH = hashSource(MANAGE_STYLE);
export const MANAGE_SCRIPT_HASH = hashSource(MANAGE_SCRIPT);
