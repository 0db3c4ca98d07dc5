"""The report's stylesheet, inlined in the page's <style> (the page loads nothing)."""

CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--blue:#2563eb;--bg:#f8fafc}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px}
header h1{margin:0;font-size:28px}
.sub{margin:2px 0 16px;color:var(--muted)}
h2{font-size:20px;margin:0 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:16px;margin:18px 0 8px}
section,.summary{background:#fff;border:1px solid var(--line);border-radius:10px;
padding:18px 22px;margin:0 0 18px}
.summary{border-left:5px solid var(--blue)}
.summary p{margin:6px 0}
.headline{font-size:20px}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;margin:0 0 18px;font-size:14px}
nav a{color:var(--blue);text-decoration:none}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{padding:5px 10px;text-align:left;border-bottom:1px solid var(--line);vertical-align:middle}
thead th{color:var(--muted);font-weight:600;font-size:13px}
tbody tr:nth-child(even){background:#fafafa}
.ci{color:var(--muted);font-size:90%;white-space:nowrap}
.note,figcaption{color:var(--muted);font-size:13px;margin:6px 0}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;
border-radius:4px;word-break:break-all}
.ibar{position:relative;display:inline-block;width:180px;height:12px;background:#eef2ff;
border-radius:6px;vertical-align:middle}
.ibar .band{position:absolute;top:2px;height:8px;background:#93c5fd;border-radius:4px}
.ibar .dot{position:absolute;top:0;width:12px;height:12px;margin-left:-6px;border-radius:6px;
background:var(--blue)}
.headline .ibar{width:240px}
.hbar{display:inline-block;height:12px;background:#93c5fd;border-radius:3px;min-width:2px}
.classes{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.klass{border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.khead{display:flex;justify-content:space-between;margin-bottom:2px}
.khead span{color:var(--muted)}
.klass .hbar{display:block;margin-bottom:6px}
.samples{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.samples q{display:block;max-width:360px;font-size:13px;color:#374151}
img.thumb{width:64px;height:64px;object-fit:contain;background:#f3f4f6;border-radius:4px;
border:1px solid var(--line)}
.badge{display:inline-block;padding:0 8px;border-radius:9px;font-size:12px;font-weight:600}
.badge.good{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
.badge.warn{background:#fef3c7;color:#92400e}
.scroll{overflow-x:auto}
table.confusion td.cell{text-align:center;min-width:34px}
table.confusion td.dark{color:#fff}
table.confusion th.row{white-space:nowrap}
table.confusion th.vertical{height:110px;vertical-align:bottom;padding:4px 2px}
table.confusion th.vertical span{writing-mode:vertical-rl;transform:rotate(180deg);
white-space:nowrap}
.corner{font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px;font-size:13px}
.card q{display:block;margin-bottom:6px;color:#374151}
.card .lbl{color:var(--muted);display:inline-block;width:68px}
.card .wrong{color:#b91c1c}
table.row{margin:0 0 6px;font-size:12px}
table.row th,table.row td{padding:1px 6px;border-bottom:1px solid var(--line)}
table.row th{color:var(--muted);font-weight:500}
.card .name{color:var(--muted);font-size:12px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
figure{margin:6px 0}
figure img{max-width:100%}
.two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px}
@media (max-width:800px){.two{grid-template-columns:1fr}}
footer{color:var(--muted);font-size:12px;text-align:center}
"""
