/**
 * The fleet page: one self-contained HTML document reading `GET /api/nodes` and
 * `GET /api/rollouts` every 5 s (click a header to sort; each rollout's signed
 * `issuedAt` shown in UTC to the second, exact in the cell's title), and a rollout form
 * posting to `POST /api/rollouts`: a policy bundle (files, a folder or a
 * .tar.gz) or a configuration of node settings (JSON), to one node, a group or
 * all. The admin token is held in this tab only (sessionStorage), never in a
 * cookie or in localStorage; the API's error message is shown as it comes.
 */
import { REMOTE_SETTINGS } from '../config/index.ts';

export const FLEET_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>telemed-edge hub: fleet</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#1d2733}
h1{font-size:1.2rem;margin:0 0 .25rem}p{color:#5b6875;margin:0 0 1rem}
.wrap{overflow-x:auto}table{border-collapse:collapse;min-width:100%}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e7eb;text-align:left;white-space:nowrap}
th{cursor:pointer;user-select:none;background:#f5f7f9}th[aria-sort]::after{content:" \\2195";color:#9aa5b1}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.online{color:#11703a;font-weight:600}.offline{color:#b3261e;font-weight:600}
form{display:grid;grid-template-columns:max-content minmax(0,36rem);gap:.45rem .8rem;align-items:start;margin:.5rem 0 1rem}
form label{padding-top:.3rem;color:#3c4853}fieldset{border:0;padding:0;margin:0;display:flex;gap:.8rem;flex-wrap:wrap}
input[type=text],input[type=password],textarea{font:inherit;padding:.3rem .4rem;border:1px solid #c9d1d9;border-radius:4px;width:100%;box-sizing:border-box}
textarea{font-family:ui-monospace,monospace;min-height:6rem}button{font:inherit;padding:.35rem .9rem;cursor:pointer}
#rmsg{grid-column:2;white-space:pre-wrap}#rmsg.err{color:#b3261e}#rmsg.ok{color:#11703a}.hint{color:#5b6875;font-size:.85em}
</style></head><body>
<h1>Fleet</h1><p id="summary">loading…</p>
<div class="wrap"><table><thead><tr>
<th data-k="id">node</th><th data-k="city">city</th><th data-k="version">version</th><th data-k="status">status</th>
<th data-k="lastHeartbeat">last heartbeat</th><th data-k="backlog">outbox backlog</th><th data-k="bundle">policy bundle</th><th data-k="bundleRefused">bundle refused</th>
<th data-k="config">config</th><th data-k="configRefused">config refused</th>
<th data-k="callsToday">calls today</th><th data-k="p99LatencyMs">p99 latency</th><th data-k="messages">messages</th>
</tr></thead><tbody id="rows"></tbody></table></div>
<h2 style="font-size:1rem;margin:1.5rem 0 .25rem">Rollouts</h2><p id="rsummary">none yet</p>
<div class="wrap"><table><thead><tr><th>kind</th><th>revision</th><th>target</th><th>state</th><th>started</th><th>issued</th><th>by</th><th>pending</th><th>active</th><th>refused</th></tr></thead><tbody id="rollouts"></tbody></table></div>
<h2 style="font-size:1rem;margin:1.5rem 0 .25rem">New rollout</h2>
<form id="rform" autocomplete="off">
<label for="token">bearer token</label><div><input type="password" id="token" placeholder="access token or TELEMED_HUB_ADMIN_TOKEN"><div class="hint">kept in this tab only (sessionStorage)</div></div>
<label>target</label><fieldset><label><input type="radio" name="tk" value="all" checked> all nodes</label><label><input type="radio" name="tk" value="group"> group</label><label><input type="radio" name="tk" value="node"> node</label>
<input type="text" id="tv" placeholder="group or node id" style="width:14rem" disabled></fieldset>
<label>kind</label><fieldset><label><input type="radio" name="kind" value="bundle" checked> policy bundle</label><label><input type="radio" name="kind" value="config"> configuration</label></fieldset>
<label for="files" class="k-bundle">bundle</label><div class="k-bundle"><input type="file" id="files" multiple> or a folder <input type="file" id="folder" webkitdirectory multiple><div class="hint">the Rego files with .manifest (and data.json), or one .tar.gz</div></div>
<label for="settings" class="k-config" hidden>settings</label><div class="k-config" hidden><textarea id="settings" spellcheck="false">{"logLevel": "info"}</textarea><div class="hint">settable: ${REMOTE_SETTINGS.join(', ')}. Replaces the hub's previous configuration on those nodes; a key not named takes each node's local value; a node's environment variable pins its key.</div></div>
<label for="rev">revision</label><div><input type="text" id="rev" placeholder="optional (bundle: its .manifest; configuration: made from the time)"></div>
<span></span><div><button type="submit" id="send">Roll out</button></div>
<span></span><div id="rmsg" role="status"></div>
</form>
<script>
let nodes=[],key='id',dir=1;
const cols=['id','city','version','status','lastHeartbeat','backlog','bundle','bundleRefused','config','configRefused','callsToday','p99LatencyMs','messages'];
const nums=new Set(['backlog','callsToday','p99LatencyMs','messages']);
function ago(t){if(!t)return null;const s=Math.max(0,Math.round((Date.now()-Date.parse(t))/1000));
  return s<60?s+' s ago':s<3600?Math.floor(s/60)+' min ago':Math.floor(s/3600)+' h ago';}
function utc(t){const d=new Date(t??NaN);return isNaN(d)?null:d.toISOString().slice(0,19).replace('T',' ')+' UTC';}
const fmt={lastHeartbeat:(v)=>ago(v),p99LatencyMs:(v)=>v==null?null:v+' ms',config:(v)=>v||null};
function render(){
  const s=[...nodes].sort((a,b)=>{const x=a[key]??'',y=b[key]??'';return (x<y?-1:x>y?1:0)*dir;});
  const body=document.getElementById('rows');body.replaceChildren();
  for(const n of s){const tr=document.createElement('tr');
    for(const c of cols){const td=document.createElement('td');const v=fmt[c]?fmt[c](n[c]):n[c];td.textContent=v==null?'–':String(v);if(c==='lastHeartbeat'&&n[c])td.title=n[c];
      if(nums.has(c))td.className='num';if(c==='status')td.className=n.status;tr.append(td);}
    body.append(tr);}
  const on=nodes.filter(n=>n.status==='online').length;
  document.getElementById('summary').textContent=on+' of '+nodes.length+' nodes online · updated '+new Date().toLocaleTimeString();
}
for(const th of document.querySelectorAll('th[data-k]')){th.setAttribute('aria-sort','none');
  th.onclick=()=>{const k=th.dataset.k;dir=k===key?-dir:1;key=k;render();};}
function renderRollouts(list){const body=document.getElementById('rollouts');body.replaceChildren();
  for(const r of list.slice(0,20)){const tr=document.createElement('tr');
    const t=r.target.node?'node '+r.target.node:r.target.group?'group '+r.target.group:'all';
    const c=(s)=>r.nodes.filter(n=>n.status===s).length;
    const issued=utc(r.issuedAt);
    for(const [v,title] of [[r.kind||'bundle'],[r.revision],[t],[r.state+(r.error?': '+r.error:'')],[ago(r.createdAt)],[issued??'–',issued&&r.issuedAt],[r.actor??'–'],[c('pending')],[c('active')],[c('refused')]]){
      const td=document.createElement('td');td.textContent=String(v);if(title)td.title=title;tr.append(td);}
    tr.title=(r.settings?'settings: '+JSON.stringify(r.settings)+'\\n':'')+r.nodes.map(n=>n.node+': '+n.status+(n.reason?' ('+n.reason+')':'')).join('\\n');body.append(tr);}
  document.getElementById('rsummary').textContent=list.length?list.length+' recent (hover a row for its nodes)':'none yet';}
async function load(){try{const r=await fetch('api/nodes');nodes=(await r.json()).nodes;render();
    renderRollouts((await (await fetch('api/rollouts')).json()).rollouts);}
  catch{document.getElementById('summary').textContent='hub unreachable, retrying';}}
load();setInterval(load,5000);
const $=(id)=>document.getElementById(id),form=$('rform'),msg=$('rmsg');
$('token').value=sessionStorage.getItem('hubToken')||'';
$('token').oninput=()=>sessionStorage.setItem('hubToken',$('token').value);
const pick=(n)=>form.querySelector('input[name='+n+']:checked').value;
for(const r of form.querySelectorAll('input[name=tk]'))r.onchange=()=>{$('tv').disabled=pick('tk')==='all';};
for(const r of form.querySelectorAll('input[name=kind]'))r.onchange=()=>{const c=pick('kind')==='config';
  for(const e of form.querySelectorAll('.k-config'))e.hidden=!c;for(const e of form.querySelectorAll('.k-bundle'))e.hidden=c;};
function say(text,ok){msg.textContent=text;msg.className=ok?'ok':'err';}
async function bundleBody(){const list=[...$('files').files,...$('folder').files];
  if(list.length===0)throw new Error('choose the bundle files, a folder or a .tar.gz');
  if(list.length===1&&/\\.(tar\\.gz|tgz)$/.test(list[0].name))return {gzip:list[0]};
  const files=[];for(const f of list){const rel=f.webkitRelativePath?f.webkitRelativePath.split('/').slice(1).join('/'):f.name;files.push({path:rel,text:await f.text()});}
  return {files};}
form.onsubmit=async(ev)=>{ev.preventDefault();
  const token=$('token').value.trim();if(!token)return say('the admin token is required');
  const tk=pick('tk'),tv=$('tv').value.trim();if(tk!=='all'&&!tv)return say('give the '+tk+(tk==='node'?' id':' name'));
  const target=tk==='all'?{all:true}:tk==='group'?{group:tv}:{node:tv};const rev=$('rev').value.trim();
  let url='api/rollouts',init;
  try{if(pick('kind')==='config'){let settings;try{settings=JSON.parse($('settings').value);}catch(e){return say('settings: not valid JSON: '+e.message);}
      init={headers:{'content-type':'application/json'},body:JSON.stringify({kind:'config',target,...(rev?{revision:rev}:{}),settings})};}
    else{const b=await bundleBody();
      if(b.gzip){url+='?'+new URLSearchParams({...(tk==='all'?{all:'true'}:{[tk]:tv}),...(rev?{revision:rev}:{})});init={headers:{'content-type':'application/gzip'},body:b.gzip};}
      else init={headers:{'content-type':'application/json'},body:JSON.stringify({target,...(rev?{revision:rev}:{}),files:b.files})};}
  }catch(e){return say(e.message);}
  $('send').disabled=true;say('sending…',true);
  try{const res=await fetch(url,{method:'POST',...init,headers:{...init.headers,authorization:'Bearer '+token}});
    const out=await res.json().catch(()=>({}));
    if(res.status===202){say((out.kind||'bundle')+' '+out.revision+' rolled out: '+out.nodes.length+' node(s) pending',true);load();}
    else say((out.message||('HTTP '+res.status))+(out.error?' ['+out.error+']':''));}
  catch(e){say('the hub is unreachable: '+e.message);}
  finally{$('send').disabled=false;}};
</script></body></html>
`;
