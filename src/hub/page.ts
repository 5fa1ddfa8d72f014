/** The fleet page: one self-contained HTML document reading `GET /api/nodes` and `GET /api/rollouts` every 5 s; click a header to sort. */
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
</style></head><body>
<h1>Fleet</h1><p id="summary">loading…</p>
<div class="wrap"><table><thead><tr>
<th data-k="id">node</th><th data-k="city">city</th><th data-k="version">version</th><th data-k="status">status</th>
<th data-k="lastHeartbeat">last heartbeat</th><th data-k="backlog">outbox backlog</th><th data-k="bundle">policy bundle</th><th data-k="bundleRefused">bundle refused</th>
<th data-k="callsToday">calls today</th><th data-k="p99LatencyMs">p99 latency</th><th data-k="messages">messages</th>
</tr></thead><tbody id="rows"></tbody></table></div>
<h2 style="font-size:1rem;margin:1.5rem 0 .25rem">Rollouts</h2><p id="rsummary">none yet</p>
<div class="wrap"><table><thead><tr><th>revision</th><th>target</th><th>state</th><th>started</th><th>by</th><th>pending</th><th>active</th><th>refused</th></tr></thead><tbody id="rollouts"></tbody></table></div>
<script>
let nodes=[],key='id',dir=1;
const cols=['id','city','version','status','lastHeartbeat','backlog','bundle','bundleRefused','callsToday','p99LatencyMs','messages'];
const nums=new Set(['backlog','callsToday','p99LatencyMs','messages']);
function ago(t){if(!t)return null;const s=Math.max(0,Math.round((Date.now()-Date.parse(t))/1000));
  return s<60?s+' s ago':s<3600?Math.floor(s/60)+' min ago':Math.floor(s/3600)+' h ago';}
const fmt={lastHeartbeat:(v)=>ago(v),p99LatencyMs:(v)=>v==null?null:v+' ms'};
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
    for(const v of [r.revision,t,r.state+(r.error?': '+r.error:''),ago(r.createdAt),r.actor??'–',c('pending'),c('active'),c('refused')]){const td=document.createElement('td');td.textContent=String(v);tr.append(td);}
    tr.title=r.nodes.map(n=>n.node+': '+n.status+(n.reason?' ('+n.reason+')':'')).join('\\n');body.append(tr);}
  document.getElementById('rsummary').textContent=list.length?list.length+' recent (hover a row for its nodes)':'none yet';}
async function load(){try{const r=await fetch('api/nodes');nodes=(await r.json()).nodes;render();
    renderRollouts((await (await fetch('api/rollouts')).json()).rollouts);}
  catch{document.getElementById('summary').textContent='hub unreachable, retrying';}}
load();setInterval(load,5000);
</script></body></html>
`;
